"""Phrase patterns matched over tokens, in linear time.

Sig text is abbreviations and numbers more than words: "1 tab p.o. q6h prn pain".  Matching
runs over *words*: the ``sentences`` stage's tokens, with dotted abbreviations joined ("b.i.d."
→ ``bid``, "p.o." → ``po``) so a rule written once matches every spelling.  A pattern is a
fixed sequence of literal words and two slots: ``<n>`` (a number: ``2``, ``0.125``, ``1/2``,
``two``, a range ``4-6``) and ``<time>`` (a time unit word such as ``hrs``).  There are no
quantifiers or alternations, so matching at one position costs at most the length of the
patterns that start with that word, and a whole window is linear in its length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from note2fhir.document import Token
from note2fhir.text.segment import tokenize

NUMBER = "<n>"
TIME = "<time>"
SLOTS = frozenset({NUMBER, TIME})
_RANGE_WORDS = frozenset({"-", "–", "to"})
_MAX_ABBREVIATION_PART = 3


@dataclass(frozen=True, slots=True)
class Word:
    """A token, or a dotted abbreviation joined from several ("q.h.s." → ``qhs``)."""

    norm: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Number:
    """A number read from text; ``high`` is set for a range ("1-2")."""

    low: float
    high: float | None = None

    @property
    def is_integer(self) -> bool:
        """True when every bound is a whole number."""
        return self.low.is_integer() and (self.high is None or self.high.is_integer())


Capture = Number | str
"""What a slot captured: a number, or the code of a time unit (``h``, ``d`` ...)."""


def words(tokens: Sequence[Token], first: int = 0, last: int | None = None) -> list[Word]:
    """The words of ``tokens[first:last]``, dotted abbreviations joined."""
    stop = len(tokens) if last is None else last
    out: list[Word] = []
    i = first
    while i < stop:
        end = _abbreviation_end(tokens, i, stop)
        if end > i + 1:
            norm = "".join(t.norm for t in tokens[i:end] if t.norm != ".")
            out.append(Word(norm, tokens[i].start, tokens[end - 1].end))
            i = end
        else:
            tok = tokens[i]
            out.append(Word(tok.norm, tok.start, tok.end))
            i += 1
    return out


def _abbreviation_end(tokens: Sequence[Token], i: int, stop: int) -> int:
    """End (exclusive) of a dotted abbreviation starting at ``i`` ("b.i.d."), else ``i + 1``.

    At least two short letter groups joined by periods with no space between; a trailing
    period that touches the last group belongs to it.
    """
    if not _short_letters(tokens[i]):
        return i + 1
    j = i + 1
    parts = 1
    while (
        j + 1 < stop
        and tokens[j].norm == "."
        and tokens[j].start == tokens[j - 1].end
        and tokens[j + 1].start == tokens[j].end
        and _short_letters(tokens[j + 1])
    ):
        parts += 1
        j += 2
    if parts < 2:
        return i + 1
    if j < stop and tokens[j].norm == "." and tokens[j].start == tokens[j - 1].end:
        j += 1
    return j


def _short_letters(token: Token) -> bool:
    return token.norm.isalpha() and len(token.norm) <= _MAX_ABBREVIATION_PART


def phrase_elements(phrase: str) -> tuple[str, ...]:
    """The words of a pattern phrase, tokenised like text: ``"q <n> <time>"`` →
    ``("q", "<n>", "<time>")``; ``"b.i.d."`` → ``("bid",)``."""
    out: list[str] = []
    for piece in phrase.split():
        if piece in SLOTS:
            out.append(piece)
        else:
            out.extend(w.norm for w in words(tokenize(piece)))
    return tuple(out)


def read_number(
    seq: Sequence[Word], i: int, number_words: Mapping[str, float], *, ranges: bool = True
) -> tuple[Number, int] | None:
    """The number starting at ``seq[i]`` and the index after it, or None.

    Reads ``500``, ``0.125``, ``1,000``, ``.5``, ``1/2``, ``two`` and (unless ``ranges`` is
    False) ranges ``1-2``, ``1 to 2``.
    """
    first = _read_single(seq, i, number_words)
    if first is None:
        return None
    low, j = first
    if ranges and j + 1 < len(seq) and seq[j].norm in _RANGE_WORDS:
        second = _read_single(seq, j + 1, number_words)
        if second is not None and second[0] > low:
            return Number(low, second[0]), second[1]
    return Number(low), j


def _read_single(
    seq: Sequence[Word], i: int, number_words: Mapping[str, float]
) -> tuple[float, int] | None:
    if i >= len(seq):
        return None
    word = seq[i]
    if word.norm == "." and i + 1 < len(seq) and _touching(seq, i) and _digits(seq[i + 1].norm):
        value = _parse_digits("0." + seq[i + 1].norm)
        return (value, i + 2) if value is not None else None
    if word.norm in number_words:
        return number_words[word.norm], i + 1
    if not _digits(word.norm):
        return None
    value = _parse_digits(word.norm)
    if value is None:
        return None
    # "1/2": a fraction only when the three tokens touch ("5 mg/2 mL" is not one)
    if (
        i + 2 < len(seq)
        and seq[i + 1].norm == "/"
        and _touching(seq, i)
        and _touching(seq, i + 1)
        and seq[i + 2].norm.isdigit()
        and int(seq[i + 2].norm) > 0
    ):
        return value / int(seq[i + 2].norm), i + 3
    return value, i + 1


def _touching(seq: Sequence[Word], i: int) -> bool:
    return seq[i].end == seq[i + 1].start


def _digits(norm: str) -> bool:
    return bool(norm) and norm[0].isdigit() and norm.isascii()


def _parse_digits(norm: str) -> float | None:
    """``"1,000"`` → 1000; ``"0.125"`` → 0.125; ambiguous groupings ("1,5") → None."""
    if "," in norm:
        groups = norm.split(",")
        if "." in norm or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]):
            return None
        norm = "".join(groups)
    if norm.count(".") > 1:
        return None
    try:
        return float(norm)
    except ValueError:
        return None


Payload = TypeVar("Payload")


@dataclass(frozen=True, slots=True)
class PhraseMatch(Generic[Payload]):
    """A pattern matched over ``seq[start:end]`` with what its slots captured."""

    start: int
    end: int
    payload: Payload
    captures: tuple[Capture, ...]


class PhraseSet(Generic[Payload]):
    """Patterns with a payload each; :meth:`match_at` finds the longest one at a position
    (the first listed wins a tie)."""

    def __init__(
        self,
        number_words: Mapping[str, float] | None = None,
        time_units: Mapping[str, str] | None = None,
    ) -> None:
        self.number_words: Mapping[str, float] = number_words or {}
        self.time_units: Mapping[str, str] = time_units or {}
        self._by_first: dict[str, list[tuple[tuple[str, ...], Payload]]] = {}
        self._slot_first = False  # some pattern starts with a slot: any word may start one
        self._by_second: dict[str, _SecondWordTable[Payload]] | None = None

    def add(self, phrase: str, payload: Payload) -> tuple[str, ...]:
        """Add one phrase; returns its elements (empty phrases are an error)."""
        elements = phrase_elements(phrase)
        if not elements:
            raise ValueError("empty phrase")
        self._by_first.setdefault(elements[0], []).append((elements, payload))
        self._slot_first = self._slot_first or elements[0] in SLOTS
        self._by_second = None
        return elements

    def _second_word_tables(self) -> dict[str, _SecondWordTable[Payload]]:
        """Per first element, its patterns narrowed by the word after the first element: a
        pattern whose second element is another literal word cannot match there."""
        if self._by_second is None:
            self._by_second = {
                key: _SecondWordTable.of(patterns) for key, patterns in self._by_first.items()
            }
        return self._by_second

    def may_start(self, norm: str) -> bool:
        """False when no pattern can start at a word ``norm`` (a cheap pre-check)."""
        return self._slot_first or norm in self._by_first

    def match_at(self, seq: Sequence[Word], i: int) -> PhraseMatch[Payload] | None:
        """The longest pattern matching at ``seq[i]``, or None."""
        if i >= len(seq) or not self.may_start(seq[i].norm):
            return None
        best: PhraseMatch[Payload] | None = None
        tables = self._second_word_tables()
        for key in (seq[i].norm, NUMBER, TIME):
            table = tables.get(key)
            if table is None:
                continue
            # a slot that starts many patterns is read once, not once per pattern
            first: tuple[Capture, int] | None = None
            if key == NUMBER:
                first = read_number(seq, i, self.number_words)
                if first is None:
                    continue
            elif key == TIME:
                code = self.time_units.get(seq[i].norm)
                if code is None:
                    continue
                first = (code, i + 1)
            after = first[1] if first is not None else i + 1
            for elements, payload in table.patterns(seq[after].norm if after < len(seq) else None):
                found = self._match(elements, seq, i, first)
                if found is not None and (best is None or found[0] > best.end):
                    best = PhraseMatch(i, found[0], payload, found[1])
        return best

    def _match(
        self,
        elements: tuple[str, ...],
        seq: Sequence[Word],
        i: int,
        first: tuple[Capture, int] | None,
    ) -> tuple[int, tuple[Capture, ...]] | None:
        captures: list[Capture] = []
        j = i
        rest = elements
        if first is not None:
            captures.append(first[0])
            j = first[1]
            rest = elements[1:]
        for element in rest:
            if j >= len(seq):
                return None
            if element == NUMBER:
                number = read_number(seq, j, self.number_words)
                if number is None:
                    return None
                captures.append(number[0])
                j = number[1]
            elif element == TIME:
                code = self.time_units.get(seq[j].norm)
                if code is None:
                    return None
                captures.append(code)
                j += 1
            elif seq[j].norm == element:
                j += 1
            else:
                return None
        return j, tuple(captures)


@dataclass(frozen=True, slots=True)
class _SecondWordTable(Generic[Payload]):
    """The patterns of one first element, each list in the order they were added (the first
    listed wins a tie): ``by_word[w]`` those that can match when ``w`` follows the first
    element, ``other`` those that can whatever follows (one element long, or a slot next)."""

    by_word: dict[str, list[tuple[tuple[str, ...], Payload]]]
    other: list[tuple[tuple[str, ...], Payload]]

    @classmethod
    def of(cls, patterns: list[tuple[tuple[str, ...], Payload]]) -> _SecondWordTable[Payload]:
        """The table of one first element's patterns."""
        seconds = {p[0][1] for p in patterns if len(p[0]) > 1 and p[0][1] not in SLOTS}
        return cls(
            {w: [p for p in patterns if _may_follow(p[0], w)] for w in seconds},
            [p for p in patterns if _may_follow(p[0], None)],
        )

    def patterns(self, following: str | None) -> list[tuple[tuple[str, ...], Payload]]:
        """The patterns that can match when ``following`` comes after the first element."""
        return self.by_word.get(following, self.other) if following is not None else self.other


def _may_follow(elements: tuple[str, ...], word: str | None) -> bool:
    return len(elements) < 2 or elements[1] in SLOTS or elements[1] == word


def single_words(items: list[str]) -> list[str]:
    """The one phrase element of each item; an item of several words is a data error."""
    out = []
    for item in items:
        elements = phrase_elements(item)
        if len(elements) != 1:
            raise ValueError(f"{item!r} must be one word")
        out.append(elements[0])
    return out
