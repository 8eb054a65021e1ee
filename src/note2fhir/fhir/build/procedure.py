"""Procedure: one per procedure concept and status, e.g. "s/p appendectomy" →
Procedure(completed); "no colonoscopy" → ``not-done``; "plan: colonoscopy" → ``preparation``;
an uncertain mention ("? prior CABG") → ``unknown``.  A relative's procedure makes none.
"""

from __future__ import annotations

from note2fhir.document import Entity
from note2fhir.fhir.build.common import (
    base_resource,
    compact,
    encounter_reference,
    finish,
    group_concept,
    mention_text,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup


def procedure_status(entity: Entity) -> str | None:
    """The R4 Procedure status of a procedure mention (None: no resource)."""
    assertion = entity.assertion
    if assertion.family:
        return None
    if assertion.negated:
        return "not-done"
    if assertion.hypothetical:
        return "preparation"
    if assertion.uncertain:
        return "unknown"
    return "completed"


def build_procedure(ctx: BuildContext, group: MentionGroup) -> Built:
    """The Procedure of a group of procedure mentions."""
    summary = f"{mention_text(ctx.doc, group.first)} ({group.status})"
    resource = base_resource(ctx, "Procedure", group, summary)
    resource.update(
        compact(
            {
                "status": group.status,
                "code": group_concept(ctx, group),
                "subject": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)
