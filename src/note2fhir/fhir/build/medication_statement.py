"""MedicationStatement: one per medication concept and status, e.g. "metoprolol 25 mg PO
BID" → MedicationStatement(active, dosage 25 mg oral twice daily).

Status: negated → ``not-taken`` ("not taking aspirin"); a stop word ("stopped",
"discontinued") → ``stopped``; "held" → ``on-hold`` (R4's code for a paused medication);
hypothetical or a start word ("will start", "planned") → ``intended``; historical →
``completed``; uncertain → ``unknown``; otherwise ``active``.  A relative's medication makes
no resource.  ``reasonReference`` points at the Conditions the drug treats (relation
``treats``); a treated problem that made no Condition (hypothetical, family) becomes a
``reasonCode``.
"""

from __future__ import annotations

from dataclasses import dataclass

from note2fhir.document import Entity, JSONDict, MedicationAttributes
from note2fhir.fhir.build.allergies import ALLERGY_SECTIONS
from note2fhir.fhir.build.common import (
    base_resource,
    clean_text,
    codeable,
    coding,
    compact,
    dedupe,
    encounter_reference,
    fhir_date_time,
    finish,
    format_number,
    group_concept,
    mention_text,
    quantity,
    ref,
    source_reference,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup, linked, linked_groups

_STOPPED = frozenset({"stopped", "stop", "discontinued", "discontinue"})
_ON_HOLD = frozenset({"held", "hold", "on hold"})
_INTENDED = frozenset(
    {"will start", "start", "to start", "planned", "plan", "will restart", "restart"}
)


def medication_status(entity: Entity, *, taken: bool = False) -> str | None:
    """The R4 MedicationStatement status of a medication mention (None: no resource).  A drug
    of an allergies section makes none unless ``taken``: the allergy rules found it outside
    the allergy list ("Allergies: NKDA. On aspirin 81 mg daily").

    >>> from note2fhir.document import Assertion, EntityType
    >>> medication_status(Entity("e1", 0, 7, "aspirin", EntityType.MEDICATION,
    ...                          assertion=Assertion(negated=True)))
    'not-taken'
    """
    assertion = entity.assertion
    word = " ".join((entity.medication.status or "").lower().split()) if entity.medication else ""
    if assertion.family or (entity.section in ALLERGY_SECTIONS and not taken):
        # "ALLERGIES: Penicillin (rash)" says the patient must NOT take it: never a statement
        # that they do (it becomes an AllergyIntolerance, see ``allergies``).
        return None
    if assertion.negated:
        return "not-taken"
    if word in _STOPPED:
        return "stopped"
    if word in _ON_HOLD:
        return "on-hold"
    if assertion.hypothetical or word in _INTENDED:
        return "intended"
    if assertion.historical:
        return "completed"
    if assertion.uncertain:
        return "unknown"
    return "active"


def dosage_text(attrs: MedicationAttributes) -> str | None:
    """The note's own sig text, else one composed from the attributes ("25 mg oral BID")."""
    if attrs.text and clean_text(attrs.text):
        return clean_text(attrs.text)
    dose = (
        f"{format_number(attrs.dose_value)} {attrs.dose_unit}"
        if attrs.dose_value is not None and attrs.dose_unit
        else attrs.strength
    )
    prn = None
    if attrs.as_needed or attrs.as_needed_reason:
        prn = f"as needed for {attrs.as_needed_reason}" if attrs.as_needed_reason else "as needed"
    parts = [dose, attrs.form, attrs.route_text, attrs.frequency_text, attrs.duration, prn]
    return clean_text(" ".join(p for p in parts if p)) or None


def dosage(attrs: MedicationAttributes) -> JSONDict:
    """An R4 Dosage from what the note says about how the drug is taken."""
    reason = clean_text(attrs.as_needed_reason or "")
    dose = (
        [{"doseQuantity": quantity(attrs.dose_value, attrs.dose_unit)}]
        if attrs.dose_value is not None and attrs.dose_unit
        else None
    )
    return compact(
        {
            "text": dosage_text(attrs),
            "timing": _timing(attrs),
            "asNeededBoolean": True if attrs.as_needed and not reason else None,
            "asNeededCodeableConcept": {"text": reason} if reason else None,
            "route": _route(attrs),
            "doseAndRate": dose,
        }
    )


def _timing(attrs: MedicationAttributes) -> JSONDict | None:
    frequency = clean_text(attrs.frequency_text or "")
    timing = compact(
        {
            "repeat": dict(attrs.timing) if attrs.timing else None,
            "code": {"text": frequency} if frequency else None,
        }
    )
    return timing or None


def _route(attrs: MedicationAttributes) -> JSONDict | None:
    route = attrs.route or {}
    codings = (
        [coding(str(route["system"]), str(route["code"]), route.get("display"))]
        if route.get("system") and route.get("code")
        else []
    )
    concept = compact({"coding": codings, "text": clean_text(attrs.route_text or "")})
    return concept or None


@dataclass(frozen=True, slots=True)
class MedicationParts:
    """What a medication resource of either type says of its group: the Dosages, the
    narrative summary, and the reasons (codes of treated problems that made no Condition,
    references to those that did)."""

    dosages: list[JSONDict]
    summary: str
    reason_codes: list[JSONDict]
    reason_references: list[JSONDict]


def medication_parts(ctx: BuildContext, group: MentionGroup) -> MedicationParts:
    """The dosages, summary and reasons of a group of medication mentions."""
    dosages = [d for d in dedupe(dosage(m.medication) for m in group.mentions if m.medication) if d]
    sig = next((str(d["text"]) for d in dosages if "text" in d), "")
    name = mention_text(ctx.doc, group.first)
    summary = f"{name}: {sig} ({group.status})" if sig else f"{name} ({group.status})"
    problems = linked(ctx, group, "treats", outgoing=True)
    conditions = linked_groups(ctx, problems, "Condition")
    treated = {m.id for g in conditions for m in g.mentions}
    reason_codes = dedupe(
        codeable(p.selected_codes, mention_text(ctx.doc, p))
        for p in problems
        if p.id not in treated
    )
    return MedicationParts(dosages, summary, reason_codes, [ref(g.id) for g in conditions])


def build_medication_statement(ctx: BuildContext, group: MentionGroup) -> Built:
    """The MedicationStatement of a group of medication mentions."""
    parts = medication_parts(ctx, group)
    resource = base_resource(ctx, "MedicationStatement", group, parts.summary)
    resource.update(
        compact(
            {
                "status": group.status,
                "medicationCodeableConcept": group_concept(ctx, group),
                "subject": subject_reference(ctx.context),
                "context": encounter_reference(ctx.context),
                "dateAsserted": fhir_date_time(ctx.context.date),
                "derivedFrom": [source_reference(ctx.doc.source)],
                "reasonCode": parts.reason_codes,
                "reasonReference": parts.reason_references,
                "dosage": parts.dosages,
            }
        )
    )
    return Built(finish(resource), parts.summary, group.mentions)
