"""Grouping: mentions of one concept with one status in one document become one resource.

The key of a mention is its resource kind (from the entity type and, for problems, the
family flag), its concept key (first selected code ``system|code``, else the lowercased
mention text; a test's stated value too) and the status its assertion gives (``refuted``
and ``active`` hypertension are two Conditions).  A family problem is keyed by the relative
instead: one FamilyMemberHistory per relative.  An allergen mention is keyed as an
AllergyIntolerance by its verification status, and a problem the allergy statement absorbs (a
reaction, the word "allergy" of "allergy to penicillin") makes no resource (see ``allergies``).
A drug of an allergies section is a medication only where the allergy rules found it taken.
"""

from __future__ import annotations

from collections.abc import Callable

from note2fhir.document import ClinicalDocument, Entity, EntityType
from note2fhir.fhir.build.allergies import NO_ALLERGIES, AllergyFacts
from note2fhir.fhir.build.common import concept_key, mention_text
from note2fhir.fhir.build.condition import condition_status
from note2fhir.fhir.build.context import MentionGroup, group_order, position
from note2fhir.fhir.build.family_member_history import family_relationship
from note2fhir.fhir.build.medication_request import request_status
from note2fhir.fhir.build.medication_statement import medication_status
from note2fhir.fhir.build.observation import observation_concept, observation_status
from note2fhir.fhir.build.procedure import procedure_status
from note2fhir.ids import resource_id

Key = tuple[str, str, str]

_KINDS: dict[EntityType, tuple[str, Callable[[Entity], str | None]]] = {
    EntityType.PROBLEM: ("Condition", condition_status),
    EntityType.MEDICATION: ("MedicationStatement", medication_status),
    EntityType.PROCEDURE: ("Procedure", procedure_status),
    EntityType.TEST: ("Observation", observation_status),
}


def mention_key(
    doc: ClinicalDocument,
    entity: Entity,
    allergies: AllergyFacts = NO_ALLERGIES,
    medication_resource: str = "MedicationStatement",
) -> Key | None:
    """``(kind, concept, status)`` of a mention, or None when it makes no resource;
    medications become ``medication_resource`` (MedicationStatement or MedicationRequest).

    >>> from note2fhir.document import SourceRef
    >>> doc = ClinicalDocument("d", SourceRef("DocumentReference", "1", None, "p"), "HTN")
    >>> mention_key(doc, Entity("e", 0, 3, "HTN", EntityType.PROBLEM))
    ('Condition', 'htn', 'active')
    """
    if not mention_text(doc, entity) or entity.id in allergies.absorbed:
        return None
    allergy = allergies.allergens.get(entity.id)
    if allergy is not None:
        return "AllergyIntolerance", concept_key(doc, entity), allergy
    if entity.type == EntityType.PROBLEM and entity.assertion.family:
        relative = family_relationship(entity.assertion)
        return ("FamilyMemberHistory", relative, "partial") if relative else None
    kind, status_of = _KINDS[EntityType(entity.type)]
    if entity.type is EntityType.MEDICATION:  # a drug taken, in an allergies section too
        status = medication_status(entity, taken=entity.id in allergies.taken)
    else:
        status = status_of(entity)
    if kind == "MedicationStatement" and medication_resource == "MedicationRequest":
        kind, status = "MedicationRequest", request_status(status)
    if status is None:
        return None
    concept = concept_key(doc, entity)
    if kind == "Observation":
        concept = observation_concept(concept, entity)
    return kind, concept, status


def group_mentions(
    doc: ClinicalDocument,
    allergies: AllergyFacts = NO_ALLERGIES,
    medication_resource: str = "MedicationStatement",
) -> list[MentionGroup]:
    """The groups of a document's emitted mentions, in Bundle order (kind, first mention)."""
    buckets: dict[Key, list[Entity]] = {}
    for entity in sorted(doc.entities, key=position):
        key = mention_key(doc, entity, allergies, medication_resource)
        if key is not None:
            buckets.setdefault(key, []).append(entity)
    groups = [_group(doc, key, mentions) for key, mentions in buckets.items()]
    return sorted(groups, key=group_order)


def _group(doc: ClinicalDocument, key: Key, mentions: list[Entity]) -> MentionGroup:
    kind, concept, status = key
    first_offset = doc.original_span(mentions[0].start, mentions[0].end)[0]
    rid = resource_id(doc.source, kind, concept, first_offset)
    return MentionGroup(kind, concept, status, tuple(mentions), rid)
