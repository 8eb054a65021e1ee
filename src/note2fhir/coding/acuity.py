"""Acuity: an exacerbation of a chronic condition is its acute-on-chronic form ("chronic
systolic CHF exacerbation" is I50.23 Acute on chronic systolic (congestive) heart failure, not
I50.22 Chronic systolic (congestive) heart failure; "decompensated chronic diastolic heart
failure" is I50.33).

The acute-on-chronic code is found in the store, never written here: the sibling of the
selected code (same code but its last character) whose title is "Acute on chronic" and the
rest of the chronic title.  Only a present condition changes: "history of CHF exacerbations"
and "no signs of CHF exacerbation" keep the chronic code.
"""

from __future__ import annotations

import re
from dataclasses import replace

from note2fhir.coding.candidates import clause_around, current, first_of_each, icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

_CHRONIC = "chronic "
_ACUTE_ON_CHRONIC = "acute on chronic "
_FLARE = re.compile(
    r"\b(?:exacerbations?|exacerbated|decompensat(?:ed|ion)|acute(?:ly)? on|acute "
    r"exacerbation)\b",
    re.IGNORECASE,
)
"""Words that make a chronic condition acute on chronic, in the mention's phrase."""
_CLAUSE = re.compile(r"\n|[.;,](?:\s|$)")
_REACH = 30
"""Characters read on either side of the mention."""


class AcuteOnChronic:
    """Acute-on-chronic siblings of chronic ICD-10-CM codes, looked up in the store once
    each."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store
        self._siblings: dict[str, tuple[str, str] | None] = {}

    def sibling(self, code: str) -> tuple[str, str] | None:
        """``(code, title)`` of the acute-on-chronic sibling of a chronic code, if any."""
        if code in self._siblings:
            return self._siblings[code]
        found = None
        title = self.store.title(ICD10CM, code) or ""
        if title.lower().startswith(_CHRONIC):
            wanted = _ACUTE_ON_CHRONIC + title[len(_CHRONIC) :].lower()
            found = next(
                (s for s in self.store.siblings(ICD10CM, code) if s[1].lower() == wanted), None
            )
        self._siblings[code] = found
        return found

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected chronic code replaced by its acute-on-chronic
        sibling when the mention's phrase says the condition flared (the chronic code stays,
        unselected)."""
        if (
            not current(entity)
            or entity.assertion.historical  # "history of CHF exacerbations": flares past
            or not _flared(doc.text, entity.start, entity.end)
        ):
            return entity.codes
        out: list[CodeCandidate] = []
        changed = False
        for cand in entity.codes:
            target = (
                self.sibling(cand.code)
                if cand.system == ICD10CM and cand.selected and not changed
                else None
            )
            if target is None:
                out.append(cand)
                continue
            code, display = target
            reason = f"the note says the chronic condition flared [icd10cm:{code}]"
            out.append(icd_in_place_of(cand, code, display, reason))
            out.append(replace(cand, selected=False))
            changed = True
        return first_of_each(out) if changed else entity.codes


def _flared(text: str, start: int, end: int) -> bool:
    """Whether the mention or its clause right around it says the condition flared."""
    before, after = clause_around(text, start, end, _REACH, _CLAUSE)
    return _FLARE.search(f"{before} {text[start:end]} {after}") is not None
