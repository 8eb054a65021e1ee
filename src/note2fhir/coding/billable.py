"""Whether an ICD-10-CM code may be billed: it exists in the terminology artifact and no other
code there extends it (E11.21 is a leaf, E11 and E11.2 are categories)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from note2fhir.terminology.schema import DB_FILE, ICD10CM

_CACHE_SIZE = 20_000
_EXISTS = "SELECT 1 FROM codes WHERE system = ? AND code = ? LIMIT 1"
_CHILD = "SELECT 1 FROM codes WHERE system = ? AND code > ? AND code < ? LIMIT 1"


class BillableCheck:
    """Leaf test against one artifact (its own read-only connection, opened lazily)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._cache: dict[str, bool] = {}

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

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            uri = f"{(self.folder / DB_FILE).resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._db
