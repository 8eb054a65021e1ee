"""The durable work queue: jobs survive a restart, and a job whose worker dies is retried.

Delivery is at-least-once: a worker *claims* a job for a lease (visibility timeout); if it
completes the job in time the job is deleted, if it dies (SIGKILL, power loss) the lease
runs out and another worker claims the job again.  Processing must therefore be idempotent,
which write-back is (conditional creates on the target server).  A job that fails is put
back with a delay (exponential backoff, chosen by the worker); after the last attempt it
moves to the dead-letter table, from which an operator can replay it.

:class:`JobQueue` is the interface; :class:`SQLiteQueue` the default backend (one file,
WAL mode, shared safely by every gunicorn worker process on the machine).  A PostgreSQL
backend fits the same interface (claim with ``SELECT ... FOR UPDATE SKIP LOCKED``).

Payloads hold FHIR resources and so PHI: the queue file belongs in a protected data folder,
and nothing here logs a payload.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from note2fhir.settings import Settings

Clock = Callable[[], float]
MAX_ERROR_CHARS = 200


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: what to do (``kind``, ``payload``) and how often it was tried."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    """Claims so far, this one included."""
    lease: str
    """Token of this claim; completing or retrying with a stale token does nothing."""
    dedupe_key: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job that used up its attempts, with the last (PHI-free) error."""

    id: int
    job_id: int
    kind: str
    dedupe_key: str | None
    attempts: int
    last_error: str
    created_at: float
    failed_at: float

    def summary(self) -> dict[str, Any]:
        """The dead letter as JSON for the admin endpoint (the payload is not included)."""
        return {
            "id": self.id,
            "jobId": self.job_id,
            "kind": self.kind,
            "key": self.dedupe_key,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "created": _iso(self.created_at),
            "failed": _iso(self.failed_at),
        }


class QueueError(Exception):
    """The queue's storage cannot be reached or used (a safe message, no payload)."""


