"""Notes with hand-marked mentions, run through sections → sentences → targets → medication.

Mentions are written inline as ``[[M:metoprolol]]`` (M medication, P problem, T test, X
procedure); they become typed targets, so these tests do not depend on an extractor.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import note2fhir.medication.stage  # noqa: F401 - registers the stage
from note2fhir.document import ClinicalDocument
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings


@pytest.fixture(scope="session")
def medication_pipeline() -> Pipeline:
    """sections → sentences → targets → medication."""
    return Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "medication"])
    )


@pytest.fixture
def read(
    medication_pipeline: Pipeline, mark: Callable[[str], ClinicalDocument]
) -> Callable[[str], ClinicalDocument]:
    """Run the medication pipeline over a marked note."""

    def run(marked: str) -> ClinicalDocument:
        return medication_pipeline.run(mark(marked))

    return run
