"""Assembly: every resource built from one document, in one R4 Bundle.

Entry order (all types): Composition, then the mention-derived resources by kind
(Condition, FamilyMemberHistory, MedicationStatement or MedicationRequest, Procedure,
Observation, AllergyIntolerance, AdverseEvent) and first mention, where the allergens that
are no medication mention ("latex") follow the drug allergens and a "no known allergies"
statement follows them all, then the Device, then the Provenance.
Resources reference each other by their ``urn:uuid:`` fullUrls.  A ``transaction`` creates
each resource only if none carries its identifier yet (``ifNoneExist``); the Provenance, which
has no identifier in R4, is PUT by its deterministic id, so re-sending a note creates nothing
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import ValidationError

from note2fhir.assertion.stage import AssertionOptions, AssertionStage
from note2fhir.document import Assertion, ClinicalDocument, EntityType, JSONDict
from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields
from note2fhir.fhir.build.adverse_event import adverse_event_groups, build_adverse_event
from note2fhir.fhir.build.allergies import SpanAssertions, find_allergies
from note2fhir.fhir.build.allergy_intolerance import (
    build_allergy_intolerance,
    build_no_known_allergy,
    build_other_allergy,
)
from note2fhir.fhir.build.common import fhir_instant, urn
from note2fhir.fhir.build.composition import build_composition
from note2fhir.fhir.build.condition import build_condition
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup
from note2fhir.fhir.build.device import build_device, device_id
from note2fhir.fhir.build.family_member_history import build_family_member_history
from note2fhir.fhir.build.groups import group_mentions
from note2fhir.fhir.build.medication_request import build_medication_request
from note2fhir.fhir.build.medication_statement import build_medication_statement
from note2fhir.fhir.build.observation import build_observation
from note2fhir.fhir.build.procedure import build_procedure
from note2fhir.fhir.build.provenance import build_provenance
from note2fhir.fhir.build.validation import validated
from note2fhir.ids import source_key, stable_uuid
from note2fhir.settings import BundleType, Settings

BUILDERS: dict[str, Callable[[BuildContext, MentionGroup], Built]] = {
    "Condition": build_condition,
    "FamilyMemberHistory": build_family_member_history,
    "MedicationStatement": build_medication_statement,
    "MedicationRequest": build_medication_request,
    "Procedure": build_procedure,
    "Observation": build_observation,
    "AllergyIntolerance": build_allergy_intolerance,
    "AdverseEvent": build_adverse_event,
}
BUNDLE_TYPES = ("collection", "transaction", "document")


def build_bundle(
    doc: ClinicalDocument,
    *,
    bundle_type: BundleType,
    settings: Settings,
    now: datetime,
    tool_version: str,
    terminology_version: str | None = None,
    assertion: AssertionStage | None = None,
) -> JSONDict:
    """The output Bundle (R4 JSON) of one processed document.

    ``assertion`` is the pipeline's assertion stage: it reads the words of allergens that are
    no mention ("Mother is allergic to latex") as it read the mentions.  Without it, a stage
    is built from ``settings`` (its configured options) for a note that needs one.

    ``now`` (timezone-aware) stamps Composition.date, Provenance.recorded and
    Bundle.timestamp; everything else depends only on the document, the settings and the
    versions, so the same input gives byte-identical JSON.  An invalid resource raises
    ``Note2FhirError(OUTPUT_INVALID)``.
    """
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"unsupported bundle type {bundle_type!r}")
    allergies = find_allergies(doc, assertions=_span_assertions(settings, assertion))
    groups = group_mentions(doc, allergies, settings.medication_resource)
    ctx = BuildContext(
        doc=doc,
        settings=settings,
        now=fhir_instant(now),
        device_id=device_id(tool_version, terminology_version),
        groups={m.id: group for group in groups for m in group.mentions},
        entities={entity.id: entity for entity in doc.entities},
        allergies=allergies,
    )
    events = adverse_event_groups(doc, ctx.groups)
    built = [BUILDERS[group.kind](ctx, group) for group in groups]
    built += [build_other_allergy(ctx, allergen) for allergen in allergies.others]
    built += [build_no_known_allergy(ctx, statement) for statement in allergies.no_known]
    built += [BUILDERS[group.kind](ctx, group) for group in events]
    composition = build_composition(ctx, built)
    device = build_device(settings, tool_version, terminology_version)
    provenance = build_provenance(ctx, [composition, *built])
    return assemble(doc, settings, ctx.now, bundle_type, [composition, *built, device, provenance])


def _span_assertions(settings: Settings, stage: AssertionStage | None) -> SpanAssertions:
    """The configured assertion stage's reading of spans: ``stage``'s, or that of a stage
    built from ``settings`` when first asked (a note without such words builds none)."""
    if stage is not None:
        return stage.assert_spans

    def read(
        doc: ClinicalDocument, spans: Sequence[tuple[int, int, EntityType]]
    ) -> list[Assertion]:
        return assertion_stage(settings).assert_spans(doc, spans)

    return read


def assertion_stage(settings: Settings) -> AssertionStage:
    """The assertion stage with the options ``settings`` gives it (``[stages.assertion]``), as
    the pipeline builds it."""
    raw = settings.stages.get(AssertionStage.name, {})
    try:
        options = AssertionOptions.model_validate(raw)
    except ValidationError as exc:
        raise Note2FhirError(
            ErrorCode.PIPELINE_INVALID,
            reason=f"options of stage '{AssertionStage.name}': {validation_fields(exc)}",
        ) from None
    return AssertionStage(options, settings)


def assemble(
    doc: ClinicalDocument,
    settings: Settings,
    timestamp: str,
    bundle_type: BundleType,
    resources: Sequence[Built],
) -> JSONDict:
    """The validated Bundle of ``resources`` (in the order given)."""
    bundle: JSONDict = {
        "resourceType": "Bundle",
        "identifier": {
            "system": settings.identifier_system,
            "value": urn(stable_uuid(source_key(doc.source))),
        },
        "type": bundle_type,
        "timestamp": timestamp,
        "entry": [entry(built, settings, bundle_type) for built in resources],
    }
    return validated(bundle)


def entry(built: Built, settings: Settings, bundle_type: BundleType) -> JSONDict:
    """A Bundle entry; a transaction's makes a conditional create (or a PUT by id)."""
    out: JSONDict = {"fullUrl": urn(built.id), "resource": built.resource}
    if bundle_type != "transaction":
        return out
    if "identifier" in built.resource:
        out["request"] = {
            "method": "POST",
            "url": built.resource_type,
            "ifNoneExist": f"identifier={settings.identifier_system}|{urn(built.id)}",
        }
    else:
        out["request"] = {"method": "PUT", "url": f"{built.resource_type}/{built.id}"}
    return out
