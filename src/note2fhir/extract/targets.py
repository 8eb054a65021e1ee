"""The ``targets`` stage: spans the caller names (in original-text offsets) become entities.

Evaluation of assertion on gold spans needs the entity at exactly the gold span, whatever the
extractor found.  A target overlapping an extracted entity replaces it (keeping its type and
codes); otherwise it becomes a new entity of the target's type (``problem`` when none is given).
"""

from __future__ import annotations

from note2fhir.document import ClinicalDocument, Entity, EntityType
from note2fhir.pipeline import Stage, register_stage


@register_stage
class TargetsStage(Stage):
    """Turn ``doc.targets`` into entities; a document without targets is left as it is."""

    name = "targets"
    requires = frozenset({"targets"})
    assigns = frozenset({"entities"})

    def process(self, doc: ClinicalDocument) -> None:
        """Add one entity per target span."""
        if not doc.targets:
            return
        entities = list(doc.entities)
        for index, target in enumerate(doc.targets):
            # Targets are ORIGINAL offsets (the caller's text); de-identification may have
            # rewritten the working text since.
            start, end = doc.offset_map.working_span(target.start, target.end)
            if end <= start:
                continue
            # Only what the extractor found gives way; earlier targets may nest or overlap.
            overlapping = [
                e for e in entities if e.source != "targets" and e.start < end and start < e.end
            ]
            base = overlapping[0] if overlapping else None
            for ent in overlapping:
                entities.remove(ent)
            section = doc.section_at(start)
            entity = Entity(
                id=f"T{index + 1}",
                start=start,
                end=end,
                text=doc.text[start:end],
                type=target.type or (base.type if base else EntityType.PROBLEM),
                section=section.name if section else None,
                source="targets",
            )
            if base is not None:
                entity.codes = list(base.codes)
                entity.medication = base.medication
                entity.value = base.value
            entities.append(entity)
        doc.entities = sorted(entities, key=lambda e: (e.start, e.end))
