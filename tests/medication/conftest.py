"""Notes with hand-marked mentions, run through sections → sentences → targets → medication.

Mentions are written inline as ``[[M:metoprolol]]`` (M medication, P problem, T test, X
procedure); they become typed targets, so these tests do not depend on an extractor.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import note2fhir.medication.stage  # noqa: F401 - registers the stage
from note2fhir.document import ClinicalDocument, EntityType, SourceRef, TargetSpan
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)
_MARK = re.compile(r"\[\[([MPTX]):(.*?)\]\]", re.DOTALL)
_TYPES = {
    "M": EntityType.MEDICATION,
    "P": EntityType.PROBLEM,
    "T": EntityType.TEST,
    "X": EntityType.PROCEDURE,
}


def marked_document(marked: str) -> ClinicalDocument:
    """A document whose targets are the ``[[M:...]]`` marks of ``marked``."""
    text = ""
    targets = []
    pos = 0
    for match in _MARK.finditer(marked):
        text += marked[pos : match.start()]
        start = len(text)
        text += match.group(2)
        targets.append(TargetSpan(start, len(text), _TYPES[match.group(1)]))
        pos = match.end()
    text += marked[pos:]
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    doc.targets = targets
    return doc


@pytest.fixture(scope="session")
def medication_pipeline() -> Pipeline:
    """sections → sentences → targets → medication."""
    return Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "medication"])
    )


@pytest.fixture
def read(medication_pipeline: Pipeline) -> Callable[[str], ClinicalDocument]:
    """Run the medication pipeline over a marked note."""

    def run(marked: str) -> ClinicalDocument:
        return medication_pipeline.run(marked_document(marked))

    return run


@pytest.fixture(scope="session")
def mark() -> Callable[[str], ClinicalDocument]:
    """:func:`marked_document`, for tests that run stages themselves."""
    return marked_document
