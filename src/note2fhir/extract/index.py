"""An in-memory index of the terminology store's names, so that scanning a note costs no SQL
per word window: only windows whose normalised text (or word bag) is a known name go to the
store for candidates.

Built once per process from the artifact's SQLite file (about a second and some tens of MB for
the open default; see the stage docstring for measured figures).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from note2fhir.terminology.schema import DB_FILE

log = logging.getLogger(__name__)

# No DISTINCT: de-duplicating in Python is twice as fast as SQLite's temporary B-tree.
_NAMES = (
    "SELECT t.norm, t.bag FROM terms t"
    " WHERE t.cid IN (SELECT cid FROM concepts WHERE entity_type IS NOT NULL)"
)


@dataclass(slots=True)
class TermIndex:
    """Normalised names up to ``max_words`` words, their word bags, per first word the
    longest name that starts with it, and per word the sizes of the bags that hold it."""

    max_words: int
    names: set[str] = field(default_factory=set)
    bags: set[str] = field(default_factory=set)
    longest: dict[str, int] = field(default_factory=dict)
    bag_sizes: dict[str, int] = field(default_factory=dict)
    """Per word, bit k set when a word bag of k words holds it: a window whose words share no
    bag size equal to their number is no bag, without sorting and joining it."""
    vocabulary: set[str] = field(default_factory=set)
    build_seconds: float = 0.0

    @classmethod
    def from_artifact(cls, folder: Path, *, max_words: int, max_bag_words: int) -> TermIndex:
        """Read every typed name of the artifact in ``folder`` (opened read-only)."""
        started = time.perf_counter()
        index = cls(max_words=max_words)
        db = sqlite3.connect(f"{(folder / DB_FILE).resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = index.names
            for norm, bag in db.execute(_NAMES):
                if norm in names:
                    continue
                words = norm.split(" ")
                if len(words) > max_words:
                    continue
                index.add(norm, words)
                if 2 <= len(words) <= max_bag_words and bag:
                    index.add_bag(bag)
        finally:
            db.close()
        index.build_seconds = time.perf_counter() - started
        log.info(
            "term index: %s names, %s bags, %s words in %.2f s",
            len(index.names),
            len(index.bags),
            len(index.vocabulary),
            index.build_seconds,
        )
        return index

    def add_bag(self, bag: str) -> None:
        """Add one word bag (sorted distinct words, as the store's ``bag`` column)."""
        if bag in self.bags:
            return
        self.bags.add(bag)
        parts = bag.split(" ")
        bit = 1 << len(parts)
        sizes = self.bag_sizes
        for part in parts:
            sizes[part] = sizes.get(part, 0) | bit

    def add(self, norm: str, words: list[str] | None = None) -> None:
        """Add one normalised name."""
        parts = words if words is not None else norm.split(" ")
        self.names.add(norm)
        first = parts[0]
        if self.longest.get(first, 0) < len(parts):
            self.longest[first] = len(parts)
        self.vocabulary.update(parts)
