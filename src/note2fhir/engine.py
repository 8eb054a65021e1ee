"""The engine: reading input, running the pipeline and building FHIR, for the CLI and service.

One :class:`Engine` is built per process from the settings (the pipeline and its data load
once) and used for every document.  Failures come back in place of results, so one bad
document in a batch never stops the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from note2fhir import __version__
from note2fhir.annotations import document_annotations
from note2fhir.assertion.stage import AssertionStage
from note2fhir.document import ClinicalDocument
from note2fhir.errors import Note2FhirError
from note2fhir.fhir.build import build_bundle
from note2fhir.fhir.fetch import AttachmentFetcher
from note2fhir.fhir.inputs import iter_documents
from note2fhir.fhir.readers import documents_from_resource
from note2fhir.pipeline import Pipeline
from note2fhir.settings import BundleType, Settings
from note2fhir.terminology.schema import MANIFEST_FILE

Clock = Callable[[], datetime]

TERMINOLOGY_STAGES = frozenset({"extract", "coding"})
"""Stages whose output depends on the terminology artifact (named on the Device)."""


def terminology_version(settings: Settings) -> str | None:
    """The artifact's sources and versions, e.g. ``icd10cm 2026 (...); hpo 2025-01-16``:
    what Provenance's Device records, so a code can be traced to its release.  Content, not
    build time, so re-processing with the same releases gives the same output."""
    manifest = settings.terminology_artifact_path / MANIFEST_FILE
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list):
        return None
    return "; ".join(
        f"{src.get('name')} {src.get('version')}" for src in sources if isinstance(src, dict)
    )


def system_clock() -> datetime:
    """The current time with the local UTC offset."""
    return datetime.now().astimezone()


class Engine:
    """Settings, pipeline and attachment fetcher, built once and reused."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.pipeline = Pipeline.from_settings(settings)
        self.assertion = next(
            (stage for stage in self.pipeline.stages if isinstance(stage, AssertionStage)), None
        )
        """The pipeline's assertion stage, which the allergy builder asks about words that
        are no mention ("latex"), with the same options."""
        self.fetcher = AttachmentFetcher(settings)
        fixed = settings.clock
        self.clock: Clock = clock or ((lambda: fixed) if fixed else system_clock)
        self.terminology_version = (
            terminology_version(settings) if self._uses_terminology() else None
        )

    def _uses_terminology(self) -> bool:
        return any(stage.name in TERMINOLOGY_STAGES for stage in self.pipeline.stages)

    def read_paths(self, paths: Sequence[Path]) -> Iterator[ClinicalDocument | Note2FhirError]:
        """Documents from files and folders (FHIR JSON, NDJSON, JSON Lines text records, .txt)."""
        return iter_documents(paths, settings=self.settings, fetcher=self.fetcher)

    def read_resource(
        self, resource: Any, *, location: str
    ) -> Iterator[ClinicalDocument | Note2FhirError]:
        """Documents from one parsed FHIR resource (a Bundle yields one per document entry)."""
        return documents_from_resource(
            resource, location=location, settings=self.settings, fetcher=self.fetcher
        )

    def run(
        self, items: Iterable[ClinicalDocument | Note2FhirError]
    ) -> Iterator[ClinicalDocument | Note2FhirError]:
        """Run the pipeline over documents; failures are passed through in place."""
        return self.pipeline.run_many(items)

    def bundle(
        self, doc: ClinicalDocument, bundle_type: BundleType | None = None
    ) -> dict[str, Any]:
        """The output Bundle of a processed document."""
        return build_bundle(
            doc,
            bundle_type=bundle_type or self.settings.bundle_type,
            settings=self.settings,
            now=self.clock(),
            tool_version=__version__,
            terminology_version=self.terminology_version,
            assertion=self.assertion,
        )

    @staticmethod
    def annotations(doc: ClinicalDocument) -> dict[str, Any]:
        """The ``annotate`` JSON object of a processed document."""
        return document_annotations(doc)
