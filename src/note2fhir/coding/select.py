"""Choosing which of an entity's ranked code candidates go on the FHIR resource.

Candidates are taken concept by concept in rank order.  A concept is selected when its score
reaches the threshold and is within a margin of the best one, and, for ICD-10-CM, its code is
billable (a leaf: E11.21 yes, E11 no — a category stays an alternative).  A selected concept
brings its other codes with it (an HPO term's UMLS CUI and SNOMED CT id), but each code system
gets one selected code only: the best-ranked concept's.  An alternative that scored above the
selected code of its system (a non-billable category) is ranked, and scored, no higher than it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from note2fhir.coding.candidates import concept_of
from note2fhir.document import CodeCandidate
from note2fhir.terminology.schema import (
    HPO,
    ICD10CM,
    ICD10PCS,
    LOINC,
    RXNORM,
    SNOMED_CT,
    UMLS,
)

_OWN_SYSTEM = {
    "icd10cm": ICD10CM,
    "icd10pcs": ICD10PCS,
    "hpo": HPO,
    "umls": UMLS,
    "snomed": SNOMED_CT,
    "rxnorm": RXNORM,
    "loinc": LOINC,
    "drug": "https://go.drugbank.com/drugs",
}
"""The system of a concept's own code, by the prefix of its concept id (``hpo:HP:…``)."""


@dataclass(frozen=True, slots=True)
class SelectionRules:
    """Thresholds of :func:`select_codes`."""

    min_score: float = 0.85
    margin: float = 0.06
    billable_only: bool = True
    cross_codes: bool = True


def select_codes(
    codes: list[CodeCandidate], rules: SelectionRules, billable: Callable[[str], bool]
) -> list[CodeCandidate]:
    """The candidates with ``selected`` set, selected ones first, each group in rank order.

    >>> # [E11.21 0.91, E11.9 0.90, HPO T2DM 0.90 (+SNOMED, UMLS)] -> E11.21, HPO, SNOMED,
    >>> # UMLS selected; E11.9 stays an alternative (ICD-10-CM is taken)
    """
    groups: dict[str, list[CodeCandidate]] = {}
    order: list[str] = []
    for index, cand in enumerate(codes):
        concept = concept_of(cand) or f"#{index}"
        if concept not in groups:
            groups[concept] = []
            order.append(concept)
        groups[concept].append(cand)
    ranked = sorted(order, key=lambda c: -max(x.score for x in groups[c]))
    best = max((x.score for x in codes), default=0.0)
    taken: set[str] = set()
    chosen: set[int] = set()
    for concept in ranked:
        members = groups[concept]
        score = max(x.score for x in members)
        if score < rules.min_score or score < best - rules.margin:
            continue
        if rules.billable_only and any(
            x.system == ICD10CM and not billable(x.code) for x in members
        ):
            continue
        fresh = [x for x in members if x.system not in taken]
        if not fresh:
            continue
        own = _OWN_SYSTEM.get(concept.split(":", 1)[0])
        primary = fresh if rules.cross_codes else [x for x in fresh if x.system == own][:1]
        for x in primary:
            if x.system in taken:
                continue
            taken.add(x.system)
            chosen.add(id(x))
    selected = [replace(x, selected=True) for x in codes if id(x) in chosen]
    # The ranking must agree with the choice: an alternative of a system that has a selected
    # code (the category E11 beside the billable E11.9) never ranks above it.
    ceiling = {x.system: x.score for x in selected}
    others = sorted(
        (_below(_unselected(x), ceiling) for x in codes if id(x) not in chosen),
        key=lambda x: -x.score,
    )
    return [*selected, *others]


def _unselected(cand: CodeCandidate) -> CodeCandidate:
    """``cand`` as an alternative (itself when it is one already: candidates are frozen)."""
    return replace(cand, selected=False) if cand.selected else cand


def _below(cand: CodeCandidate, ceiling: dict[str, float]) -> CodeCandidate:
    """``cand`` with its score capped at the selected code of its system, saying why."""
    top = ceiling.get(cand.system)
    if top is None or cand.score <= top:
        return cand
    why = "ranked below the selected code of its system"
    reason = f"{cand.reason}; {why}" if cand.reason else why
    return replace(cand, score=top, reason=reason)
