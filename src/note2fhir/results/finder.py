"""Finding the stated result of one test mention inside its sentence.

Three shapes, tried in this order:

* right after the mention, what the extractor's value reader reads: "K 4.1", "BNP: 1250",
  "troponin negative";
* after a few link words: "troponin **was** elevated", "the examination **yielded**
  unremarkable findings", "ejection fraction **was measured at** 35 %";
* right before the mention, an adjective: "**elevated** troponin", "**normal** ECG".

Every search walks a bounded number of tokens of one sentence, so a note costs time linear in
its length.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from note2fhir.document import JSONDict, Token
from note2fhir.extract.values import StatedValue, ValueReader
from note2fhir.results.words import PhraseTable, ResultWords, phrase_key

SPACE = r"[ \t\u00a0\u2000-\u200a\u202f\u205f]"
"""A space inside a measurement; case reports print thin and no-break spaces ("145\u2009μmol/l")."""

MULTIPLIER = rf"(?:[x×*]{SPACE}?10(?:\^|{SPACE}?)?[0-9]{{1,2}}{SPACE}?)"
"""A power-of-ten factor before a count unit: "× 10^9/L", "x 109/L" (a lost superscript)."""

MAX_MODIFIERS = 2
"""How many adverbs ("very markedly") may lead a result word."""


@dataclass(frozen=True, slots=True)
class FoundResult:
    """One result: its working-text span, value, and the pattern that found it."""

    start: int
    end: int
    value: JSONDict
    rule: str


@dataclass(frozen=True, slots=True)
class SentenceWords:
    """The word tokens of one sentence (hyphens left out) and which entity, if any, covers
    each of them."""

    tokens: list[Token]
    norms: list[str]
    owner: list[str | None]
    end: int
    tests: frozenset[str] = frozenset()
    """The ids of the test mentions among the owners."""


class ResultFinder:
    """Finds results around test mentions with the vocabulary of ``results.yaml``."""

    def __init__(self, words: ResultWords, values: ValueReader) -> None:
        self.after = PhraseTable(words.after)
        self.before = PhraseTable(words.before)
        self.before_for = PhraseTable(words.before_for)
        self.before_of = PhraseTable(words.before_of)
        self.standalone = PhraseTable(words.standalone)
        self.verbs = frozenset(w.lower() for w in words.verbs)
        self.fillers = frozenset(w.lower() for w in words.verb_fillers)
        self.modifiers = PhraseTable(words.modifiers)
        units = sorted({u.lower() for u in words.measurement_units}, key=lambda u: (-len(u), u))
        unit_alt = "|".join(re.escape(u).replace(r"\ ", f"{SPACE}?") for u in units)
        number = r"(?:[<>≤≥]" + SPACE + r"?)?\d{1,7}(?:[.,]\d{1,4})?"
        # Literal alternations and bounded repeats only: linear time on any input.
        self.measurement = re.compile(
            rf"(?<![\w.,/]){number}(?:{SPACE}?/{SPACE}?\d{{1,4}}(?:\.\d{{1,3}})?)?"
            rf"(?:(?:{SPACE}?[-–]{SPACE}?|{SPACE}(?:to|and|or){SPACE}){number})?"
            rf"{SPACE}{{0,2}}{MULTIPLIER}?(?:{unit_alt})(?![^\W\d_])",
            re.IGNORECASE,
        )
        self.links = frozenset(w.lower() for w in words.links)
        self.stops = frozenset(w.lower() for w in words.stop_words)
        self.max_links = words.max_link_words
        self.values = values

    def around(
        self, text: str, words: SentenceWords, entity: str, start: int, end: int
    ) -> list[FoundResult]:
        """The results of the mention ``[start, end)`` (id ``entity``) in its sentence."""
        found: list[FoundResult] = []
        after = self._after(text, words, entity, end)
        if after is not None:
            found.append(after)
        before = self._before(text, words, entity, start, end)
        if before is not None:
            found.append(before)
        return found

    def _after(self, text: str, words: SentenceWords, entity: str, end: int) -> FoundResult | None:
        stated = self.values.read(text, end, words.end)
        if stated is None and text.startswith(")", end):
            # a short form closes its parenthesis first: "international normalized ratio
            # (INR) 6.9"; only a number counts there
            stated = self.values.read(text, end + 1, words.end)
            if stated is not None and not stated.numeric:
                stated = None
        if stated is not None and stated.start >= end:
            if stated.numeric or phrase_key(text[stated.start : stated.end]) in self.after:
                return FoundResult(stated.start, stated.end, stated.value, "value")
            return None  # a status such as "pending" is no result
        pos = first_token_at(words.tokens, end)
        links = 0
        while pos < len(words.tokens):
            owner = words.owner[pos]
            if owner is not None and owner != entity:
                return None
            if owner is None:
                hit = self._word_at(words, pos, self.after)
                if hit is not None:
                    return hit if links else FoundResult(hit.start, hit.end, hit.value, "value")
                token = words.tokens[pos]
                if token.norm[0].isdigit() or token.norm in "<>≤≥":
                    number = self.values.read(text, token.start, words.end)
                    if (
                        number is not None
                        and number.numeric
                        and (number.unit or _pair(number) or _ends_clause(text, number.end))
                    ):
                        return FoundResult(number.start, number.end, number.value, "linked")
                    return None
                if token.norm in self.stops or token.norm not in self.links:
                    return None
                links += 1
                if links > self.max_links:
                    return None
            pos += 1
        return None

    def _before(
        self, text: str, words: SentenceWords, entity: str, start: int, end: int
    ) -> FoundResult | None:
        pos = first_token_at(words.tokens, start) - 1
        if pos < 0 or words.owner[pos] is not None:
            return None
        if text[words.tokens[pos].end : start].strip():
            return None  # something other than spaces stands between them
        table, rule = self.before, "before"
        listed = _list_head(words, pos)
        if listed is not None and ends_item(words.tokens, end):
            # a later item of "negative for X, Y and Z": the words before "for" state its
            # result too, so the stage lets it share them
            table, rule, pos = self.before_for, LIST_RULE, listed - 1
        elif words.norms[pos] == "for":
            table, rule, pos = self.before_for, "before-for", pos - 1
        elif words.norms[pos] in ("of", "in"):
            table, rule, pos = self.before_of, "before-of", pos - 1
        for length in range(min(table.longest, pos + 1), 0, -1):
            first = pos - length + 1
            if (
                table.match(words.norms, first) == length
                and _free(words, first, pos + 1)
                and not _hyphenated(text, words.tokens[first].start)
            ):
                hit = self._with_modifiers(words, first, pos + 1)
                return FoundResult(hit[0], hit[1], _word_value(text, hit), rule)
        return None

    def measurements(self, text: str, words: SentenceWords) -> list[tuple[FoundResult, str | None]]:
        """Numbers with a measurement unit anywhere in the sentence ("lymphocytes 0.8
        x10^9/L"), outside entities and reference ranges, each with the nearest mention
        before it (or None)."""
        if not words.tokens:
            return []
        start, end = words.tokens[0].start, words.end
        if _DIGIT.search(text, start, end) is None:  # every measurement has a digit
            return []
        found: list[tuple[FoundResult, str | None]] = []
        nearest: list[str | None] | None = None
        for match in self.measurement.finditer(text, start, end):
            first = first_token_at(words.tokens, match.start())
            last = first_token_at(words.tokens, match.end())
            if not _free(words, first, last) or _in_reference_range(text, match.start(), start):
                continue
            if nearest is None:
                nearest = _nearest_owner(words)
            near = nearest[first - 1] if first else None
            shown = " ".join(match.group().split())
            found.append(
                (FoundResult(match.start(), match.end(), {"string": shown}, "measurement"), near)
            )
        return found

    def standalone_results(self, words: SentenceWords) -> list[tuple[FoundResult, str | None]]:
        """Results after a reporting verb anywhere in the sentence ("gait was **normal**"),
        each with the id of the nearest mention before the verb (or None)."""
        found: list[tuple[FoundResult, str | None]] = []
        if self.verbs.isdisjoint(words.norms):  # most sentences: no reporting verb at all
            return found
        last_owner: str | None = None
        for pos, norm in enumerate(words.norms):
            owner = words.owner[pos]
            if owner is not None:
                last_owner = owner
                continue
            if norm not in self.verbs:
                continue
            nxt = pos + 1
            while nxt < len(words.norms) and nxt <= pos + 2 and words.norms[nxt] in self.fillers:
                nxt += 1
            hit = self._word_at(words, nxt, self.standalone) if nxt < len(words.norms) else None
            if hit is not None:
                found.append((FoundResult(hit.start, hit.end, hit.value, "standalone"), last_owner))
        return found

    def _word_at(self, words: SentenceWords, pos: int, table: PhraseTable) -> FoundResult | None:
        """A result phrase (with leading modifiers) starting at word ``pos``."""
        first = pos
        for _ in range(MAX_MODIFIERS):
            if table.match(words.norms, pos):
                break
            length = self.modifiers.match(words.norms, pos)
            if not length:
                break
            pos += length
        length = table.match(words.norms, pos)
        if not length or not _free(words, first, pos + length):
            return None
        start, end = words.tokens[first].start, words.tokens[pos + length - 1].end
        value = {"string": " ".join(words.norms[first : pos + length])}
        return FoundResult(start, end, value, "linked")

    def _with_modifiers(self, words: SentenceWords, first: int, last: int) -> tuple[int, int]:
        """The span of words ``[first, last)`` grown leftwards over adjacent modifiers."""
        for _ in range(MAX_MODIFIERS):
            grown = False
            for length in range(min(self.modifiers.longest, first), 0, -1):
                if self.modifiers.match(words.norms, first - length) == length and _free(
                    words, first - length, first
                ):
                    first -= length
                    grown = True
                    break
            if not grown:
                break
        return words.tokens[first].start, words.tokens[last - 1].end


LIST_RULE = "before-for-list"
"""The rule of a result read for a later item of a list after "for"."""
LIST_JOINERS = frozenset({",", "and", "or", "nor"})
MAX_LIST_ITEMS = 12
"""How many earlier mentions a list may hold before a later item still takes its "negative
for" ("negative for c-Kit, CD31, SMA, desmin and S100")."""


def _list_head(words: SentenceWords, pos: int) -> int | None:
    """The word ``for`` that heads the list whose later item comes after word ``pos`` (a joiner):
    each earlier item must be a whole test mention, joined by commas, "and" or "or" ("negative
    for cholecystitis and CT showed stones" is no list of results)."""
    items = 0
    while pos > 0 and words.norms[pos] in LIST_JOINERS and items < MAX_LIST_ITEMS:
        while pos > 0 and words.norms[pos - 1] in LIST_JOINERS:
            pos -= 1  # ", and"
        owner = words.owner[pos - 1] if pos > 0 else None
        if owner is None or owner not in words.tests:
            return None
        pos -= 1
        while pos > 0 and words.owner[pos - 1] == owner:
            pos -= 1
        items += 1
        if pos > 0 and words.norms[pos - 1] == "for":
            return pos - 1
        pos -= 1
    return None


ITEM_ENDS = frozenset({",", ";", ".", ":", "(", ")", "and", "or", "nor", "but"})
"""Tokens that may follow a list's item; a word instead starts a clause ("negative for HIV
antibody and CT chest revealed a nodule": the CT is no item of the list)."""


def ends_item(tokens: Sequence[Token], end: int) -> bool:
    """Whether the mention ending at ``end`` ends its list item among ``tokens`` (one
    sentence's): the sentence ends there, or a separator, a conjunction or a bracket
    follows."""
    pos = first_token_at(tokens, end)
    return pos >= len(tokens) or tokens[pos].norm in ITEM_ENDS


def _nearest_owner(words: SentenceWords) -> list[str | None]:
    """For each word, the entity covering it or the nearest one before it (linear)."""
    out: list[str | None] = []
    last: str | None = None
    for owner in words.owner:
        last = owner if owner is not None else last
        out.append(last)
    return out


def _word_value(text: str, span: tuple[int, int]) -> JSONDict:
    return {"string": " ".join(text[span[0] : span[1]].lower().replace("-", " ").split())}


def _hyphenated(text: str, start: int) -> bool:
    """Whether the word at ``start`` ends a hyphenated compound ("HIV-positive")."""
    return start > 0 and text[start - 1] in "-‐–"


def _free(words: SentenceWords, first: int, last: int) -> bool:
    return all(owner is None for owner in words.owner[first:last])


_DIGIT = re.compile(r"\d")

_CLAUSE_END = re.compile(r"[ \t]{0,2}(?:[,;.)(\[]|$)")


def _ends_clause(text: str, end: int) -> bool:
    """Whether a bare number ends its clause ("the SUV was 3.8, ...", "score was 8."), so it is
    a result and not a count of something named after it ("5 plasmapheresis exchanges")."""
    return _CLAUSE_END.match(text, end) is not None


def _pair(number: StatedValue) -> bool:
    """A number pair such as a blood pressure ("120/80"), which needs no unit."""
    return "/" in str(number.value.get("string", ""))


def first_token_at(tokens: Sequence[Token], offset: int) -> int:
    """Index of the first token starting at or after ``offset`` (binary search)."""
    return bisect.bisect_left(tokens, offset, key=lambda t: t.start)


_REFERENCE = re.compile(r"\b(?:normal|range|reference|ref|rv|nv|nr|n|ul?n)\b", re.IGNORECASE)
REFERENCE_LOOKBACK = 30
"""How far back a '(' may open the reference range a number stands in."""


def _in_reference_range(text: str, pos: int, floor: int) -> bool:
    """Whether ``pos`` lies in a parenthesis that states a reference range: "(normal
    12.3-16.6 s)", "(RV: 0-0.1)", "(range 0,5-0,9 mmol/L)"."""
    window = text[max(floor, pos - REFERENCE_LOOKBACK) : pos]
    opened = window.rfind("(")
    if opened < 0 or ")" in window[opened:]:
        return False
    return _REFERENCE.search(window, opened) is not None
