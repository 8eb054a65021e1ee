"""Whether an ICD-10-CM code may be billed: it exists in the terminology artifact and no other
code there extends it (E11.21 is a leaf, E11 and E11.2 are categories)."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from note2fhir.terminology.schema import DB_FILE, ICD10CM

_CACHE_SIZE = 20_000
_UNSEEN = object()
_EXISTS = "SELECT 1 FROM codes WHERE system = ? AND code = ? LIMIT 1"
_CHILD = "SELECT 1 FROM codes WHERE system = ? AND code > ? AND code < ? LIMIT 1"
_CHILDREN = (
    "SELECT DISTINCT code, display FROM codes WHERE system = ? AND code > ? AND code < ?"
    " AND length(code) = ? ORDER BY code"
)
_COMPLICATION = re.compile(
    r"\bwith (?:unspecified |other |other specified )?[\w ,-]*?"
    r"(?:induced (?:\w+ )*?disorders?|complications?)\b",
    re.IGNORECASE,
)
MAX_DEFAULT_DEPTH = 3
"""How many levels :meth:`BillableCheck.unspecified_default` descends at most."""


class BillableCheck:
    """Leaf test against one artifact (its own read-only connection, opened lazily)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._cache: dict[str, bool] = {}
        self._defaults: dict[tuple[str, str], tuple[str, str] | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"])  # type: ignore[misc]

    def __call__(self, code: str) -> bool:
        """True when ``code`` is an ICD-10-CM leaf code of the artifact.

        >>> # check("E11.21") -> True; check("E11") -> False
        """
        known = self._cache.get(code)
        if known is not None:
            return known
        with self._lock:
            db = self._connection()
            exists = db.execute(_EXISTS, (ICD10CM, code)).fetchone() is not None
            leaf = (
                exists and db.execute(_CHILD, (ICD10CM, code, code + "\uffff")).fetchone() is None
            )
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[code] = leaf
        return leaf

    def unspecified_default(self, code: str, display: str) -> tuple[str, str] | None:
        """The billable "unspecified" code under the category ``code``, when the
        classification names exactly one: I50.3 "Diastolic (congestive) heart failure" →
        I50.30 "Unspecified diastolic (congestive) heart failure"; H55.0 → H55.00.  A child
        counts when its title says "unspecified" more often than its parent's; no such child,
        or two, gives None (K29.8 Duodenitis: with or without bleeding is the note's to say).
        Memoised: the artifact is read-only and notes name the same categories again.
        """
        key = (code, display)
        found = self._defaults.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._unspecified_default(code, display)
            if len(self._defaults) >= _CACHE_SIZE:
                self._defaults.clear()
            self._defaults[key] = found
        return found  # type: ignore[return-value]

    def _unspecified_default(self, code: str, display: str) -> tuple[str, str] | None:
        for _ in range(MAX_DEFAULT_DEPTH):
            if self(code):
                return code, display
            width = len(code) + (1 if "." in code else 2)
            with self._lock:
                rows = (
                    self._connection()
                    .execute(_CHILDREN, (ICD10CM, code, code + "\uffff", width))
                    .fetchall()
                )
            wanted = display.lower().count("unspecified")
            found = [
                (str(c), str(d)) for c, d in rows if str(d).lower().count("unspecified") > wanted
            ]
            if len(found) != 1 or _adds_complication(display, found[0][1]):
                return None
            code, display = found[0]
        return (code, display) if self(code) else None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            uri = f"{(self.folder / DB_FILE).resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._db


def _adds_complication(parent: str, child: str) -> bool:
    """Whether ``child``'s title names a complication or induced disorder its parent lacks:
    F15.99 "Other stimulant use, unspecified with unspecified stimulant-induced disorder"
    asserts a disorder the note did not name, so it is no default for F15.9.  "unspecified
    whether with hypoxia" (J96.00), "with unspecified severity" (L97.x09) and "with
    unspecified morphologic changes" (N04.9) add none.

    >>> parent = "Other stimulant use, unspecified"
    >>> _adds_complication(parent, parent + " with unspecified stimulant-induced disorder")
    True
    >>> _adds_complication("Type 2 diabetes mellitus", "... with unspecified complications")
    True
    >>> _adds_complication("Acute respiratory failure", "..., unspecified whether with hypoxia")
    False
    """
    return _COMPLICATION.search(child) is not None and _COMPLICATION.search(parent) is None
