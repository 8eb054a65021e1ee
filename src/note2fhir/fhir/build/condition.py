"""Condition: one per problem concept and assertion status, e.g. "denies chest pain" →
Condition(chest pain, verificationStatus refuted).

Assertion → status:

* negated → verificationStatus ``refuted``; clinicalStatus ``inactive`` (R4 con-3 wants a
  clinicalStatus on problem-list items, and ``active`` would put a refuted problem on every
  "active problems" query that forgets to check verificationStatus);
* uncertain → ``unconfirmed``, or ``differential`` when the note weighs it against others;
* historical → clinicalStatus ``inactive``; otherwise ``active``;
* affirmed, certain → no verificationStatus: a note mention is not a clinician's confirmation;
* family and hypothetical mentions make no Condition (family ones make FamilyMemberHistory),
  nor does a normal state ("afebrile", "asymptomatic").

An adverse effect (relation ``causes``: medication → problem) adds the MedicationStatement to
``evidence.detail``; the causal claim itself is an AdverseEvent (see ``adverse_event``).
"""

from __future__ import annotations

from note2fhir.document import NORMAL_STATE_SOURCE, Entity, JSONDict
from note2fhir.fhir.build.common import (
    base_resource,
    coding,
    compact,
    encounter_reference,
    fhir_date_time,
    finish,
    group_concept,
    mention_text,
    ref,
    source_reference,
    status_concept,
    subject_reference,
)
from note2fhir.fhir.build.context import (
    MEDICATION_KINDS,
    BuildContext,
    Built,
    MentionGroup,
    linked,
    linked_groups,
)

CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"

DIAGNOSIS_SECTIONS = frozenset(
    {
        "assessment",
        "assessment_plan",
        "plan",
        "diagnoses",
        "discharge_diagnoses",
        "admission_diagnoses",
        "impression",
    }
)
"""Sections whose problems are the encounter's diagnoses rather than problem-list items."""

_DISPLAYS = {
    "active": "Active",
    "inactive": "Inactive",
    "refuted": "Refuted",
    "unconfirmed": "Unconfirmed",
    "differential": "Differential",
    "encounter-diagnosis": "Encounter Diagnosis",
    "problem-list-item": "Problem List Item",
}


def condition_status(entity: Entity) -> str | None:
    """``clinical`` or ``clinical|verification`` for a problem mention, None when it makes no
    Condition.

    >>> from note2fhir.document import Assertion, EntityType
    >>> condition_status(Entity("e1", 0, 3, "HTN", EntityType.PROBLEM,
    ...                         assertion=Assertion(negated=True)))
    'inactive|refuted'
    """
    assertion = entity.assertion
    if assertion.hypothetical or assertion.family or entity.source == NORMAL_STATE_SOURCE:
        return None
    clinical = "inactive" if assertion.negated or assertion.historical else "active"
    if assertion.negated:
        verification = "refuted"
    elif assertion.differential:
        verification = "differential"
    elif assertion.uncertain:
        verification = "unconfirmed"
    else:
        return clinical
    return f"{clinical}|{verification}"


def status_label(status: str) -> str:
    """How a Condition status reads in a narrative: ``refuted``, ``active, unconfirmed``."""
    clinical, _, verification = status.partition("|")
    if verification == "refuted":
        return verification
    return f"{clinical}, {verification}" if verification else clinical


def category(section: str | None) -> str:
    """``encounter-diagnosis`` for assessment/diagnosis sections, else ``problem-list-item``."""
    return "encounter-diagnosis" if section in DIAGNOSIS_SECTIONS else "problem-list-item"


def build_condition(ctx: BuildContext, group: MentionGroup) -> Built:
    """The Condition of a group of problem mentions."""
    clinical, _, verification = group.status.partition("|")
    summary = f"{mention_text(ctx.doc, group.first)} ({status_label(group.status)})"
    categories = list(dict.fromkeys(category(m.section) for m in group.mentions))
    resource = base_resource(ctx, "Condition", group, summary)
    resource.update(
        compact(
            {
                "clinicalStatus": status_concept(CLINICAL_SYSTEM, clinical, _DISPLAYS[clinical]),
                "verificationStatus": (
                    status_concept(VERIFICATION_SYSTEM, verification, _DISPLAYS[verification])
                    if verification
                    else None
                ),
                "category": [
                    {"coding": [coding(CATEGORY_SYSTEM, code, _DISPLAYS[code])]}
                    for code in categories
                ],
                "code": group_concept(ctx, group),
                "subject": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "recordedDate": fhir_date_time(ctx.context.date),
                "evidence": [{"detail": _evidence(ctx, group)}],
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)


def _evidence(ctx: BuildContext, group: MentionGroup) -> list[JSONDict]:
    """The source document, the tests that revealed the problem, the drugs that caused it."""
    tests = linked_groups(ctx, linked(ctx, group, "reveals", outgoing=False), "Observation")
    causes = linked(ctx, group, "causes", outgoing=False)
    drugs = [g for kind in sorted(MEDICATION_KINDS) for g in linked_groups(ctx, causes, kind)]
    return [source_reference(ctx.doc.source), *(ref(g.id) for g in [*tests, *drugs])]
