"""AdverseEvent: a drug the note says caused a problem, e.g. "cough from lisinopril" →
AdverseEvent(actuality actual, suspectEntity → MedicationStatement(lisinopril),
resultingCondition → Condition(cough)).

Why an AdverseEvent: R4 has no element of Condition or MedicationStatement that says "caused
by" (``Condition.evidence`` means "supports the diagnosis", ``reasonReference`` means "taken
for"), and the standard ``condition-dueTo`` extension is one more extension consumers must
know.  AdverseEvent states the causal link with core elements only.  The Condition also lists
the MedicationStatement in ``evidence.detail``, so a reader of the Condition alone sees the
link.  One is made per (medication, problem) pair of relations of type ``causes``, when both
resources were emitted and the problem is not refuted.
"""

from __future__ import annotations

from collections.abc import Mapping

from note2fhir.document import ClinicalDocument, Entity, JSONDict
from note2fhir.fhir.build.common import (
    base_resource,
    compact,
    encounter_reference,
    fhir_date_time,
    finish,
    group_concept,
    identifier,
    mention_text,
    ref,
    source_reference,
    subject_reference,
)
from note2fhir.fhir.build.context import (
    MEDICATION_KINDS,
    BuildContext,
    Built,
    MentionGroup,
    group_order,
    position,
)
from note2fhir.ids import resource_id


def adverse_event_groups(
    doc: ClinicalDocument, groups: Mapping[str, MentionGroup]
) -> list[MentionGroup]:
    """One group per (MedicationStatement, Condition) pair linked by ``causes`` relations;
    its mentions are the ends of those relations."""
    mentions = {m.id: m for group in groups.values() for m in group.mentions}
    pairs: dict[tuple[str, str], tuple[MentionGroup, MentionGroup, dict[str, Entity]]] = {}
    for rel in doc.relations:
        drug, problem = groups.get(rel.source), groups.get(rel.target)
        if rel.type != "causes" or drug is None or problem is None:
            continue
        if drug.kind not in MEDICATION_KINDS or problem.kind != "Condition":
            continue
        if problem.status.endswith("|refuted"):
            continue
        _, _, ends = pairs.setdefault((drug.id, problem.id), (drug, problem, {}))
        ends[rel.source], ends[rel.target] = mentions[rel.source], mentions[rel.target]
    out = [_group(doc, *pair) for pair in pairs.values()]
    return sorted(out, key=group_order)


def _group(
    doc: ClinicalDocument, drug: MentionGroup, problem: MentionGroup, ends: dict[str, Entity]
) -> MentionGroup:
    ordered = tuple(sorted(ends.values(), key=position))
    concept = f"{problem.concept}<{drug.concept}"
    first_offset = doc.original_span(ordered[0].start, ordered[0].end)[0]
    rid = resource_id(doc.source, "AdverseEvent", concept, first_offset)
    return MentionGroup("AdverseEvent", concept, "actual", ordered, rid)


def _end(ctx: BuildContext, group: MentionGroup, kinds: frozenset[str]) -> MentionGroup:
    """The group of one of ``kinds`` that one of the event's mentions was emitted in."""
    return next(
        found
        for mention in group.mentions
        if (found := ctx.groups.get(mention.id)) is not None and found.kind in kinds
    )


def build_adverse_event(ctx: BuildContext, group: MentionGroup) -> Built:
    """The AdverseEvent of one drug → problem pair."""
    drug = _end(ctx, group, MEDICATION_KINDS)
    problem = _end(ctx, group, frozenset({"Condition"}))
    summary = (
        f"{mention_text(ctx.doc, problem.first)} attributed to {mention_text(ctx.doc, drug.first)}"
    )
    source = ctx.doc.source
    resource = base_resource(ctx, "AdverseEvent", group, summary)
    resource["identifier"] = identifier(ctx.settings, group.id)  # 0..1 on AdverseEvent
    instance, contained = _suspect(ctx, drug)
    if contained:
        resource["contained"] = contained
    resource.update(
        compact(
            {
                "actuality": "actual",
                "event": group_concept(ctx, problem),
                "subject": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "date": fhir_date_time(ctx.context.date),
                "resultingCondition": [ref(problem.id)],
                "suspectEntity": [{"instance": instance}],
                "referenceDocument": (
                    [source_reference(source)]
                    if source.resource_type == "DocumentReference"
                    else None
                ),
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)


def _suspect(ctx: BuildContext, drug: MentionGroup) -> tuple[JSONDict, list[JSONDict]]:
    """The reference to the suspected drug and the resources to contain for it.  R4's
    ``suspectEntity.instance`` may not point at a MedicationRequest, so with that output the
    drug is a contained Medication."""
    if drug.kind != "MedicationRequest":
        return ref(drug.id), []
    medication = {"resourceType": "Medication", "id": "suspect", "code": group_concept(ctx, drug)}
    return {"reference": "#suspect"}, [medication]
