"""Observation: one per test concept and stated value, e.g. "BP 140/90" →
Observation(final, valueString 140/90), with a derivation-reference to the test's mention and
one to the stated result.  Mentions with different values stay separate
Observations (two blood pressures are two results).  Negated ("no CT done"), hypothetical
("check lipids if ...") and relatives' tests make none.
"""

from __future__ import annotations

import json

from note2fhir.document import Entity, JSONDict
from note2fhir.fhir.build.common import (
    base_resource,
    clean_text,
    compact,
    context_reference,
    encounter_reference,
    fhir_date_time,
    finish,
    format_number,
    group_concept,
    mention_text,
    source_reference,
    span_derivation_extension,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup

_QUANTITY_KEYS = ("value", "comparator", "unit", "system", "code")


PLAN_SECTIONS = frozenset({"plan", "assessment_plan", "discharge_instructions"})
"""Sections where a test named without a value is something to do, not a result."""


def observation_status(entity: Entity) -> str | None:
    """``final`` for a stated test or result; None when it makes no Observation."""
    assertion = entity.assertion
    if assertion.negated or assertion.hypothetical or assertion.family or assertion.uncertain:
        return None
    if entity.value is None and entity.section in PLAN_SECTIONS:
        # "Echo to r/o LV dysfunction", "daily weights" in a plan: an order, not a result.
        return None
    return "final"


def observation_concept(key: str, entity: Entity) -> str:
    """The grouping key of a test: its concept ``key`` plus its stated value, if any."""
    if not entity.value:
        return key
    return f"{key}|{json.dumps(entity.value, sort_keys=True)}"


def observation_value(value: JSONDict | None) -> tuple[JSONDict, str]:
    """``value[x]`` of a stated result and how it reads: a Quantity dict → valueQuantity,
    ``{"string": ...}`` → valueString; anything else → nothing."""
    if not value:
        return {}, ""
    if isinstance(value.get("string"), str) and clean_text(value["string"]):
        text = clean_text(value["string"])
        return {"valueString": text}, text
    number = value.get("value")
    if isinstance(number, int | float) and not isinstance(number, bool):
        qty = {key: value[key] for key in _QUANTITY_KEYS if value.get(key) not in (None, "")}
        shown = " ".join(
            p for p in (qty.get("comparator"), format_number(number), qty.get("unit")) if p
        )
        return {"valueQuantity": qty}, str(shown)
    return {}, ""


def build_observation(ctx: BuildContext, group: MentionGroup) -> Built:
    """The Observation of a group of test mentions with the same value."""
    value, shown = observation_value(group.first.value)
    name = mention_text(ctx.doc, group.first)
    summary = f"{name}: {shown}" if shown else name
    source = ctx.doc.source
    resource = base_resource(ctx, "Observation", group, summary)
    if value:
        # where the value was read, beside where the test was named
        ids = {m.id for m in group.mentions}
        resource["extension"] += [
            span_derivation_extension(ctx.doc, r.start, r.end)
            for r in ctx.doc.results
            if r.entity in ids and r.value == group.first.value
        ]
    resource.update(
        compact(
            {
                "status": group.status,
                "code": group_concept(ctx, group),
                "subject": context_reference(ctx.context.subject),
                "encounter": encounter_reference(ctx.context),
                "effectiveDateTime": fhir_date_time(ctx.context.date),
                **value,
                # R4 allows only some types here: a DiagnosticReport source stays in the
                # derivation-reference extension.
                "derivedFrom": (
                    [source_reference(source)]
                    if source.resource_type == "DocumentReference"
                    else None
                ),
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)
