"""A per-artifact file lock, so two processes never build the same artifact at once.

The lock file lives beside the artifact folder (``<terminology dir>/.default.lock``) and is
held with ``fcntl.flock``: the kernel releases it when the holder exits, even on a crash.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def lock_path(artifact: Path) -> Path:
    """The lock file of an artifact folder."""
    return artifact.parent / f".{artifact.name}.lock"


@contextmanager
def artifact_lock(artifact: Path) -> Iterator[None]:
    """Hold the artifact's exclusive lock, waiting for another holder to finish.

    Not re-entrant: a process must not take the same artifact's lock twice.  On platforms
    without ``fcntl`` (Windows) there is no lock.
    """
    artifact.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - POSIX only
        yield
        return
    import fcntl  # noqa: PLC0415 - POSIX only

    with lock_path(artifact).open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process that is building %s", artifact)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
