"""The curated layer: clinical abbreviations and lay terms that ICD-10-CM's titles lack.

``terminology/curated/synonyms.yaml`` maps "HTN", "heart attack", "CHF", "DM2" ... to
ICD-10-CM codes.  The terms are attached to the existing ``icd10cm:<code>`` concepts but are
written as their own source, ``curated``, so a candidate's provenance shows that a person, not
the CDC, supplied the synonym.  Loading refuses a code the artifact does not hold or a display
that differs from the code's title: the layer can never invent a code.

Term types: ``abbreviation`` and ``curated`` (a synonym), with the suffix
:data:`~note2fhir.terminology.schema.AMBIGUOUS_SUFFIX` when the text commonly means something
else too ("PE": pulmonary embolism or physical exam), so extractors can demand context.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import AMBIGUOUS_SUFFIX
from terminology.writer import ArtifactWriter

SOURCE = "curated"
DATA_FILE = "synonyms.yaml"
SCHEMA_VERSION = 1
LICENSE = "Apache-2.0 (written by the note2fhir developers); the codes are ICD-10-CM's."
DESCRIPTION = (
    "Curated clinical abbreviations and lay synonyms ('HTN', 'heart attack', 'DM2') mapped to "
    "ICD-10-CM codes, each checked against the loaded ICD-10-CM release."
)

_TERM_TYPES = {"abbreviation": "abbreviation", "synonym": "curated"}


class CuratedTerm(BaseModel):
    """One name clinicians write for the entry's code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    kind: Literal["abbreviation", "synonym"]
    ambiguous: bool = False
    note: str | None = None

    @property
    def term_type(self) -> str:
        """The term type stored in the artifact (``abbreviation-ambiguous`` for "PE")."""
        base = _TERM_TYPES[self.kind]
        return base + AMBIGUOUS_SUFFIX if self.ambiguous else base


class CuratedEntry(BaseModel):
    """An ICD-10-CM code, its exact title, and the curated names that map to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
    display: str
    terms: list[CuratedTerm] = Field(min_length=1)


class CuratedFile(BaseModel):
    """The whole data file (``version`` is its schema version)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    system: Literal["icd10cm"]
    entries: list[CuratedEntry] = Field(min_length=1)


def _invalid(reason: str) -> Note2FhirError:
    return Note2FhirError(ErrorCode.TERMINOLOGY_SOURCE_INVALID, source=SOURCE, reason=reason)


def read_curated_text() -> str:
    """The packaged data file's text."""
    return files("terminology").joinpath("curated", DATA_FILE).read_text(encoding="utf-8")


def load_curated_file(text: str | None = None) -> CuratedFile:
    """Parse and validate the curated data (the packaged file unless ``text`` is given).

    Besides the schema, a term names one code: the meaning notes give it most often ("CP" is
    chest pain; cerebral palsy goes in its ``note``, and the extractor's ambiguity rules drop
    it where context speaks for another meaning).  Two curated meanings would leave the choice
    between them to the ranking's tie-break.
    """
    raw = text if text is not None else read_curated_text()
    try:
        data = CuratedFile.model_validate(yaml.safe_load(raw))
    except yaml.YAMLError:
        raise _invalid(f"{DATA_FILE} is not valid YAML") from None
    except ValidationError as exc:
        raise _invalid(f"{DATA_FILE}: {validation_fields(exc)}") from None
    codes = [entry.code for entry in data.entries]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise _invalid(f"code {repeated[0]} has two entries; merge them")
    codes_by_term: dict[str, list[str]] = defaultdict(list)
    for entry in data.entries:
        for term in entry.terms:
            norm = normalize(term.text)
            if entry.code in codes_by_term[norm]:
                raise _invalid(f"'{norm}' is listed twice for {entry.code}")
            codes_by_term[norm].append(entry.code)
    for norm, codes_of_term in codes_by_term.items():
        if len(codes_of_term) > 1:
            raise _invalid(f"'{norm}' names several codes; keep its usual meaning only")
    return data


def load_curated(writer: ArtifactWriter) -> None:
    """Attach the curated terms to the ICD-10-CM concepts already in ``writer``.

    ICD-10-CM must be loaded first; an entry whose code is missing, or whose display is not
    the code's title, stops the build.
    """
    raw = read_curated_text()
    data = load_curated_file(raw)
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
    with writer.source(
        SOURCE,
        version=f"{data.version} (sha256 {digest}, {len(data.entries)} codes)",
        license=LICENSE,
        description=DESCRIPTION,
    ) as src:
        for entry in data.entries:
            row = src.db.execute(
                "SELECT cid, preferred FROM concepts WHERE concept_id = ?",
                (f"icd10cm:{entry.code}",),
            ).fetchone()
            if row is None:
                raise _invalid(f"code {entry.code} is not in the loaded ICD-10-CM")
            cid, preferred = int(row[0]), str(row[1])
            if preferred != entry.display:
                raise _invalid(f"display of {entry.code} differs from its ICD-10-CM title")
            for term in entry.terms:
                src.term(cid, term.text, term.term_type)
