"""Organisations that the shape rules would take for people: a manufacturer's citation in a
case report ("(Ethicon Inc., a Johnson & Johnson company; Somerville, NJ)", "(Stratus; Carl
Zeiss GmbH, Jena, Germany)") or an institution's name ("R Adams Cowley Shock Trauma Center")."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING

from note2fhir.deid.tokens import Tok, same_line

if TYPE_CHECKING:
    from note2fhir.deid.detect import Detection

_JOINS = frozenset({"&", "and", "-", "."})
_LOWER_ENDS = frozenset({"company", "companies", "corporation"})
"""Organisation words that end one in lower case too ("a Johnson & Johnson company")."""
_REACH = 160
"""Characters searched on each side of a name for the brackets of a citation."""


class Organisations:
    """Tells the names inside an organisation's name or a manufacturer's citation."""

    def __init__(
        self,
        words: Iterable[str],
        countries: frozenset[str],
        states: frozenset[str],
        codes: frozenset[str],
    ) -> None:
        self.words = frozenset(w.lower() for w in words)
        self.countries = countries
        """Country names, lower case ("germany", "usa")."""
        self.places = countries | states
        """Country and state names, lower case."""
        self.codes = codes
        """State codes ("NJ")."""

    def inside(self, text: str, tokens: list[Tok], starts: list[int], start: int, end: int) -> bool:
        """Is ``text[start:end]`` (a name by its shape alone) part of an organisation's name
        ("Pentapharm Co", "Johnson & Johnson company") or of a bracketed citation that ends
        with a country or a state ("(bioMerieux, Marcy l'Etoile, France)")?"""
        k = bisect_left(starts, start)
        last = k
        while last < len(tokens) and tokens[last].end <= end:
            last += 1
        if last > k and self._ends(tokens[last - 1]):
            return True  # "Pentapharm Co"
        j = last
        while j < len(tokens) and j - last < 5 and same_line(text, end, tokens[j].start):
            tok = tokens[j]
            if self._ends(tok):
                return True
            if not (tok.title or tok.text.isupper() or tok.low in _JOINS):
                break
            j += 1
        return self._citation(text, start, end)

    def place_inside(self, text: str, tokens: list[Tok], starts: list[int], det: Detection) -> bool:
        """Is the dictionary place ``det`` part of an organisation's name ("New York Heart
        Association") or of a manufacturer's citation: brackets that hold an organisation word
        or end with a country after two more items ("(Life Technologies, Carlsbad, CA)",
        "(Boston Scientific, Natick, MA, USA)")?"""
        k = bisect_left(starts, det.end)
        j = k
        while j < len(tokens) and j - k < 4 and same_line(text, det.end, tokens[j].start):
            tok = tokens[j]
            if self._ends(tok) and j > k:
                return True
            if not tok.title:
                break
            j += 1
        span = self._brackets(text, det.start, det.end)
        if span is None:
            return False
        inner = text[span[0] + 1 : span[1]]
        items = [p.strip().rstrip(".").lower() for p in inner.replace(";", ",").split(",")]
        if len(items) >= 3 and items[-1] in self.countries:
            return True
        inside = tokens[bisect_left(starts, span[0]) : bisect_left(starts, span[1])]
        return any(self._ends(t) for t in inside)

    def _ends(self, tok: Tok) -> bool:
        """Does ``tok`` end an organisation's name ("Inc", "GmbH", "Center", "company")?"""
        if tok.low not in self.words:
            return False
        return tok.title or tok.text.isupper() or tok.low in _LOWER_ENDS

    def _brackets(self, text: str, start: int, end: int) -> tuple[int, int] | None:
        """Where the brackets around ``text[start:end]`` on its line open and close, if any."""
        opened = text.rfind("(", max(0, start - _REACH), start)
        if opened < 0 or ")" in text[opened:start] or "\n" in text[opened:start]:
            return None
        closed = text.find(")", end, end + _REACH)
        if closed < 0 or "(" in text[end:closed] or "\n" in text[end:closed]:
            return None
        return opened, closed

    def _citation(self, text: str, start: int, end: int) -> bool:
        span = self._brackets(text, start, end)
        if span is None:
            return False
        inner = text[span[0] + 1 : span[1]]
        if "," not in inner:
            return False
        place = inner.rsplit(",", 1)[1].strip().rstrip(".")
        return place.lower() in self.places or place in self.codes
