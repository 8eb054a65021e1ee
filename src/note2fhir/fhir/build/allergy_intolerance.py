"""AllergyIntolerance: one per allergen concept and verification status, e.g. "ALLERGIES:
Penicillin (rash)" → AllergyIntolerance(penicillin, confirmed, reaction rash); and one for a
"no known allergies" statement ("Allergies: NKDA").  Which mentions are allergens and
reactions is decided in ``allergies``.

* ``code`` is the allergen's CodeableConcept exactly as a MedicationStatement of it would carry
  (an uncoded drug keeps ``code.text`` only); ``type`` allergy (none where the note calls it an
  intolerance or a side effect: "codeine (intolerance)"), ``category`` medication;
* ``verificationStatus`` confirmed, unconfirmed for an uncertain mention, refuted for a negated
  one ("no allergy to penicillin"); ``clinicalStatus`` active, inactive when refuted (as for a
  refuted Condition: an "active allergies" query that forgets the verification status must not
  find it);
* ``reaction``: one per distinct reaction concept, ``manifestation`` coded as its Condition
  would be; the reaction mentions make no Condition;
* an allergen that is no medication mention ("ALLERGIES: latex, shellfish (anaphylaxis)",
  "allergic to peanuts", "sulfa - hives") has ``code.text`` only, as the note writes it, and
  the ``category`` of its lexicon (food, environment, or medication for "sulfa", "PCN"); the
  same statuses and reactions;
* a "no known allergies" statement has ``code.text`` "No known allergies" (or "No known drug
  allergies", category medication) and NO coding: the SNOMED CT codes for it are not in the
  open terminology, and a wrong code is worse than none.

Each carries a derivation-reference per allergen and reaction mention (the statement's phrase
for "no known allergies"), the note2fhir identifier and the AIAST label.
"""

from __future__ import annotations

from note2fhir.document import Entity, JSONDict
from note2fhir.fhir.build.allergies import NoKnownAllergy, OtherAllergen
from note2fhir.fhir.build.common import (
    base_resource,
    compact,
    dedupe,
    derivation_extension,
    encounter_reference,
    fhir_date_time,
    finish,
    group_concept,
    identifier,
    mention_text,
    mentions_concept,
    narrative_paragraph,
    security_meta,
    span_derivation_extension,
    status_concept,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup, position

CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

_DISPLAYS = {
    "active": "Active",
    "inactive": "Inactive",
    "confirmed": "Confirmed",
    "unconfirmed": "Unconfirmed",
    "refuted": "Refuted",
}


def build_allergy_intolerance(ctx: BuildContext, group: MentionGroup) -> Built:
    """The AllergyIntolerance of a group of allergen mentions of one medication."""
    reactions = _reactions(ctx, group)
    manifestations = dedupe(mentions_concept(ctx.doc, [r]) for r in reactions)
    verification = group.status
    clinical = "inactive" if verification == "refuted" else "active"
    summary = _summary(mention_text(ctx.doc, group.first), verification, manifestations)
    resource = base_resource(ctx, "AllergyIntolerance", group, summary)
    resource["extension"] += [derivation_extension(ctx.doc, r) for r in reactions]
    resource.update(
        compact(
            {
                **_statuses(clinical, verification),
                "type": None if _intolerance(ctx, group) else "allergy",
                "category": ["medication"],
                "code": group_concept(ctx, group),
                "patient": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "recordedDate": fhir_date_time(ctx.context.date),
                "reaction": [{"manifestation": [m]} for m in manifestations],
            }
        )
    )
    return Built(finish(resource), summary, (*group.mentions, *reactions))


def build_other_allergy(ctx: BuildContext, allergen: OtherAllergen) -> Built:
    """The AllergyIntolerance of an allergen that is no medication mention: text only, no
    code (none is shipped for "latex" or "shellfish", and none is made up)."""
    reactions = [ctx.entities[r] for r in allergen.reactions if r in ctx.entities]
    manifestations = dedupe(mentions_concept(ctx.doc, [r]) for r in reactions)
    verification = allergen.verification
    clinical = "inactive" if verification == "refuted" else "active"
    summary = _summary(allergen.text, verification, manifestations)
    resource: JSONDict = {
        "resourceType": "AllergyIntolerance",
        "id": allergen.id,
        "meta": security_meta(),
        "text": narrative_paragraph(summary),
        "extension": [
            *(span_derivation_extension(ctx.doc, *span) for span in allergen.spans),
            *(derivation_extension(ctx.doc, r) for r in reactions),
        ],
        "identifier": [identifier(ctx.settings, allergen.id)],
    }
    resource.update(
        compact(
            {
                **_statuses(clinical, verification),
                "type": None if allergen.intolerance else "allergy",
                "category": [allergen.category],
                "code": {"text": allergen.text},
                "patient": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "recordedDate": fhir_date_time(ctx.context.date),
                "reaction": [{"manifestation": [m]} for m in manifestations],
            }
        )
    )
    return Built(finish(resource), summary, tuple(reactions), spans=allergen.spans)


def build_no_known_allergy(ctx: BuildContext, statement: NoKnownAllergy) -> Built:
    """The AllergyIntolerance of a "no known allergies" statement: text only, no code."""
    summary = statement.label
    resource: JSONDict = {
        "resourceType": "AllergyIntolerance",
        "id": statement.id,
        "meta": security_meta(),
        "text": narrative_paragraph(summary),
        "extension": [span_derivation_extension(ctx.doc, *span) for span in statement.spans],
        "identifier": [identifier(ctx.settings, statement.id)],
    }
    resource.update(
        compact(
            {
                **_statuses("active", "confirmed"),
                "category": ["medication"] if statement.kind == "drug" else None,
                "code": {"text": statement.label},
                "patient": subject_reference(ctx.context),
                "encounter": encounter_reference(ctx.context),
                "recordedDate": fhir_date_time(ctx.context.date),
            }
        )
    )
    return Built(finish(resource), summary, spans=statement.spans)


def _intolerance(ctx: BuildContext, group: MentionGroup) -> bool:
    """Whether the note calls the allergen an intolerance or a side effect ("codeine
    (intolerance)"): then the type is left out rather than stated as allergy."""
    return any(m.id in ctx.allergies.intolerances for m in group.mentions)


def _statuses(clinical: str, verification: str) -> JSONDict:
    return {
        "clinicalStatus": status_concept(CLINICAL_SYSTEM, clinical, _DISPLAYS[clinical]),
        "verificationStatus": status_concept(
            VERIFICATION_SYSTEM, verification, _DISPLAYS[verification]
        ),
    }


def _reactions(ctx: BuildContext, group: MentionGroup) -> list[Entity]:
    """The reaction mentions of the group's allergen mentions, in text order."""
    found = {
        target: ctx.entities[target]
        for mention in group.mentions
        for target in ctx.allergies.reactions.get(mention.id, ())
        if target in ctx.entities
    }
    return sorted(found.values(), key=position)


def _summary(allergen: str, verification: str, manifestations: list[JSONDict]) -> str:
    """The narrative line of an AllergyIntolerance: "Penicillin allergy (confirmed): rash"."""
    summary = f"{allergen} allergy ({verification})"
    if manifestations:
        summary += ": " + ", ".join(str(m.get("text", "")) for m in manifestations)
    return summary
