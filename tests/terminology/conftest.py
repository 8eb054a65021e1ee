"""Fixtures: one small artifact (ICD-10-CM + the curated layer) built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from note2fhir.terminology.store import TerminologyStore
from terminology.build import build_artifact

SMALL = "small"


@pytest.fixture(scope="session")
def small_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<tmp>/terminology/small``: ICD-10-CM and curated synonyms (about 10 s to build)."""
    folder = tmp_path_factory.mktemp("terminology") / SMALL
    build_artifact(folder, name=SMALL, open_sources=("icd10cm", "curated"))
    return folder


@pytest.fixture(scope="session")
def store(small_artifact: Path) -> Iterator[TerminologyStore]:
    """The small artifact, opened read-only."""
    with TerminologyStore.open(small_artifact) as opened:
        yield opened
