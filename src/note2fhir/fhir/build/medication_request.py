"""MedicationRequest: the medication output for consumers that read medications as requests
(US Core has no MedicationStatement profile), chosen with the ``medication_resource``
setting.  One per medication concept and status, like the MedicationStatement it replaces.

A note that lists a drug reports it; it orders nothing, so every request has ``intent``
``plan`` and ``reportedBoolean`` true, ``authoredOn`` is the note's date and there is no
``requester`` (the note does not say who prescribed it).  Status comes from the same
assertion rules as the MedicationStatement's: ``active``, ``stopped``, ``on-hold``,
``completed`` (historical), ``unknown`` (uncertain), and ``draft`` for a drug the note plans
to start.  A drug the note says is not taken makes no request: R4 has no request status for
"not taken", and ``doNotPerform`` would say "do not give it", which the note does not.
"""

from __future__ import annotations

from note2fhir.fhir.build.common import (
    base_resource,
    codeable,
    compact,
    dedupe,
    encounter_reference,
    fhir_date_time,
    finish,
    group_concept,
    mention_text,
    ref,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup, linked, linked_groups
from note2fhir.fhir.build.medication_statement import dosage

REQUEST_STATUS = {
    "active": "active",
    "stopped": "stopped",
    "on-hold": "on-hold",
    "intended": "draft",
    "completed": "completed",
    "unknown": "unknown",
}
"""MedicationStatement status → MedicationRequest status; ``not-taken`` has none."""


def request_status(statement_status: str | None) -> str | None:
    """The R4 MedicationRequest status for a MedicationStatement status (None: no resource).

    >>> request_status("intended"), request_status("not-taken")
    ('draft', None)
    """
    return REQUEST_STATUS.get(statement_status or "")


def build_medication_request(ctx: BuildContext, group: MentionGroup) -> Built:
    """The MedicationRequest of a group of medication mentions."""
    dosages = [d for d in dedupe(dosage(m.medication) for m in group.mentions if m.medication) if d]
    sig = next((str(d["text"]) for d in dosages if "text" in d), "")
    name = mention_text(ctx.doc, group.first)
    summary = f"{name}: {sig} ({group.status})" if sig else f"{name} ({group.status})"
    problems = linked(ctx, group, "treats", outgoing=True)
    conditions = linked_groups(ctx, problems, "Condition")
    treated = {m.id for g in conditions for m in g.mentions}
    resource = base_resource(ctx, "MedicationRequest", group, summary)
    resource.update(
        compact(
            {
                "status": group.status,
                "intent": "plan",
                "reportedBoolean": True,
                "medicationCodeableConcept": group_concept(ctx, group),
                "subject": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "authoredOn": fhir_date_time(ctx.context.date),
                "reasonCode": dedupe(
                    codeable(p.selected_codes, mention_text(ctx.doc, p))
                    for p in problems
                    if p.id not in treated
                ),
                "reasonReference": [ref(g.id) for g in conditions],
                "dosageInstruction": dosages,
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)
