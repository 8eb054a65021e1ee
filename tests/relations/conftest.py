"""Notes with hand-marked mentions, run through sections → sentences → targets → medication →
relations.

Mentions are written inline as ``[[M:metoprolol]]`` (M medication, P problem, T test, X
procedure); they become typed targets, so these tests do not depend on an extractor.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import note2fhir.medication.stage
import note2fhir.relations.stage  # noqa: F401 - both register their stage
from note2fhir.document import ClinicalDocument
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings


@pytest.fixture(scope="session")
def relations_pipeline() -> Pipeline:
    """sections → sentences → targets → medication → relations."""
    return Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "medication", "relations"])
    )


@pytest.fixture(scope="session")
def relate(
    relations_pipeline: Pipeline, mark: Callable[[str], ClinicalDocument]
) -> Callable[[str], list[tuple[str, str, str, str]]]:
    """The relations of a marked note as (type, source text, target text, rule)."""

    def run(marked: str) -> list[tuple[str, str, str, str]]:
        doc = relations_pipeline.run(mark(marked))
        out = []
        for rel in doc.relations:
            source, target = doc.entity(rel.source), doc.entity(rel.target)
            assert source is not None and target is not None
            out.append((rel.type, source.text, target.text, rel.rule))
        return out

    return run
