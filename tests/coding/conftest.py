"""Fixtures of the coding tests: the default pipeline, assertion included, over plain text
(coding rules that read assertions need the whole pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from note2fhir.document import ClinicalDocument, SourceRef
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)
Run = Callable[[str], ClinicalDocument]


@pytest.fixture(scope="module")
def run(terminology_dir: Path) -> Run:
    """The default pipeline over a plain-text note."""
    settings = load_settings(terminology_dir=terminology_dir, terminology_artifact="default")
    pipeline = Pipeline.from_settings(settings)
    return lambda text: pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
