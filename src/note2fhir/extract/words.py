"""Normalised words of a document, built from its tokens so that joining the words of a span
gives exactly ``normalize(span text)`` — the key the terminology store indexes.

Tokens split "DM2" into "DM" + "2" and "type-2" into "type" "-" "2"; ``normalize`` keeps
"dm2" and gives "type 2".  Here adjacent letter/digit tokens are glued back and punctuation
becomes a word break, so the dictionary can be probed without re-normalising text.
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple

from note2fhir.document import ClinicalDocument

_PIECE = re.compile(r"[0-9a-z]+")
_ASCII_UPPER = string.ascii_uppercase.encode("ascii")
_ASCII_LOWER = string.ascii_lowercase.encode("ascii")


class Word(NamedTuple):
    """A normalised word with its working-text span, its sentence and first token."""

    start: int
    end: int
    text: str
    sentence: int
    token: int


def document_words(doc: ClinicalDocument) -> list[Word]:
    """The normalised words of ``doc`` in order (needs ``tokens`` and ``sentences``)."""
    sentence_of = _sentence_index(doc)
    words: list[Word] = []
    glue_end = -1  # end offset of the last piece when it reached its token's end
    for index, token in enumerate(doc.tokens):
        norm = token.norm
        if not norm:  # only combining marks: normalisation deletes them, words run on
            if glue_end == token.start:
                glue_end = token.end
            continue
        if len(norm) == 1 and not norm.isalnum():  # punctuation: a word break, no piece
            glue_end = -1
            continue
        exact = len(norm) == token.end - token.start
        sentence = sentence_of[index]
        if exact and norm.isascii() and norm.isalnum() and (norm.islower() or norm.isdigit()):
            # One piece, the whole token (most words): no pattern search needed.
            if glue_end == token.start and words and words[-1].sentence == sentence:
                last = words[-1]
                words[-1] = Word(last.start, token.end, last.text + norm, sentence, last.token)
            else:
                words.append(Word(token.start, token.end, norm, sentence, index))
            glue_end = token.end
            continue
        for match in _PIECE.finditer(norm):
            if exact:
                start, end = token.start + match.start(), token.start + match.end()
            else:  # accents expanded or ligatures: the piece is somewhere in the token
                start, end = token.start, token.end
            touches_start = match.start() == 0
            if (
                touches_start
                and words
                and glue_end == token.start
                and words[-1].sentence == sentence
            ):
                last = words[-1]
                words[-1] = Word(last.start, end, last.text + match.group(), sentence, last.token)
            else:
                words.append(Word(start, end, match.group(), sentence, index))
            glue_end = token.end if match.end() == len(norm) else -1
        if not _PIECE.search(norm):
            glue_end = -1
    return words


def _sentence_index(doc: ClinicalDocument) -> list[int]:
    """Sentence number of every token; a run of tokens outside any unit (or a document without
    sentences) counts as one more sentence."""
    out = [-1] * len(doc.tokens)
    for number, sentence in enumerate(doc.sentences):
        for i in range(sentence.first_token, min(sentence.last_token, len(out))):
            out[i] = number
    fresh = len(doc.sentences)
    previous = 0
    for i, value in enumerate(out):
        if value < 0:
            if i and previous >= 0:
                fresh += 1
            out[i] = fresh
        previous = value
    return out


def is_upper_written(text: str) -> bool:
    """Whether ``text`` has letters and all of them are capitals ("PE", "HbA1c" is not)."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isupper() for ch in letters)


def mostly_upper(text: str) -> bool:
    """Whether a stretch of text is written in capitals (an ALL CAPS nursing note)."""
    if text.isascii():
        # An ASCII character is upper (lower) case exactly when it is A-Z (a-z); deleting
        # those bytes counts them some 25 times faster than a str method per character.
        raw = text.encode("ascii")
        upper = len(raw) - len(raw.translate(None, _ASCII_UPPER))
        lower = len(raw) - len(raw.translate(None, _ASCII_LOWER))
    else:
        upper = sum(map(str.isupper, text))
        lower = sum(map(str.islower, text))
    return upper > 3 * lower and upper >= 4
