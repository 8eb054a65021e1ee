"""Build a terminology artifact from the open sources and any licensed releases given.

>>> # build_artifact(Path("~/.local/share/note2fhir/terminology/default"))          # open default
>>> # build_artifact(target, umls=Path("2025AB/META"), loinc=Path("Loinc.csv"))

The artifact is written into a temporary folder beside the target and renamed into place
only when every source loaded, so an older artifact survives a failed build and a reader never
sees half of one.  A file lock keeps two processes from building the same artifact at once.
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.terminology.locking import artifact_lock
from note2fhir.terminology.schema import DB_FILE, DEFAULT_ARTIFACT, MANIFEST_FILE
from terminology.recipe import is_stale_open_build, open_recipe
from terminology.writer import ArtifactWriter

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

OPEN_SOURCES: tuple[str, ...] = ("icd10cm", "icd10pcs", "hpo", "drugs", "curated")
"""Sources that ship with note2fhir's dependencies: the default build."""

LICENSED_SOURCES: tuple[str, ...] = ("snomed", "rxnorm", "loinc", "umls")
"""Sources built only from a release the user supplies (a folder, or LOINC's table file)."""

BUILD_ORDER: tuple[str, ...] = (
    "icd10cm", "icd10pcs", "snomed", "rxnorm", "loinc", "umls", "hpo", "drugs", "curated",
)  # fmt: skip
"""Classifications first, then the licensed releases, then the open lexicons; the curated
layer last, because it attaches to concepts other sources made."""

_LOADERS: dict[str, tuple[str, str]] = {
    name: (f"terminology.sources.{name}", f"load_{name}") for name in BUILD_ORDER
}
_NEEDS: dict[str, str] = {"curated": "icd10cm"}


