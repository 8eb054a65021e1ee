"""Tokens and sentence-like units of clinical text, in linear time.

Clinical notes are lists, templates and fragments more than prose: "PMH: HTN; DM2", bullet
lists, ALL CAPS nursing notes without a period in sight.  Units end at blank lines, list items,
semicolons, section headings, sentence-final punctuation (not after "Dr." or "b.i.d."), and at
a single line break unless the next line continues the prose in lower case.

Tokenising is a regular expression without nested quantifiers (no catastrophic backtracking):
runs of letters of any script (with an inner apostrophe), numbers with decimal points or
commas, and any other visible character on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from note2fhir.document import Sentence, Token
from note2fhir.resources.loader import load_data_file

TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+(?:[.,]\d+)*|\S")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•·]|\d{1,3}[.)])[ \t]")
_BREAK_MARKS = frozenset(";.!?")
ANSWER_WORDS = frozenset({"no", "yes", "none", "denies", "denied", "neg", "negative", "y", "n"})
"""Words that answer a question mark ("Fever ? no"): the question is about what precedes."""


class SentenceRules(BaseModel):
    """The contents of ``sentences.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    abbreviations: frozenset[str]
    semicolon_ends_sentence: bool = True


def load_rules() -> SentenceRules:
    """The packaged sentence rules."""
    return load_data_file("sentences.yaml", SentenceRules)


def token_norm(text: str) -> str:
    """Lower-case and strip accents: what dictionaries and triggers match against."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` with its offsets and normalised form."""
    if text.isascii():  # most notes: lower-case once, then each norm is a slice
        lowered = text.lower()
        spans = [m.span() for m in TOKEN.finditer(text)]
        return [Token(start, end, lowered[start:end]) for start, end in spans]
    return [Token(m.start(), m.end(), token_norm(m.group())) for m in TOKEN.finditer(text)]


def sentence_breaks(
    text: str, tokens: list[Token], rules: SentenceRules, extra: Iterable[int] = ()
) -> list[int]:
    """Offsets where a new unit starts (sorted, without 0), from line structure and
    punctuation; ``extra`` adds known boundaries such as section headings."""
    breaks = set(extra)
    _line_breaks(text, breaks)
    # the norm of ";" ".!?" is itself: a cheap pre-check, so the loop sees only marks
    marks = [index for index, tok in enumerate(tokens) if tok.norm in _BREAK_MARKS]
    for index in marks:
        tok = tokens[index]
        ch = text[tok.start : tok.end]
        if ch == ";" and rules.semicolon_ends_sentence:
            breaks.add(tok.end)
        elif ch in ".!?":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None:
                continue
            if following.start == tok.end:  # "b.i.d", "3.5", "e.g."
                continue
            if (
                ch == "?"
                and (tok.start == 0 or text[tok.start - 1].isspace())
                and following.norm not in ANSWER_WORDS  # "Fever ? no.": a question asked
            ):
                continue  # a doubt before a word opens its item: "HTN. ? CHF"
            previous = tokens[index - 1].norm if index else ""
            if ch == "." and _is_abbreviation(text, tokens, index, rules):
                continue
            if ch == "." and previous.isdigit() and _starts_line(text, tokens[index - 1].start):
                continue  # a numbered list marker: "1. CHF"
            nxt = text[following.start]
            if nxt.isupper() or nxt.isdigit() or not nxt.isalpha() or previous.isdigit():
                breaks.add(tok.end)
    breaks.discard(0)
    return sorted(b for b in breaks if 0 < b < len(text))


def _line_breaks(text: str, breaks: set[int]) -> None:
    pos = text.find("\n")
    while pos != -1:
        nxt = pos + 1
        rest = text[nxt : nxt + 8]
        stripped = rest.lstrip(" \t")
        continues_prose = bool(stripped) and stripped[0].islower()
        if not continues_prose or _LIST_ITEM.match(text, nxt):
            breaks.add(nxt)
        pos = text.find("\n", nxt)


def _starts_line(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return not text[line_start:offset].strip()


def _is_abbreviation(text: str, tokens: list[Token], index: int, rules: SentenceRules) -> bool:
    """True when the period at ``tokens[index]`` closes an abbreviation ("Dr.", "b.i.d.")."""
    # Rebuild the dotted word that ends here: "b.i.d" from tokens b . i . d
    parts: list[str] = []
    i = index - 1
    while i >= 0:
        tok = tokens[i]
        parts.append(tok.norm)
        if i == 0 or tokens[i - 1].end != tok.start:
            break
        i -= 1
    word = "".join(reversed(parts))
    return word in rules.abbreviations or (len(word) == 1 and word.isalpha())


def sentences(text: str, tokens: list[Token], breaks: list[int]) -> list[Sentence]:
    """Group tokens into units between consecutive breaks; units without tokens are dropped."""
    units: list[Sentence] = []
    bounds = [*breaks, len(text) + 1]
    b = 0
    first = 0
    for index, tok in enumerate(tokens):
        while tok.start >= bounds[b]:
            if index > first:
                units.append(_unit(tokens, first, index))
            first = index
            b += 1
    if len(tokens) > first:
        units.append(_unit(tokens, first, len(tokens)))
    return units


def _unit(tokens: list[Token], first: int, last: int) -> Sentence:
    return Sentence(tokens[first].start, tokens[last - 1].end, first, last)
