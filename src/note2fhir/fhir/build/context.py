"""What builders of one document share while building: the mention groups, the build
context and the built resources, and how groups are linked by relations and ordered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from note2fhir.document import ClinicalDocument, DocumentContext, Entity, JSONDict
from note2fhir.fhir.build.allergies import NO_ALLERGIES, AllergyFacts
from note2fhir.settings import Settings

MEDICATION_KINDS = frozenset({"MedicationStatement", "MedicationRequest"})
"""The resource types a medication group may become (the ``medication_resource`` setting)."""
KIND_ORDER = (
    "Condition",
    "FamilyMemberHistory",
    "MedicationStatement",
    "MedicationRequest",
    "Procedure",
    "Observation",
    "AllergyIntolerance",
    "AdverseEvent",
)
"""Resource kinds made from mentions, in the order their entries appear in the Bundle."""


@dataclass(frozen=True, slots=True)
class MentionGroup:
    """Mentions of one concept with one status in one document: they become ONE resource.

    ``kind`` is the FHIR resource type, ``concept`` the concept key (first selected code
    ``system|code``, else the normalised mention text), ``status`` the assertion-derived
    status that decides the resource's FHIR status, ``mentions`` in working-text order.
    """

    kind: str
    concept: str
    status: str
    mentions: tuple[Entity, ...]
    id: str

    @property
    def first(self) -> Entity:
        """The earliest mention; its text becomes ``code.text``."""
        return self.mentions[0]


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What every builder of one document reads; nothing here is changed while building."""

    doc: ClinicalDocument
    settings: Settings
    now: str
    """The build instant as a FHIR instant string."""
    device_id: str
    groups: Mapping[str, MentionGroup]
    """The group each emitted mention (by entity id) belongs to."""
    entities: Mapping[str, Entity]
    """Every entity of the document by id."""
    allergies: AllergyFacts = NO_ALLERGIES
    """What the note says about allergies (allergens, reactions, "no known allergies")."""

    @property
    def context(self) -> DocumentContext:
        """The FHIR context of the source document."""
        return self.doc.context


@dataclass(frozen=True, slots=True)
class Built:
    """One validated output resource, with the one-line summary used in narratives."""

    resource: JSONDict
    summary: str
    mentions: tuple[Entity, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    """Working-text spans it was read from that are no mention ("Allergies: NKDA")."""

    @property
    def id(self) -> str:
        """The resource id (also its ``urn:uuid:`` fullUrl)."""
        return str(self.resource["id"])

    @property
    def resource_type(self) -> str:
        """The FHIR resource type."""
        return str(self.resource["resourceType"])


def linked(
    ctx: BuildContext, group: MentionGroup, relation: str, *, outgoing: bool
) -> list[Entity]:
    """Entities linked to the group's mentions by relations of type ``relation``, in text
    order; ``outgoing`` when the group's mention is the relation's source."""
    mine = {m.id for m in group.mentions}
    found: dict[str, Entity] = {}
    for rel in ctx.doc.relations:
        here, there = (rel.source, rel.target) if outgoing else (rel.target, rel.source)
        other = ctx.entities.get(there)
        if rel.type == relation and here in mine and other is not None:
            found.setdefault(other.id, other)
    return sorted(found.values(), key=position)


def linked_groups(ctx: BuildContext, entities: Iterable[Entity], kind: str) -> list[MentionGroup]:
    """The distinct groups of ``kind`` that ``entities`` were emitted in, in text order."""
    found: dict[str, MentionGroup] = {}
    for entity in entities:
        group = ctx.groups.get(entity.id)
        if group is not None and group.kind == kind:
            found.setdefault(group.id, group)
    return sorted(found.values(), key=group_order)


def position(entity: Entity) -> tuple[int, int, str]:
    """Sort key of an entity: where it lies in the working text."""
    return entity.start, entity.end, entity.id


def group_order(group: MentionGroup) -> tuple[int, int, int, str]:
    """Sort key of a group: resource kind, then its first mention."""
    return (KIND_ORDER.index(group.kind), *position(group.first))
