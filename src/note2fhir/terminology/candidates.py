"""What a terminology lookup returns: ranked candidates that explain themselves.

A :class:`Candidate` names a concept, its codes in every system the artifact links, the synonym
that matched, how it matched and a score with a human-readable reason, so a coder or auditor
can see why "HTN" became I10 ("exact: abbreviation 'HTN'").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

from note2fhir.document import EntityType
from note2fhir.terminology.schema import (
    AMBIGUOUS_SUFFIX,
    HPO,
    ICD10CM,
    ICD10PCS,
    LOINC,
    RXNORM,
    SNOMED_CT,
    UMLS,
)

SYSTEM_ALIASES: dict[str, str] = {
    "icd10cm": ICD10CM,
    "icd-10-cm": ICD10CM,
    "icd10pcs": ICD10PCS,
    "icd-10-pcs": ICD10PCS,
    "snomed": SNOMED_CT,
    "snomedct": SNOMED_CT,
    "sct": SNOMED_CT,
    "rxnorm": RXNORM,
    "loinc": LOINC,
    "umls": UMLS,
    "hpo": HPO,
}
"""Short names accepted wherever a code system is asked for (the CLI's ``--system``)."""

SHORT_NAMES: dict[str, str] = {
    ICD10CM: "icd10cm",
    ICD10PCS: "icd10pcs",
    SNOMED_CT: "snomed",
    RXNORM: "rxnorm",
    LOINC: "loinc",
    UMLS: "umls",
    HPO: "hpo",
}

How = Literal["exact", "words", "approximate", "code"]


def resolve_system(system: str) -> str:
    """The canonical FHIR URI of a system given by short name or URI.

    >>> resolve_system("ICD10CM")
    'http://hl7.org/fhir/sid/icd-10-cm'
    >>> resolve_system("http://loinc.org")
    'http://loinc.org'
    """
    value = system.strip()
    if ":" in value:
        return value
    try:
        return SYSTEM_ALIASES[value.lower()]
    except KeyError:
        known = ", ".join(sorted(SYSTEM_ALIASES))
        raise ValueError(f"unknown code system '{value}'; use a URI or one of: {known}") from None


def short_name(system: str) -> str:
    """``icd10cm`` for the ICD-10-CM URI; other URIs are returned unchanged."""
    return SHORT_NAMES.get(system, system)


class Coding(NamedTuple):
    """A code in a canonical FHIR system, with its display."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One concept a text may name, with the evidence for it.

    ``how`` is ``exact`` (normalised text equals a term), ``words`` (same words in another
    order), ``approximate`` (character-trigram cosine) or ``code`` (the text was a code).
    ``term``/``term_type``/``term_source`` say which name matched; ``ambiguous`` is true when
    that name commonly means something else too ("PE"), so an extractor should want context.
    """

    concept_id: str
    preferred: str
    entity_type: EntityType | None
    codes: tuple[Coding, ...]
    term: str
    term_type: str
    term_source: str
    how: How
    score: float
    reason: str
    specificity: int = 0
    semantic_type: str | None = None
    source: str = ""

    @property
    def ambiguous(self) -> bool:
        """Whether the matched name is marked ambiguous by its source."""
        return self.term_type.endswith(AMBIGUOUS_SUFFIX)

    def code_in(self, system: str) -> Coding | None:
        """The first code in ``system`` (URI or short name), if the concept has one."""
        uri = resolve_system(system)
        return next((c for c in self.codes if c.system == uri), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (codes as objects, the entity type as its value)."""
        data = asdict(self)
        data["entity_type"] = self.entity_type.value if self.entity_type else None
        data["codes"] = [c._asdict() for c in self.codes]
        data["ambiguous"] = self.ambiguous
        data["score"] = round(self.score, 4)
        return data


@dataclass(frozen=True, slots=True)
class Concept:
    """A concept with everything the artifact knows about it."""

    concept_id: str
    preferred: str
    entity_type: EntityType | None
    semantic_type: str | None
    specificity: int
    source: str
    codes: tuple[Coding, ...]
    terms: tuple[tuple[str, str, str], ...] = field(default=())
    """(term, term type, source) of every name of the concept."""


@dataclass(frozen=True, slots=True)
class CrosswalkEntry:
    """A code another code maps to: a crosswalk row, or a code of the same concept."""

    from_system: str
    from_code: str
    to_system: str
    to_code: str
    display: str | None
    relation: str
    """``equivalent``, ``maps-to``, ``has-ingredient`` ... from the source, or
    ``same-concept`` when both codes belong to one concept (a CUI's ICD-10-CM code)."""
    source: str
    rule: str | None = None
    concept_id: str | None = None
