"""Tokens of a note and the small questions the de-identification rules ask of them."""

from __future__ import annotations

import regex

TOKEN = regex.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_])){0,40}|\d{1,40}|\S")
"""A word (letters, inner apostrophes and hyphens), a number, or one other character."""


class Tok:
    """A token of the note; ``alpha`` (starts with a letter) and ``title`` ("Rizzo", not
    "RIZZO") are worked out once, as the rules ask them of every token many times."""

    __slots__ = ("alpha", "end", "low", "start", "text", "title")

    def __init__(self, start: int, end: int, text: str, low: str) -> None:
        self.start = start
        self.end = end
        self.text = text
        self.low = low
        first = text[0]
        self.alpha = first.isalpha()
        self.title = first.isupper() and not text.isupper()


def style(tok: Tok) -> str:
    """How a word is capitalised: "upper", "title" ("Rizzo", "McDonald"), "lower" or "mixed"."""
    text = tok.text
    if text.isupper():
        return "upper"
    if text.islower():
        return "lower"
    return "title" if text[0].isupper() else "mixed"


def gap(tokens: list[Tok], a: int, b: int) -> int:
    """Characters between two tokens (a before b)."""
    return tokens[b].start - tokens[a].end


def same_line(text: str, a: int, b: int) -> bool:
    """Is there no line break between offsets ``a`` and ``b``?"""
    return "\n" not in text[a:b]


def unpossessed(tok: Tok) -> int:
    """Where a name ending with ``tok`` ends, without a possessive ending ("Yefremova's")."""
    return tok.end - 2 if tok.low.endswith(("'s", "’s")) else tok.end


def base(low: str) -> str:
    """A word without its possessive ending ("bowen's" → "bowen")."""
    return low[:-2] if low.endswith(("'s", "’s")) else low


def is_initial(tokens: list[Tok], j: int) -> bool:
    """Is ``tokens[j]`` a capital initial ("M" in "Stephan M Urner", "F." in "Stefanie F.")?"""
    tok = tokens[j]
    return tok.alpha and len(tok.text) == 1 and tok.text.isupper()
