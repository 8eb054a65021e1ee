"""Laterality: a side the note names right before a mention picks the sided code of the
unspecified-side code selected ("left knee pain" is M25.562 Pain in left knee, not M25.569 Pain
in unspecified knee; "R shoulder pain" is M25.511).

The sided code is found in the terminology store, never written here: a sibling of the selected
code (same code but its last character) whose title is the selected title with its
"unspecified" word replaced by the side ("Pain in unspecified knee" → "Pain in left knee";
"Pain in leg, unspecified" → "Pain in left leg").  Titles that differ in more than that word
keep the unspecified code: "Hemiplegia, unspecified affecting unspecified side" has no
"right side" sibling, only dominant and nondominant ones, which the words do not choose.
"""

from __future__ import annotations

import re
from dataclasses import replace

from note2fhir.coding.candidates import icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

SIDES = {
    "left": "left",
    "l": "left",
    "lt": "left",
    "right": "right",
    "r": "right",
    "rt": "right",
    "bilateral": "bilateral",
    "bilat": "bilateral",
}
"""Words for a side, lower-cased, and the word an ICD-10-CM title uses for it."""
_SIDE_BEFORE = re.compile(
    r"\b(left|l|lt|right|r|rt|bilateral|bilat)\.?(?:[ \t]*-?[ \t]*sided)?[ \t]{1,2}$", re.I
)
"""A side word right before the mention ("left knee pain", "R shoulder pain", "Rt. knee
pain", "left-sided knee pain")."""
_SIDE_INSIDE = re.compile(r"\b(left|l|lt|right|r|rt|bilateral|bilat)\b", re.I)
"""A side word inside a "pain in the left knee" mention."""
_LITRES = re.compile(r"\d[ \t]?$")
"""A number right before an "L": litres ("NS BOLUS 1 L HIP PAIN"), not the left side."""
_WORDS = re.compile(r"[a-z]+")


def _shape(title: str, drop: str) -> tuple[str, ...]:
    """A title's words without ``drop`` (the side, or "unspecified")."""
    return tuple(w for w in _WORDS.findall(title.lower()) if w != drop)


class SidedCodes:
    """Sided siblings of unspecified-side ICD-10-CM codes, looked up in the store once each."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store
        self._siblings: dict[str, dict[str, tuple[str, str]]] = {}

    def sided(self, code: str) -> dict[str, tuple[str, str]]:
        """Side → ``(code, title)`` of the sibling that names it, for an unspecified-side
        code; empty for any other code."""
        found = self._siblings.get(code)
        if found is not None:
            return found
        found = {}
        title = self.store.title(ICD10CM, code) or ""
        if "unspecified" in title.lower():
            shape = _shape(title, "unspecified")
            for sibling, other in self.store.siblings(ICD10CM, code):
                for side in set(SIDES.values()):
                    if side in _WORDS.findall(other.lower()) and _shape(other, side) == shape:
                        found[side] = (sibling, other)
        self._siblings[code] = found
        return found

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected unspecified-side code replaced by the sibling of
        the side named right before the mention (the unspecified code stays, unselected)."""
        match = _SIDE_BEFORE.search(doc.text, max(0, entity.start - 24), entity.start)
        if match is None and entity.text.lower().startswith("pain "):
            match = _SIDE_INSIDE.search(doc.text, entity.start, entity.end)
        if match is None or (
            match.group(1).lower() == "l"
            and _LITRES.search(doc.text, max(0, match.start() - 3), match.start())
        ):
            return entity.codes
        side = SIDES[match.group(1).lower()]
        out: list[CodeCandidate] = []
        changed = False
        for cand in entity.codes:
            if cand.system == ICD10CM and cand.selected and not changed:
                target = self.sided(cand.code).get(side)
                if target is not None:
                    code, display = target
                    reason = f'the note names the side "{match.group(1)}" [icd10cm:{code}]'
                    out.append(icd_in_place_of(cand, code, display, reason))
                    out.append(replace(cand, selected=False))
                    changed = True
                    continue
            out.append(cand)
        return out
