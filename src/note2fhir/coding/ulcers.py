"""Pressure ulcers: the site and stage the note gives pick the L89 code ("Stage 3 pressure
ulcer of sacrum" is L89.153 Pressure ulcer of sacral region, stage 3, not L89.90 Pressure ulcer
of unspecified site, unspecified stage).

The codes are read from the store's ICD-10-CM titles, never written here: every L89 leaf title has
the form "Pressure ulcer of <site>, <stage>" or "Pressure-induced deep tissue damage of
<site>", so the title that names the note's site, side and stage is the code.  A site or stage
the clause names twice ("sacrum and heel", "stage 2 ... stage 3") is not chosen: the
generic code stays for coders.
"""

from __future__ import annotations

import re
from dataclasses import replace

from note2fhir.coding.candidates import clause_around, icd_in_place_of, selected_icd
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
_STAGE_WORDS = (
    r"(?:stage|stg)\.?\s*(?:[1-4]|iv|iii|ii|i)\b|unstageable\b|unstagable\b"
    r"|deep tissue (?:injury|damage|pressure injury)\b|dti\b|dtpi\b"
)
_SITE_WORDS = (
    r"(?:(?:right|left|rt|lt|r|l)\.?\s+)?(?:upper back|lower back|"
    + "|".join(sorted((w for w in SITE_WORDS if " " not in w), key=len, reverse=True))
    + r")\b"
)
_LEAD = re.compile(
    rf"(?:\b{_SITE_WORDS}\s*[:-]?\s*)?(?:\b(?:{_STAGE_WORDS})\s*)?(?:\b{_SITE_WORDS}\s*)?$",
    re.I,
)
"""A site, a stage and a site right before the mention, nothing else between ("Left heel:
stage 2 [pressure ulcer]", "Stage II sacral [pressure ulcer]")."""
_TAIL = re.compile(
    rf"(?:[\s,:()-]*(?:(?:of|on|to|at|over|involving)\s+(?:the\s+)?)?"
    rf"(?:{_SITE_WORDS}|{_STAGE_WORDS})){{0,3}}",
    re.I,
)
"""Sites and stages right after the mention ("of the sacrum, stage 2")."""
_SIDES = {"right": "right", "rt": "right", "r": "right", "left": "left", "lt": "left", "l": "left"}
_CLAUSE = re.compile(r"\n|[.;](?:\s|$)")
_REACH = 60
"""Characters read on either side of the mention for its site and stage."""


def _l89_codes() -> list[str]:
    """Every code the L89 category could hold (L89.0-L89.9 with one or two more digits)."""
    return [
        f"{CATEGORY}.{a}{rest}"
        for a in "0123456789"
        for rest in ("", *"0123456789", *(f"{b}{c}" for b in "0123456789" for c in "0123456789"))
    ]


def read_codes(titles: dict[str, str]) -> dict[tuple[str, str, str], str]:
    """(side, site, stage) → L89 code, from the titles ``titles`` gives codes; side is
    "right", "left", "unspecified" or "" (a site without sides), stage "1"-"4",
    "unstageable", "deep" or "unspecified"."""
    out: dict[tuple[str, str, str], str] = {}
    for code, title in titles.items():
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
    """Site and stage of pressure ulcers, looked up in the store's L89 titles."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store
        self._codes: dict[tuple[str, str, str], str] | None = None

    def codes(self) -> dict[tuple[str, str, str], str]:
        """(side, site, stage) → L89 code, read once from the store's titles."""
        if self._codes is None:
            titles = {}
            for code in _l89_codes():
                title = self.store.title(ICD10CM, code)
                if title is not None:
                    titles[code] = title
            self._codes = read_codes(titles)
        return self._codes

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected L89 code replaced by the code of the site and
        stage the mention's phrase names, when the rest of its clause names no other (the
        replaced code stays, unselected)."""
        selected = selected_icd(entity)
        if selected is None or not selected.code.startswith(CATEGORY):
            return entity.codes
        phrase = _around(doc.text, entity.start, entity.end)
        key = _site_and_stage(*phrase, self.codes()) if phrase is not None else None
        if key is None:
            return entity.codes
        code = self.codes().get(key)
        if code is None or code == selected.code:
            return entity.codes
        title = self.store.title(ICD10CM, code)
        if title is None:
            return entity.codes
        side, site, stage = key
        reason = (
            f"the note names the {' '.join(w for w in (side, site) if w)} and stage {stage}: "
            f"the title of {code} [icd10cm:{code}]"
        )
        out: list[CodeCandidate] = []
        for cand in entity.codes:
            if cand is selected:
                out.append(icd_in_place_of(cand, code, title, reason))
                out.append(replace(cand, selected=False))
            else:
                out.append(cand)
        return out


def _around(text: str, start: int, end: int) -> tuple[str, str, str] | None:
    """The words of the mention's phrase: those right before it that are only a stage, a
    side and a site ("Stage II sacral [pressure ulcer]"), the mention, and those after it
    that are only sites and stages ("[pressure ulcer] of the left heel, stage 3", "[pressure
    injury] stage 4 right heel").  None when its clause names a site or a stage outside the
    phrase ("CKD stage 3, sacral pressure ulcer", "pressure ulcer, hip fracture"): whose it
    is, the words do not say."""
    before, after = clause_around(text, start, end, _REACH, _CLAUSE)
    lead = _LEAD.search(before)
    lead_text = lead.group() if lead else ""
    rest = before[: len(before) - len(lead_text)]
    tail_text = ""
    for n, part in enumerate(after.split(",")):
        piece = part if n == 0 else "," + part
        tail = _TAIL.match(piece)
        taken = tail.group() if tail else ""
        if n > 0 and piece[len(taken) :].strip() and not _STAGE.search(taken):
            break  # a later list item that is more than a site ("hip fracture")
        tail_text += taken
        if piece[len(taken) :].strip():
            break
    outside = rest + " " + after[len(tail_text) :]
    if _SITE.search(outside) or _STAGE.search(outside):
        return None
    return (lead_text, text[start:end], tail_text)


def _site_and_stage(
    lead: str, mention: str, tail: str, codes: dict[tuple[str, str, str], str]
) -> tuple[str, str, str] | None:
    """(side, site, stage) of the one site and the one stage a mention's phrase names, each
    "unspecified" when it names none; None when it names two."""
    phrase = f"{lead} {mention} {tail}"
    sites = {
        (_SIDES.get((m.group("side") or "").lower(), ""), SITE_WORDS[m.group("site").lower()])
        for m in _SITE.finditer(phrase)
    }
    stages = {_stage(m) for m in _STAGE.finditer(phrase)}
    if len(sites) > 1 or len(stages) > 1:
        return None
    stage = stages.pop() if stages else "unspecified"
    if not sites:
        return ("unspecified", "site", stage)
    side, site = sites.pop()
    if ("", site, stage) in codes:
        return ("", site, stage)  # a site without sides: "sacral region", "head"
    return (side or "unspecified", site, stage)


def _stage(match: re.Match[str]) -> str:
    if match.group("n"):
        n = match.group("n").lower()
        return _ROMAN.get(n, n)
    return "unstageable" if match.group("un") else "deep"
