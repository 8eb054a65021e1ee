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
    compact,
    encounter_reference,
    fhir_date_time,
    finish,
    group_concept,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup
from note2fhir.fhir.build.medication_statement import medication_parts

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
    parts = medication_parts(ctx, group)
    resource = base_resource(ctx, "MedicationRequest", group, parts.summary)
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
                "reasonCode": parts.reason_codes,
                "reasonReference": parts.reason_references,
                "dosageInstruction": parts.dosages,
            }
        )
    )
    return Built(finish(resource), parts.summary, group.mentions)
