"""Building: atomic replacement, the one-time automatic build under a lock, bad inputs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from note2fhir.document import EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import load_settings
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore, default_store
from terminology import build, recipe
from terminology.writer import ArtifactWriter


class FakeLoaders:
    """Stands in for the real loaders: one concept per build, named by the build number."""

    def __init__(self, *, fail_on: int | None = None, delay: float = 0.0) -> None:
        self.builds = 0
        self.fail_on = fail_on
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, writer: ArtifactWriter, source: str, path: Path | None, **_: object) -> None:
        if source != "icd10cm":
            return
        with self.lock:
            self.builds += 1
            number = self.builds
        time.sleep(self.delay)
        if number == self.fail_on:
            raise RuntimeError("loader failed")
        with writer.source("icd10cm", version=str(number), license="t", description="t") as src:
            cid = src.concept("icd10cm:I10", f"build {number}", EntityType.PROBLEM)
            src.code(cid, ICD10CM, "I10", f"build {number}")


def _version(folder: Path) -> str:
    with TerminologyStore.open(folder) as store:
        return str(store.info()["sources"][0]["version"])


def test_failed_build_leaves_the_old_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaders = FakeLoaders(fail_on=2)
    monkeypatch.setattr(build, "_load", loaders)
    target = tmp_path / "default"
    manifest = build.build_artifact(target)
    assert manifest["sources"][0]["version"] == "1"
    with pytest.raises(RuntimeError, match="loader failed"):
        build.build_artifact(target)
    assert _version(target) == "1"
    build.build_artifact(target)
    assert _version(target) == "3"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".default.lock", "default"]


def test_default_store_builds_once_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaders = FakeLoaders(delay=0.3)
    monkeypatch.setattr(build, "_load", loaders)
    settings = load_settings(terminology_dir=tmp_path / "terms")
    messages: list[str] = []
    lock = threading.Lock()

    def progress(message: str) -> None:
        with lock:
            messages.append(message)

    def open_store() -> str:
        return default_store(settings, progress=progress).codes_of("icd10cm:I10")[0].display

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loaders.builds == 1
    assert open_store() == "build 1"
    announced = [m for m in messages if m.startswith("building the open terminology")]
    assert len(announced) == 1
    assert "one time, about" in announced[0]


def test_default_store_logs_when_no_progress_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(build, "_load", FakeLoaders())
    default_store(load_settings(terminology_dir=tmp_path))
    assert "building the open terminology (one time" in caplog.text


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ({"umls": Path("/no/such/META")}, "umls: /no/such/META is not an existing folder"),
        ({"loinc": Path("/no/Loinc.csv")}, "loinc: /no/Loinc.csv is not an existing file"),
        ({"open_sources": ("icd10cm", "mesh")}, "mesh: not an open source"),
        ({"open_sources": ("curated",)}, "curated: needs icd10cm"),
    ],
)  # fmt: skip
def test_bad_sources_are_refused_before_writing(
    tmp_path: Path, option: dict[str, object], fragment: str
) -> None:
    with pytest.raises(Note2FhirError) as info:
        build.build_artifact(tmp_path / "x", **option)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.TERMINOLOGY_SOURCE_INVALID
    assert fragment in info.value.message
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_an_artifact_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "default"
    target.mkdir()
    (target / "notes.txt").write_text("someone's files", encoding="utf-8")
    with pytest.raises(Note2FhirError) as info:
        build.build_artifact(target, open_sources=("icd10cm",))
    assert info.value.code is ErrorCode.TERMINOLOGY_INVALID
    assert (target / "notes.txt").exists()


def test_a_missing_open_builder_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(build._LOADERS, "hpo", ("terminology.sources.no_such_module", "load"))
    monkeypatch.setitem(build._LOADERS, "icd10cm", ("terminology.sources.no_such_module", "x"))
    messages: list[str] = []
    manifest = build.build_artifact(
        tmp_path / "a", open_sources=("icd10cm", "hpo"), progress=messages.append
    )
    assert manifest["sources"] == []
    assert "hpo: skipped (builder not installed)" in messages


def test_an_out_of_date_open_default_is_rebuilt_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaders = FakeLoaders()
    monkeypatch.setattr(build, "_load", loaders)
    settings = load_settings(terminology_dir=tmp_path)
    messages: list[str] = []
    default_store(settings, progress=messages.append)
    manifest = build.read_manifest(settings.terminology_artifact_path)
    assert manifest["recipe"] == recipe.open_recipe()
    default_store(settings, progress=messages.append)
    assert loaders.builds == 1  # current: opened as it is
    # an upgrade: this installation would build the open sources differently
    monkeypatch.setattr(recipe, "open_recipe", lambda: "0123456789abcdef")
    monkeypatch.setattr(build, "open_recipe", lambda: "0123456789abcdef")
    assert default_store(settings, progress=messages.append).codes_of("icd10cm:I10")[0].display == (
        "build 2"
    )
    assert any("built by another version; rebuilding" in m for m in messages)
    default_store(settings, progress=messages.append)
    assert loaders.builds == 2


def test_an_artifact_with_a_licensed_release_is_never_rebuilt() -> None:
    manifest = {"sources": [{"name": "icd10cm"}, {"name": "umls"}], "recipe": None}
    assert not recipe.is_stale_open_build(manifest, build.OPEN_SOURCES)
    assert recipe.is_stale_open_build({"sources": [{"name": "icd10cm"}]}, build.OPEN_SOURCES)


def test_an_unreadable_manifest_is_never_called_stale() -> None:
    assert not recipe.is_stale_open_build({}, build.OPEN_SOURCES)
    assert not recipe.is_stale_open_build({"sources": []}, build.OPEN_SOURCES)


def test_a_rebuild_that_cannot_write_keeps_the_old_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(build, "_load", FakeLoaders())
    settings = load_settings(terminology_dir=tmp_path)
    default_store(settings)
    monkeypatch.setattr(recipe, "open_recipe", lambda: "0123456789abcdef")

    def read_only(*_: object, **__: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(build, "rebuild_if_stale", read_only)
    store = default_store(settings)
    assert store.codes_of("icd10cm:I10")[0].display == "build 1"
    assert "could not be rebuilt (PermissionError)" in caplog.text


def test_auto_rebuild_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaders = FakeLoaders()
    monkeypatch.setattr(build, "_load", loaders)
    settings = load_settings(terminology_dir=tmp_path, terminology_auto_rebuild=False)
    default_store(settings)
    monkeypatch.setattr(recipe, "open_recipe", lambda: "0123456789abcdef")
    monkeypatch.setattr(build, "open_recipe", lambda: "0123456789abcdef")
    default_store(settings)
    assert loaders.builds == 1
