"""Text normalisation shared by the terminology builders and every lookup.

``normalize`` keeps word order ("type 2 diabetes mellitus"); ``bag_of_words`` sorts the words
and drops a few function words, so "diabetes mellitus, type 2" finds the same concept.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")

BAG_STOPWORDS = frozenset({"a", "an", "the", "of", "nos", "or"})
"""Words dropped from the bag-of-words key (never "with", "without", "and", "not", "no": they
change the meaning of ICD-10-CM titles)."""


def normalize(text: str) -> str:
    """Lower-case, strip accents, turn punctuation into spaces and collapse them.

    >>> normalize("Diabetes  Mellitus, Type-2 (Disorder)")
    'diabetes mellitus type 2 disorder'
    >>> normalize("Sjögren's syndrome")
    'sjogren s syndrome'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped.lower()).strip()


def bag_of_words(normalized: str) -> str:
    """Sorted, de-duplicated words of a normalised term, without :data:`BAG_STOPWORDS`.

    >>> bag_of_words("diabetes mellitus type 2")
    '2 diabetes mellitus type'
    """
    return " ".join(sorted({w for w in normalized.split() if w not in BAG_STOPWORDS}))
