"""Results stated right after a test mention: "BNP 1250", "K 4.1", "HbA1c 8.2%",
"BP 158/92 mmHg", "troponin negative".

Numbers become a FHIR Quantity dict (``unit``, and UCUM ``system``/``code`` only for units the
lexicon lists); a pair such as a blood pressure, or a word result, becomes ``{"string": ...}``.
The pattern is anchored at the end of the mention and bounded in length, with no nested
unbounded quantifiers, so it runs in linear time on any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from note2fhir.extract.lexicon import ClinicalLexicon

UCUM = "http://unitsofmeasure.org"
LOOKAHEAD_CHARS = 60
"""How far after a test mention its result may start and end."""

_SP = r"[ \t\u00a0\u2000-\u200a\u202f\u205f]"
"""A space; case reports print thin and no-break spaces between a number and its unit."""

_LEAD = (
    rf"{_SP}{{0,3}}(?:(?:[:=~]|(?:was|is|of|were|at|measured|reading|levels?|values?|count)\b)"
    rf"{_SP}{{0,3}}){{0,3}}"
)
_NUMBER = (
    rf"(?P<cmp><=|>=|<|>|≤|≥)?{_SP}{{0,2}}(?P<num>\d{{1,6}}(?:[.,]\d{{1,4}})?)"
    rf"(?:{_SP}{{0,2}}/{_SP}{{0,2}}(?P<num2>\d{{1,4}}(?:\.\d{{1,3}})?))?"
)


@dataclass(frozen=True, slots=True)
class StatedValue:
    """A result and where it starts and ends in the working text (its lead words such as
    "was" or ":" are not part of it)."""

    value: dict[str, Any]
    end: int
    numeric: bool
    start: int = -1
    unit: bool = False
    """Whether a unit was written (a bare number may be a count, not a result)."""


class ValueReader:
    """Reads the result after a mention, with the units and words of the lexicon."""

    def __init__(self, lexicon: ClinicalLexicon) -> None:
        units = sorted({u.text for u in lexicon.units}, key=lambda u: (-len(u), u))
        self.ucum = {u.text: u.ucum for u in lexicon.units}
        unit_alt = "|".join(re.escape(u) for u in units)
        words = sorted(set(lexicon.qualitative), key=lambda w: (-len(w), w))
        word_alt = "|".join(re.escape(w).replace(r"\ ", _SP) for w in words)
        self.number = re.compile(
            _LEAD + _NUMBER + rf"(?:{_SP}{{0,2}}(?P<unit>{unit_alt})(?![A-Za-z]))?",
            re.IGNORECASE,
        )
        self.word = re.compile(_LEAD + rf"(?P<word>{word_alt})\b", re.IGNORECASE)

    def read(self, text: str, start: int, limit: int) -> StatedValue | None:
        """The result stated at ``text[start:limit]`` (bounded), or None."""
        end = min(limit, start + LOOKAHEAD_CHARS, len(text))
        if start >= end:
            return None
        match = self.number.match(text, start, end)
        if match is not None and (match.group("unit") or _not_glued(text, match.end(), end)):
            return self._number(match)
        match = self.word.match(text, start, end)
        if match is not None:
            word = " ".join(match.group("word").lower().split())
            return StatedValue(
                {"string": word}, match.end(), numeric=False, start=match.start("word")
            )
        return None

    def _number(self, match: re.Match[str]) -> StatedValue:
        unit = match.group("unit")
        second = match.group("num2")
        start = match.start("cmp") if match.group("cmp") else match.start("num")
        if second is not None:
            shown = f"{match.group('num')}/{second}" + (f" {unit}" if unit else "")
            return StatedValue(
                {"string": shown}, match.end(), numeric=True, start=start, unit=bool(unit)
            )
        value = _parse_number(match.group("num"))
        out: dict[str, Any] = {"value": value}
        comparator = match.group("cmp")
        if comparator:
            out["comparator"] = {"≤": "<=", "≥": ">="}.get(comparator, comparator)
        if unit:
            out["unit"] = unit
            code = self.ucum.get(unit.lower())
            if code:
                out["system"] = UCUM
                out["code"] = code
        return StatedValue(out, match.end(), numeric=True, start=start, unit=bool(unit))


def _not_glued(text: str, pos: int, end: int) -> bool:
    """A number must not run on into letters that are no unit ("5th", "2x")."""
    return pos >= end or not text[pos].isalpha() or text[pos] in "%°"


def _parse_number(raw: str) -> int | float:
    """``1,250`` → 1250; ``4,1`` → 4.1 (a decimal comma); ``8.2`` → 8.2."""
    if "," in raw:
        whole, _, frac = raw.partition(",")
        raw = whole + frac if len(frac) == 3 else f"{whole}.{frac}"
    number = float(raw)
    return int(number) if number.is_integer() and "." not in raw else number
