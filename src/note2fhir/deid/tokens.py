"""Tokens of a note and the small questions the de-identification rules ask of them."""

from __future__ import annotations

from collections.abc import Iterable

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


CUE_PUNCTUATION = frozenset({":", ",", "?", "-", '"', "“"})
"""Punctuation skipped after a name cue ("Name: Boyle", "last name? Boyle")."""


def cues_by_last_word(cues: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Multi-word cues as token tuples, filed by their last token, longest first."""
    tokenised = sorted({tuple(TOKEN.findall(c.lower())) for c in cues}, key=len, reverse=True)
    by_last: dict[str, list[tuple[str, ...]]] = {}
    for cue in tokenised:
        by_last.setdefault(cue[-1], []).append(cue)
    return {last: tuple(found) for last, found in by_last.items()}


def after_cues(
    tokens: list[Tok], by_last: dict[str, tuple[tuple[str, ...], ...]], *, skip_is: bool
) -> set[int]:
    """Indexes of the tokens right after a cue of ``by_last`` (see :func:`cues_by_last_word`),
    cue punctuation skipped, at most 6 characters on; with ``skip_is`` an "is" after a cue
    that does not end in it is skipped too ("Name is Boyle")."""
    out: set[int] = set()
    n = len(tokens)
    for i, tok in enumerate(tokens):
        cues = by_last.get(tok.low)
        if cues is None:
            continue
        for cue in cues:
            size = len(cue)
            if i + 1 < size or tuple(t.low for t in tokens[i + 1 - size : i + 1]) != cue:
                continue
            j = i + 1
            while j < n and tokens[j].text in CUE_PUNCTUATION:
                j += 1
            if skip_is and j < n and tokens[j].low == "is" and cue[-1] != "is":
                j += 1
            if j < n and gap(tokens, i, j) <= 6:
                out.add(j)
            break
    return out
