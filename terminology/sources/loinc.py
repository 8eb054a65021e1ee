"""LOINC loader: the LOINC table (``Loinc.csv``) of a release the user downloaded.

LOINC is free to use under the LOINC licence, which requires each user to accept it: the table
is not redistributed, the user points the build at ``Loinc_2.80/`` (its ``LoincTable/Loinc.csv``)
or at ``Loinc.csv`` itself.  Columns are read by header name with :class:`csv.DictReader`, so
column order and additions between releases do not matter.

What is kept, and why:

* STATUS ACTIVE (specificity 2), TRIAL (1) and DISCOURAGED (0: still seen in legacy data, ranked
  below active codes); DEPRECATED codes are skipped (replaced, not to be coded anew).
* CLASSTYPE 1 (laboratory) and 2 (clinical: vital signs, EKG, imaging measurements), except the
  document ontology classes ``DOC.*`` (note and report *types*, not tests).  CLASSTYPE 3 (claims
  attachments) and 4 (surveys: questionnaire items whose long names are whole questions) are
  skipped.  Every kept code is a test; ``semantic_type`` = its CLASS (``CHEM``, ``HEM/BC`` ...).
* Preferred name LONG_COMMON_NAME ("Glucose [Mass/volume] in Serum or Plasma"), also the code's
  display.  Terms: SHORTNAME (``short``), DisplayName (``display``), CONSUMER_NAME
  (``consumer``), COMPONENT (``component``: "Glucose" is how notes name the test; skipped when
  it carries a ``^`` challenge/timing suffix) and RELATEDNAMES2 entries (``related``).
* RELATEDNAMES2 mixes real synonyms ("HbA1c", "Glycohemoglobin") with the axis words every code
  of that kind carries ("Serum", "Plasma", "Point in time", "Quantitative", "Level").  An entry
  is kept when it has at least 3 characters and a letter, is not a bare unit ("mg/dL"), and
  occurs in at most ``related_name_max_codes`` kept codes: the axis words occur in thousands.
  Units ("mg/dL", "mm[Hg]") are dropped by their shape.

The version is the release folder's (``Loinc_2.80`` → ``2.80``), else the newest
VersionLastChanged in the table, else ``unknown``.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import LOINC
from terminology.writer import ArtifactWriter

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "loinc"
LICENSE: Final = (
    "LOINC: used under the LOINC licence (https://loinc.org/license/) accepted by the user who "
    "downloaded the release; the table is not redistributed with note2fhir."
)

STATUS_SPECIFICITY: Final[dict[str, int]] = {"ACTIVE": 2, "TRIAL": 1, "DISCOURAGED": 0}
KEPT_CLASSTYPES: Final = frozenset({"1", "2"})
SKIPPED_CLASS_PREFIXES: Final = ("DOC.",)
RELATED_NAME_MAX_CODES: Final = 200
"""Default limit: a RELATEDNAMES2 entry shared by more kept codes is an axis word, not a name."""

REQUIRED_COLUMNS: Final = (
    "LOINC_NUM", "COMPONENT", "LONG_COMMON_NAME", "STATUS", "CLASS", "CLASSTYPE",
)  # fmt: skip
SYNONYM_COLUMNS: Final = (
    ("SHORTNAME", "short"),
    ("DisplayName", "display"),
    ("CONSUMER_NAME", "consumer"),
)

_FOLDER_VERSION = re.compile(r"Loinc_(\d+\.\d+)", re.IGNORECASE)
_UNIT = re.compile(r"[A-Za-z0-9µ%.*^]{0,6}/[A-Za-z0-9µ%.*^]{0,6}")
_UNIT_ANNOTATION = re.compile(r"[\[\]{}]")  # UCUM brackets and annotations: "mm[Hg]", "{cells}"
_HAS_LETTER = re.compile(r"[^\W\d_]")


def find_loinc_table(path: Path) -> Path:
    """``Loinc.csv`` itself, or inside a release folder (``LoincTable/Loinc.csv``), or inside the
    one ``Loinc_*`` release folder in ``path``."""
    if path.is_file():
        return path
    candidates = [
        path / "LoincTable" / "Loinc.csv",
        path / "Loinc.csv",
        *sorted(path.glob("Loinc_*/LoincTable/Loinc.csv"))[:1],
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"LOINC: no Loinc.csv at {path} (nor LoincTable/Loinc.csv inside it)")


def _rows(table: Path) -> Iterator[dict[str, str]]:
    with table.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"LOINC: {table.name} has no column {', '.join(missing)}")
        for row in reader:
            yield {k: (v or "").strip() for k, v in row.items() if k is not None}


def _kept(row: dict[str, str]) -> bool:
    return (
        row["STATUS"] in STATUS_SPECIFICITY
        and row["CLASSTYPE"] in KEPT_CLASSTYPES
        and not row["CLASS"].startswith(SKIPPED_CLASS_PREFIXES)
        and bool(row["LOINC_NUM"])
    )


def related_names(field: str) -> list[str]:
    """The plausible names in a RELATEDNAMES2 value (before the frequency filter).

    >>> related_names("A1c; Hb; HbA1c; %; mg/dL; mm[Hg]; 24; Glycohemoglobin")
    ['A1c', 'HbA1c', 'Glycohemoglobin']
    """
    names = []
    for entry in field.split(";"):
        name = entry.strip()
        if (
            len(name) >= 3
            and _HAS_LETTER.search(name)
            and not _UNIT.fullmatch(name)
            and not _UNIT_ANNOTATION.search(name)
        ):
            names.append(name)
    return names


def _version_number(text: str) -> tuple[int, ...]:
    parts = text.split(".")
    return tuple(int(p) for p in parts) if all(p.isascii() and p.isdigit() for p in parts) else ()


def folder_version(table: Path) -> str | None:
    """The release version in a folder name above the table (``Loinc_2.80`` → ``2.80``)."""
    for part in table.resolve().parents:
        match = _FOLDER_VERSION.search(part.name)
        if match:
            return match.group(1)
    return None


def _scan(table: Path) -> tuple[Counter[str], str | None]:
    """First pass: how many kept codes carry each related name; the newest VersionLastChanged."""
    counts: Counter[str] = Counter()
    newest: tuple[tuple[int, ...], str] = ((), "")
    for row in _rows(table):
        changed = row.get("VersionLastChanged", "")
        newest = max(newest, (_version_number(changed), changed))
        if _kept(row):
            counts.update({normalize(n) for n in related_names(row.get("RELATEDNAMES2", ""))})
    return counts, newest[1] if newest[0] else None


def load_loinc(
    writer: ArtifactWriter, path: Path, *, related_name_max_codes: int = RELATED_NAME_MAX_CODES
) -> None:
    """Load the LOINC table into the artifact as source ``loinc`` (see the module docstring).

    ``path`` is ``Loinc.csv`` or the release folder.  Example: 2345-7 becomes ``loinc:2345-7``
    "Glucose [Mass/volume] in Serum or Plasma" (test, class CHEM) with terms "Glucose
    SerPl-mCnc" and "Glucose".  A missing table raises :class:`FileNotFoundError`.
    """
    table = find_loinc_table(path)
    counts, newest = _scan(table)
    version = folder_version(table) or newest or "unknown"
    with writer.source(
        SOURCE_NAME,
        version=version,
        license=LICENSE,
        description=(
            f"LOINC {version} table: active, trial and discouraged laboratory and clinical codes"
        ),
    ) as src:
        for row in _rows(table):
            if not _kept(row):
                continue
            number = row["LOINC_NUM"]
            preferred = (
                row["LONG_COMMON_NAME"] or row.get("DisplayName", "") or row["COMPONENT"] or number
            )
            cid = src.concept(
                f"loinc:{number}",
                preferred,
                EntityType.TEST,
                semantic_type=row["CLASS"] or None,
                specificity=STATUS_SPECIFICITY[row["STATUS"]],
            )
            src.code(cid, LOINC, number, preferred)
            terms = [(row.get(column, ""), term_type) for column, term_type in SYNONYM_COLUMNS]
            if "^" not in row["COMPONENT"]:
                terms.append((row["COMPONENT"], "component"))
            terms.extend(
                (name, "related")
                for name in related_names(row.get("RELATEDNAMES2", ""))
                if counts[normalize(name)] <= related_name_max_codes
            )
            seen = {normalize(preferred)}
            for term, term_type in terms:
                norm = normalize(term)
                if norm and norm not in seen:
                    seen.add(norm)
                    src.term(cid, term, term_type)
