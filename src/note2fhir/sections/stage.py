"""The ``sections`` stage: split a note into sections by their headings."""

from __future__ import annotations

from pydantic import BaseModel

from note2fhir.document import ClinicalDocument, Section
from note2fhir.pipeline import Stage, register_stage
from note2fhir.sections.headings import HeadingMatcher
from note2fhir.settings import Settings


@register_stage
class SectionsStage(Stage):
    """Find headings ("PMH:", "ASSESSMENT AND PLAN") and make each run from its heading to the
    next one.  Text before the first heading belongs to no section."""

    name = "sections"
    assigns = frozenset({"sections"})

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.matcher = HeadingMatcher.default()

    def process(self, doc: ClinicalDocument) -> None:
        """Assign ``doc.sections``."""
        headings = self.matcher.find(doc.text)
        sections = []
        for index, heading in enumerate(headings):
            end = headings[index + 1].start if index + 1 < len(headings) else len(doc.text)
            sections.append(
                Section(
                    start=heading.start,
                    end=end,
                    name=heading.kind.name,
                    title=heading.kind.title,
                    heading_end=heading.heading_end,
                )
            )
        doc.sections = sections
