"""Pressure ulcers: the site and stage the note gives pick the L89 code ("Stage 3 pressure
ulcer of sacrum" is L89.153 Pressure ulcer of sacral region, stage 3, not L89.90 Pressure ulcer
of unspecified site, unspecified stage).

The codes are read from the ICD-10-CM release, never written here: every L89 leaf title has
the form "Pressure ulcer of <site>, <stage>" or "Pressure-induced deep tissue damage of
<site>", so the title that names the note's site, side and stage is the code.  A site or stage
the clause names twice ("sacrum and heel", "stage 2 ... stage 3") is not chosen: the
generic code stays for coders.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache

import simple_icd_10_cm as cm

from note2fhir.coding.candidates import icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

CATEGORY = "L89"
_TITLE = re.compile(
    r"Pressure ulcer of (?P<site>.+), (?P<stage>unstageable|stage [1-4]|unspecified stage)"
)
_DEEP_TITLE = re.compile(r"Pressure-induced deep tissue damage of (?P<site>.+)")
_SIDED = re.compile(r"(right|left|unspecified) (.+)")

SITE_WORDS: dict[str, str] = {
    "sacrum": "sacral region",
    "sacral": "sacral region",
    "coccyx": "sacral region",
    "coccygeal": "sacral region",
    "sacrococcygeal": "sacral region",
    "tailbone": "sacral region",
    "heel": "heel",
    "heels": "heel",
    "buttock": "buttock",
    "buttocks": "buttock",
    "gluteal": "buttock",
    "hip": "hip",
    "ankle": "ankle",
    "elbow": "elbow",
    "occiput": "head",
    "occipital": "head",
    "upper back": "upper back",
    "lower back": "lower back",
}
"""Words of a note for the sites of the L89 titles (coccyx and tailbone: L89.15's inclusion
terms; checked in tests/coding/test_ulcers.py)."""
_SITE = re.compile(
    r"\b(?:(?P<side>right|left|rt|lt|r|l)\.?\s+)?(?P<site>upper back|lower back|"
    + "|".join(sorted((w for w in SITE_WORDS if " " not in w), key=len, reverse=True))
    + r")\b",
    re.I,
)
_STAGE = re.compile(
    r"\b(?:stage|stg)\.?\s*(?P<n>[1-4]|iv|iii|ii|i)\b|\b(?P<un>unstageable|unstagable)\b"
    r"|\b(?P<deep>deep tissue (?:injury|damage|pressure injury)|dti|dtpi)\b",
    re.I,
)
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
_SIDES = {"right": "right", "rt": "right", "r": "right", "left": "left", "lt": "left", "l": "left"}
_CLAUSE = re.compile(r"\n|[.;](?:\s|$)")
_REACH = 60
"""Characters read on either side of the mention for its site and stage."""


@cache
def release_codes() -> dict[tuple[str, str, str], str]:
    """(side, site, stage) → L89 leaf code, from the titles of the release; side is "right",
    "left", "unspecified" or "" (a site without sides), stage "1"-"4", "unstageable",
    "deep" or "unspecified"."""
    out: dict[tuple[str, str, str], str] = {}
    for code in cm.get_descendants(CATEGORY):
        if not cm.is_leaf(code):
            continue
        title = cm.get_description(code)
        match = _TITLE.fullmatch(title) or _DEEP_TITLE.fullmatch(title)
        if match is None:
            continue
        stage = match.groupdict().get("stage") or "deep"
        stage = stage.removeprefix("stage ").replace("unspecified stage", "unspecified")
        sided = _SIDED.fullmatch(match.group("site"))
        side, site = (sided.group(1), sided.group(2)) if sided else ("", match.group("site"))
        out[(side, site, stage)] = code
    return out


class UlcerCodes:
    """Site and stage of pressure ulcers, looked up in the release and the store."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected L89 code replaced by the code of the site and
        stage its clause names (the replaced code stays, unselected)."""
        selected = next(
            (c for c in entity.codes if c.system == ICD10CM and c.selected),
            None,
        )
        if selected is None or not selected.code.startswith(CATEGORY):
            return entity.codes
        clause = _clause(doc.text, entity.start, entity.end)
        key = _site_and_stage(clause)
        if key is None:
            return entity.codes
        code = release_codes().get(key)
        if code is None or code == selected.code:
            return entity.codes
        concept = self.store.concept(f"icd10cm:{code}")
        if concept is None:
            return entity.codes
        side, site, stage = key
        reason = (
            f"the note names the {' '.join(w for w in (side, site) if w)} and stage {stage}: "
            f"the title of {code} [icd10cm:{code}]"
        )
        out: list[CodeCandidate] = []
        for cand in entity.codes:
            if cand is selected:
                out.append(icd_in_place_of(cand, code, concept.preferred, reason))
                out.append(replace(cand, selected=False))
            else:
                out.append(cand)
        return out


def _clause(text: str, start: int, end: int) -> str:
    """The text of the mention's clause, at most :data:`_REACH` characters either side."""
    before = text[max(0, start - _REACH) : start]
    cuts = list(_CLAUSE.finditer(before))
    if cuts:
        before = before[cuts[-1].end() :]
    after = text[end : end + _REACH]
    cut = _CLAUSE.search(after)
    if cut is not None:
        after = after[: cut.start()]
    return f"{before} {text[start:end]} {after}"


def _site_and_stage(clause: str) -> tuple[str, str, str] | None:
    """(side, site, stage) of the one site and the one stage a clause names, each
    "unspecified" when it names none; None when it names two."""
    sites = {
        (_SIDES.get((m.group("side") or "").lower(), ""), SITE_WORDS[m.group("site").lower()])
        for m in _SITE.finditer(clause)
    }
    stages = {_stage(m) for m in _STAGE.finditer(clause)}
    if len(sites) > 1 or len(stages) > 1:
        return None
    stage = stages.pop() if stages else "unspecified"
    if not sites:
        return ("unspecified", "site", stage)
    side, site = sites.pop()
    codes = release_codes()
    if ("", site, stage) in codes:
        return ("", site, stage)  # a site without sides: "sacral region", "head"
    return (side or "unspecified", site, stage)


def _stage(match: re.Match[str]) -> str:
    if match.group("n"):
        n = match.group("n").lower()
        return _ROMAN.get(n, n)
    return "unstageable" if match.group("un") else "deep"
