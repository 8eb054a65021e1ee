"""Turning terminology candidates into an entity's ranked :class:`CodeCandidate` list.

One store candidate names one concept with codes in several systems (an HPO term with its
UMLS CUI and SNOMED CT id); each code becomes one CodeCandidate with the candidate's score.
The reason names the concept (``... [hpo:HP:0000822]``) so that coders and the ``coding``
stage can tell which codes came together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from note2fhir.document import CodeCandidate, Entity, EntityType
from note2fhir.terminology.candidates import Candidate
from note2fhir.terminology.schema import ICD10CM

_CONCEPT = re.compile(r"\[([^\[\]]{1,200})\]\Z")


def code_candidates(candidates: Iterable[Candidate], *, note: str = "") -> list[CodeCandidate]:
    """One unselected CodeCandidate per code of every candidate, in the candidates' order."""
    out: list[CodeCandidate] = []
    seen: set[tuple[str, str]] = set()
    for cand in candidates:
        reason = f"{cand.reason}{note} [{cand.concept_id}]"
        for coding in cand.codes:
            key = (coding.system, coding.code)
            if key in seen:
                continue
            seen.add(key)
            out.append(
                CodeCandidate(
                    system=coding.system,
                    code=coding.code,
                    display=coding.display,
                    score=round(cand.score, 4),
                    reason=reason,
                    selected=False,
                )
            )
    return out


def concept_of(candidate: CodeCandidate) -> str | None:
    """The concept id a CodeCandidate's reason names (``icd10cm:I10``), if any."""
    match = _CONCEPT.search(candidate.reason)
    return match.group(1) if match else None


def rescored(candidates: Iterable[CodeCandidate], cap: float, note: str) -> list[CodeCandidate]:
    """The candidates with scores capped at ``cap`` and ``note`` added to their reasons
    (alternatives kept below a better, longer match)."""
    out = []
    for cand in candidates:
        concept = concept_of(cand)
        base = cand.reason[: -(len(concept) + 3)] if concept else cand.reason
        reason = f"{base}{note}" + (f" [{concept}]" if concept else "")
        out.append(replace(cand, score=min(cand.score, cap), reason=reason))
    return out


def icd_in_place_of(
    old: CodeCandidate, code: str, display: str, reason: str, *, selected: bool = True
) -> CodeCandidate:
    """An ICD-10-CM code a coding rule puts in place of ``old`` (a site's, a history's, a
    side's or a combination's code), with ``old``'s score."""
    return CodeCandidate(
        system=ICD10CM,
        code=code,
        display=display,
        score=old.score,
        reason=reason,
        selected=selected,
    )


def first_of_each(candidates: Iterable[CodeCandidate]) -> list[CodeCandidate]:
    """The candidates in order, each (system, code) once: the first one kept (a rule's new
    code may also have been an alternative already)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for cand in candidates:
        key = (cand.system, cand.code)
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out


def deselected(codes: list[CodeCandidate], old: CodeCandidate, why: str) -> list[CodeCandidate]:
    """``codes`` with ``old`` kept as an unselected candidate whose reason adds ``why``
    before its concept tag (the reason still ends with it); ``codes`` as they are when
    ``old`` is no longer among them."""
    if old not in codes:
        return codes
    concept = concept_of(old)
    base = old.reason[: -(len(concept) + 3)] if concept else old.reason
    reason = (f"{base}; {why}" if base else why) + (f" [{concept}]" if concept else "")
    kept = replace(old, selected=False, reason=reason)
    return (
        [c for c in codes if c.selected and c is not old]
        + [kept]
        + [c for c in codes if not c.selected and c is not old]
    )


def clause_around(
    text: str, start: int, end: int, reach: int, cut: re.Pattern[str]
) -> tuple[str, str]:
    """The text of the mention ``[start, end)``'s clause on either side of it: at most
    ``reach`` characters each way, up to the nearest match of ``cut`` (a line break, a full
    stop ...)."""
    before = text[max(0, start - reach) : start]
    cuts = list(cut.finditer(before))
    if cuts:
        before = before[cuts[-1].end() :]
    after = text[end : end + reach]
    stop = cut.search(after)
    if stop is not None:
        after = after[: stop.start()]
    return before, after


ENDED = frozenset({"historical.resolved", "historical.resolution", "historical.stopped"})
"""Cues that say a condition is over ("hypertension (resolved)")."""


def current(entity: Entity) -> bool:
    """Whether a problem mention is the patient's, affirmed and not over: only such mentions'
    codes go on a Condition the classification's rules apply to."""
    a = entity.assertion
    if entity.type is not EntityType.PROBLEM or a.negated or a.uncertain:
        return False
    return not (a.hypothetical or a.family or any(c.rule in ENDED for c in a.cues))


def selected_icd(entity: Entity) -> CodeCandidate | None:
    """The entity's selected ICD-10-CM code, if any."""
    return next((c for c in entity.codes if c.system == ICD10CM and c.selected), None)