def build_artifact(
    target_dir: Path,
    *,
    name: str = DEFAULT_ARTIFACT,
    umls: Path | None = None,
    snomed: Path | None = None,
    rxnorm: Path | None = None,
    loinc: Path | None = None,
    open_sources: Sequence[str] = OPEN_SOURCES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build the artifact folder ``target_dir`` (recorded as ``name``) and return its manifest.

    ``umls``/``snomed``/``rxnorm`` are release folders and ``loinc`` the LOINC table file; a
    missing one raises TERMINOLOGY_SOURCE_INVALID before anything is written.  An existing
    artifact at ``target_dir`` is replaced only after the new one is complete.
    """
    licensed = {"umls": umls, "snomed": snomed, "rxnorm": rxnorm, "loinc": loinc}
    plan = _plan(licensed, open_sources)  # bad input fails before anything is created
    with artifact_lock(target_dir):
        return _build(target_dir, name=name, plan=plan, progress=progress)


def build_if_missing(
    target_dir: Path,
    *,
    name: str = DEFAULT_ARTIFACT,
    progress: Progress | None = None,
    announce: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Build the open default unless it exists once the lock is held (another process may
    have built it meanwhile); return the manifest, or None when nothing was built."""
    with artifact_lock(target_dir):
        if (target_dir / DB_FILE).is_file():
            return None
        if announce is not None:
            announce()
        return _build(target_dir, name=name, plan=_plan({}, OPEN_SOURCES), progress=progress)


def rebuild_if_stale(
    target_dir: Path,
    *,
    name: str = DEFAULT_ARTIFACT,
    progress: Progress | None = None,
    announce: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Rebuild an open-only artifact whose recipe is not this installation's (see
    :mod:`terminology.recipe`), once the lock is held; return the new manifest, or None when
    it was current (another process may have rebuilt it meanwhile)."""
    with artifact_lock(target_dir):
        if not is_stale_open_build(read_manifest(target_dir), OPEN_SOURCES):
            return None
        if announce is not None:
            announce()
        return _build(target_dir, name=name, plan=_plan({}, OPEN_SOURCES), progress=progress)


def read_manifest(target_dir: Path) -> dict[str, Any]:
    """The artifact's manifest, or an empty one when it cannot be read."""
    try:
        loaded = json.loads((target_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _build(
    target_dir: Path,
    *,
    name: str,
    plan: list[tuple[str, Path | None]],
    progress: Progress | None,
) -> dict[str, Any]:
    say = progress or (lambda message: log.info("%s", message))
    _check_target(target_dir)
    parent = target_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{target_dir.name}.building-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a crashed build's; we hold the lock
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.building-", dir=parent))
    try:
        writer = ArtifactWriter(tmp)
        try:
            for source, path in plan:
                _load(writer, source, path, licensed=source in LICENSED_SOURCES, say=say)
            say("writing indexes and the approximate-match index")
            open_only = all(source in OPEN_SOURCES for source, _ in plan)
            manifest = writer.close(artifact_name=name, recipe=open_recipe() if open_only else None)
        finally:
            writer.db.close()  # a no-op after close(); releases the file after a failure
        _swap(tmp, target_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in target_dir.rglob("*") if p.is_file())
    say(f"built {target_dir} ({size / 2**20:.0f} MiB) in {time.monotonic() - started:.0f} s")
    return manifest


def _plan(
    licensed: dict[str, Path | None], open_sources: Sequence[str]
) -> list[tuple[str, Path | None]]:
    unknown = [s for s in open_sources if s not in OPEN_SOURCES]
    if unknown:
        raise _invalid(unknown[0], f"not an open source; choose from {', '.join(OPEN_SOURCES)}")
    for source, path in licensed.items():
        if path is None:
            continue
        # LOINC is the Loinc.csv table or the release folder that holds it.
        is_ok = path.exists() if source == "loinc" else path.is_dir()
        if not is_ok:
            kind = "file or folder" if source == "loinc" else "folder"
            raise _invalid(source, f"{path} is not an existing {kind}")
    wanted = set(open_sources) | {s for s, p in licensed.items() if p is not None}
    for source, needed in _NEEDS.items():
        if source in wanted and needed not in wanted:
            raise _invalid(source, f"needs {needed} in the same build")
    return [(s, licensed.get(s)) for s in BUILD_ORDER if s in wanted]


def _load(
    writer: ArtifactWriter, source: str, path: Path | None, *, licensed: bool, say: Progress
) -> None:
    module_name, function_name = _LOADERS[source]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        if licensed:
            raise _invalid(source, "its builder is not installed") from None
        log.warning("skipping %s: its builder %s is not installed", source, module_name)
        say(f"{source}: skipped (builder not installed)")
        return
    loader: Callable[..., None] = getattr(module, function_name)
    say(f"{source}: loading" + (f" {path}" if path is not None else ""))
    started = time.monotonic()
    if path is None:
        loader(writer)
    else:
        loader(writer, path)
    row = writer.db.execute("SELECT concepts, terms FROM sources WHERE name = ?", (source,))
    counts = row.fetchone() or (0, 0)
    say(
        f"{source}: {counts[0]:,} concepts, {counts[1]:,} terms "
        f"({time.monotonic() - started:.1f} s)"
    )


def _check_target(target_dir: Path) -> None:
    """Refuse to replace a folder that is not an artifact (it may hold someone's files)."""
    if not target_dir.exists():
        return
    is_artifact = (target_dir / DB_FILE).is_file() or (target_dir / MANIFEST_FILE).is_file()
    if not target_dir.is_dir() or not (is_artifact or not any(target_dir.iterdir())):
        raise Note2FhirError(
            ErrorCode.TERMINOLOGY_INVALID,
            path=str(target_dir),
            reason="it exists and is not a terminology artifact; it is not replaced",
        )


def _swap(tmp: Path, target_dir: Path) -> None:
    """Put the new artifact in place; the old one is moved aside first and deleted after."""
    old: Path | None = None
    if target_dir.exists():
        old = target_dir.with_name(f".{target_dir.name}.old-{uuid.uuid4().hex[:8]}")
        target_dir.rename(old)
    try:
        tmp.rename(target_dir)
    except BaseException:
        if old is not None:
            old.rename(target_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _invalid(source: str, reason: str) -> Note2FhirError:
    return Note2FhirError(ErrorCode.TERMINOLOGY_SOURCE_INVALID, source=source, reason=reason)