class JobQueue(ABC):
    """What the receiver, the worker and the admin endpoints need from a queue backend."""

    @abstractmethod
    def enqueue(self, kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> int:
        """Store a job and return its id.

        A job with the same ``dedupe_key`` that is waiting (not claimed) is updated in place
        with the newer payload instead, so a burst of notifications for one note is
        processed once, with its latest version.
        """

    @abstractmethod
    def claim(self, lease_s: float) -> Job | None:
        """Take the next due job for ``lease_s`` seconds, or None when none is due."""

    @abstractmethod
    def complete(self, job: Job) -> bool:
        """Delete a finished job; False when the lease was lost (another claim took it)."""

    @abstractmethod
    def retry(self, job: Job, *, delay_s: float, error: str) -> bool:
        """Put a failed job back, due after ``delay_s``; False when the lease was lost."""

    @abstractmethod
    def dead_letter(self, job: Job, *, error: str) -> int | None:
        """Move a job to the dead-letter table; its id, or None when the lease was lost."""

    @abstractmethod
    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, newest first."""

    @abstractmethod
    def replay(self, dead_letter_id: int) -> int | None:
        """Queue a dead letter again with fresh attempts; the new job id, or None if unknown."""

    @abstractmethod
    def depth(self) -> int:
        """Jobs waiting or running (not dead letters)."""

    @abstractmethod
    def dead_letter_count(self) -> int:
        """How many dead letters there are."""

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`QueueError` unless the storage answers (for readiness)."""

    @abstractmethod
    def get_state(self, key: str) -> str | None:
        """A small durable value (the subscription search watermark)."""

    @abstractmethod
    def set_state(self, key: str, value: str) -> None:
        """Store a small durable value."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease TEXT,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (available_at, id);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    created_at REAL NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SQLiteQueue(JobQueue):
    """The queue in one SQLite file; safe across threads and processes on one machine.

    Each thread (and each process after a fork) opens its own connection; claims take the
    write lock (``BEGIN IMMEDIATE``) so two workers never get the same job.
    """

    def __init__(self, path: Path, *, clock: Clock = time.time, busy_timeout_s: float = 10.0):
        self.path = path
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A short-lived connection: under gunicorn's preload the app is built in the
            # master, and a connection must never be carried across a fork.
            conn = self._open()
            try:
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise QueueError(f"cannot open the queue database ({type(exc).__name__})") from None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged notification must survive a crash of the machine, too.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        pid = os.getpid()
        if conn is None or getattr(self._local, "pid", None) != pid:
            # After a fork the inherited connection is left alone (kept referenced, never
            # closed: closing it in the child could drop the child's own file locks).
            conn = self._open()
            self._local.conn = conn
            self._local.pid = pid
            with self._lock:
                self._connections.append((pid, conn))
        return conn

    @contextmanager
    def _transaction(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise QueueError(f"queue database error ({type(exc).__name__})") from None

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> int:
        """Store a job (or refresh the waiting one with the same key); its id."""
        body = json.dumps(payload, separators=(",", ":"))
        now = self.clock()
        with self._transaction() as conn:
            if dedupe_key is not None:
                row = conn.execute(
                    "SELECT id FROM jobs WHERE dedupe_key = ? AND kind = ? AND lease IS NULL "
                    "ORDER BY id LIMIT 1",
                    (dedupe_key, kind),
                ).fetchone()
                if row is not None:
                    conn.execute("UPDATE jobs SET payload = ? WHERE id = ?", (body, row[0]))
                    return int(row[0])
            cursor = conn.execute(
                "INSERT INTO jobs (kind, payload, dedupe_key, available_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, body, dedupe_key, now, now),
            )
            return int(cursor.lastrowid or 0)

    def claim(self, lease_s: float) -> Job | None:
        """Take the oldest due job (waiting, backed off and due, or with an expired lease)."""
        now = self.clock()
        lease = uuid.uuid4().hex
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, kind, payload, dedupe_key, attempts, created_at FROM jobs "
                "WHERE available_at <= ? ORDER BY available_at, id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET lease = ?, available_at = ?, attempts = attempts + 1 WHERE id = ?",
                (lease, now + lease_s, row[0]),
            )
        return Job(
            id=int(row[0]),
            kind=str(row[1]),
            payload=json.loads(row[2]),
            dedupe_key=row[3],
            attempts=int(row[4]) + 1,
            lease=lease,
            created_at=float(row[5]),
        )

    def complete(self, job: Job) -> bool:
        """Delete the job if this claim still holds it."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM jobs WHERE id = ? AND lease = ?", (job.id, job.lease)
            )
            return cursor.rowcount > 0

    def retry(self, job: Job, *, delay_s: float, error: str) -> bool:
        """Release the claim and make the job due again after ``delay_s``."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease = NULL, available_at = ?, last_error = ? "
                "WHERE id = ? AND lease = ?",
                (self.clock() + max(0.0, delay_s), _short(error), job.id, job.lease),
            )
            return cursor.rowcount > 0

    def dead_letter(self, job: Job, *, error: str) -> int | None:
        """Move the job, payload included, to the dead-letter table."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT kind, payload, dedupe_key, attempts, created_at FROM jobs "
                "WHERE id = ? AND lease = ?",
                (job.id, job.lease),
            ).fetchone()
            if row is None:
                return None
            cursor = conn.execute(
                "INSERT INTO dead_letters (job_id, kind, payload, dedupe_key, attempts, "
                "last_error, created_at, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, row[0], row[1], row[2], row[3], _short(error), row[4], self.clock()),
            )
            conn.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
            return int(cursor.lastrowid or 0)

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, newest first, without payloads."""
        with self._transaction(immediate=False) as conn:
            rows = conn.execute(
                "SELECT id, job_id, kind, dedupe_key, attempts, last_error, created_at, "
                "failed_at FROM dead_letters ORDER BY id DESC LIMIT ? OFFSET ?",
                (max(0, limit), max(0, offset)),
            ).fetchall()
        return [
            DeadLetter(
                id=int(r[0]),
                job_id=int(r[1]),
                kind=str(r[2]),
                dedupe_key=r[3],
                attempts=int(r[4]),
                last_error=str(r[5]),
                created_at=float(r[6]),
                failed_at=float(r[7]),
            )
            for r in rows
        ]

    def replay(self, dead_letter_id: int) -> int | None:
        """Move a dead letter back into the queue, due now, with its attempts reset."""
        now = self.clock()
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT kind, payload, dedupe_key, created_at FROM dead_letters WHERE id = ?",
                (dead_letter_id,),
            ).fetchone()
            if row is None:
                return None
            cursor = conn.execute(
                "INSERT INTO jobs (kind, payload, dedupe_key, available_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (row[0], row[1], row[2], now, row[3]),
            )
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (dead_letter_id,))
            return int(cursor.lastrowid or 0)

    def depth(self) -> int:
        """Jobs waiting, backed off or running."""
        return self._count("jobs")

    def dead_letter_count(self) -> int:
        """Rows in the dead-letter table."""
        return self._count("dead_letters")

    def _count(self, table: str) -> int:
        with self._transaction(immediate=False) as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(row[0])

    def ping(self) -> None:
        """Run a trivial query; raises :class:`QueueError` when the file is unusable."""
        with self._transaction(immediate=False) as conn:
            conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def get_state(self, key: str) -> str | None:
        """A value from the small key-value table."""
        with self._transaction(immediate=False) as conn:
            row = conn.execute("SELECT value FROM queue_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        """Store a value in the small key-value table."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO queue_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        """Close the connections this process opened."""
        pid = os.getpid()
        with self._lock:
            mine = [conn for owner, conn in self._connections if owner == pid]
            self._connections = [item for item in self._connections if item[0] != pid]
        for conn in mine:
            conn.close()
        self._local = threading.local()


def open_queue(settings: Settings, *, clock: Clock = time.time) -> JobQueue:
    """The queue named by ``settings.queue_url`` (``sqlite:///path``, or a plain path);
    unset means ``<data_dir>/queue.sqlite3``."""
    url = settings.queue_url
    if not url:
        return SQLiteQueue(settings.data_dir / "queue.sqlite3", clock=clock)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////absolute/path.db
        rest = unquote(url[len("sqlite://") :])
        if not rest.startswith("/") or len(rest) < 2:
            raise QueueError("queue_url must look like sqlite:///path/to/queue.sqlite3")
        return SQLiteQueue(Path(rest[1:]), clock=clock)
    if not parts.scheme:
        return SQLiteQueue(Path(url), clock=clock)
    raise QueueError(f"queue_url scheme {parts.scheme!r} is not supported (use sqlite:///path)")


def _short(error: str) -> str:
    return error[:MAX_ERROR_CHARS]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
