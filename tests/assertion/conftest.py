"""Fixtures for the assertion tests: run sections → sentences → targets → assertion on a
snippet whose mentions are marked ``[[like this]]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import note2fhir.assertion.stage  # noqa: F401 - registers the "assertion" stage
from note2fhir.document import ClinicalDocument, Entity, SourceRef, TargetSpan
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)
STAGES = ["sections", "sentences", "targets", "assertion"]


def marked(text: str) -> tuple[str, list[TargetSpan]]:
    """The text without ``[[`` ``]]`` marks, and the spans they marked."""
    plain: list[str] = []
    spans: list[TargetSpan] = []
    pos = 0
    length = 0
    while True:
        open_at = text.find("[[", pos)
        if open_at < 0:
            plain.append(text[pos:])
            break
        close_at = text.index("]]", open_at)
        plain.append(text[pos:open_at])
        length += open_at - pos
        mention = text[open_at + 2 : close_at]
        plain.append(mention)
        spans.append(TargetSpan(length, length + len(mention)))
        length += len(mention)
        pos = close_at + 2
    return "".join(plain), spans


@pytest.fixture(scope="session")
def annotate() -> Callable[..., dict[str, Entity]]:
    """``annotate("Denies [[CP]]", ended_as="negated")`` → {"CP": entity}; keyword arguments
    are options of the assertion stage."""
    pipelines: dict[str, Pipeline] = {}

    def run(text: str, **options: Any) -> dict[str, Entity]:
        key = repr(sorted(options.items()))
        if key not in pipelines:
            settings = load_settings(pipeline=STAGES, stages={"assertion": options})
            pipelines[key] = Pipeline.from_settings(settings)
        plain, spans = marked(text)
        doc = ClinicalDocument(id="n1", source=SOURCE, original_text=plain, targets=spans)
        pipelines[key].run(doc)
        return {entity.text: entity for entity in doc.entities}

    return run
