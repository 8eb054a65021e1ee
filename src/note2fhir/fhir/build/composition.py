"""Composition: the summary of what note2fhir read in one note.

Sections come in two runs: first one per note section ("Assessment and Plan"), listing what
was extracted from it; then one per resource kind (allergies and adverse reactions share one,
AllergyIntolerance first), IPS-style with the LOINC section codes and displays of the IPS
examples.  A kind with nothing found carries ``emptyReason`` ``unavailable`` and a narrative
saying so (R4 cmp-1, cmp-2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from note2fhir.document import JSONDict, Section, SourceRef
from note2fhir.fhir.build.common import (
    LOINC,
    clean_text,
    coding,
    compact,
    context_reference,
    finish,
    identifier,
    narrative_list,
    narrative_paragraph,
    ref,
    security_meta,
)
from note2fhir.fhir.build.context import BuildContext, Built
from note2fhir.ids import resource_id

EMPTY_REASON: JSONDict = {
    "coding": [
        coding(
            "http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable", "Unavailable"
        )
    ]
}
DEFAULT_TYPE: JSONDict = {"coding": [coding(LOINC, "34109-9", "Note")]}


@dataclass(frozen=True, slots=True)
class KindSection:
    """A Composition section that lists every resource of its kinds, kind by kind."""

    kinds: tuple[str, ...]
    code: str
    display: str
    title: str
    empty: str


KIND_SECTIONS = (
    KindSection(
        ("Condition",), "11450-4", "Problem list - Reported", "Problems",
        "No problems were found in the note.",
    ),
    KindSection(
        ("MedicationStatement", "MedicationRequest"), "10160-0",
        "History of Medication use Narrative", "Medications",
        "No medications were found in the note.",
    ),
    KindSection(
        ("Procedure",), "47519-4", "History of Procedures Document", "Procedures",
        "No procedures were found in the note.",
    ),
    KindSection(
        ("Observation",), "30954-2", "Relevant diagnostic tests/laboratory data note", "Results",
        "No test results were found in the note.",
    ),
    KindSection(
        ("FamilyMemberHistory",), "10157-6", "History of family member diseases Narrative",
        "Family history", "No family history was found in the note.",
    ),
    KindSection(
        ("AllergyIntolerance", "AdverseEvent"), "48765-2",
        "Allergies and adverse reactions Document", "Allergies and adverse reactions",
        "No allergies or adverse reactions were found in the note.",
    ),
)  # fmt: skip
"""Kind sections in order; codes and displays as in the IPS 2.0.1 examples (10157-6, absent
there, uses the LOINC long common name)."""


def build_composition(ctx: BuildContext, resources: Sequence[Built]) -> Built:
    """The Composition of one note: note sections, then one section per resource kind."""
    rid = resource_id(ctx.doc.source, "Composition")
    doc_type = ctx.context.type or DEFAULT_TYPE
    title = clean_text(ctx.context.title or "") or f"Summary of {_type_text(doc_type)}"
    sections = [_note_section(s, resources) for s in sorted(ctx.doc.sections, key=_start)]
    sections += [_kind_section(spec, resources) for spec in KIND_SECTIONS]
    resource = compact(
        {
            "resourceType": "Composition",
            "id": rid,
            "meta": security_meta(),
            "text": narrative_paragraph(title),
            "identifier": identifier(ctx.settings, rid),
            "status": "final",
            "type": doc_type,
            "subject": context_reference(ctx.context.subject),
            "encounter": context_reference(ctx.context.encounter),
            "date": ctx.now,
            "author": [ref(ctx.device_id)],
            "title": title,
            "relatesTo": relates_to(ctx.doc.source),
            "section": sections,
        }
    )
    return Built(finish(resource), title)


def relates_to(source: SourceRef) -> list[JSONDict]:
    """``transforms`` → the source document's business identifier, when it has one.

    R4 types ``relatesTo.targetReference`` as Reference(Composition), so a reference to a
    DocumentReference there is invalid; without an identifier the link is left to
    Provenance.entity (which always names the source).
    """
    if source.identifier:
        return [{"code": "transforms", "targetIdentifier": dict(source.identifier)}]
    return []


def _type_text(doc_type: JSONDict) -> str:
    codings = doc_type.get("coding") or [{}]
    return str(doc_type.get("text") or codings[0].get("display") or "note")


def _start(section: Section) -> tuple[int, int]:
    return section.start, section.end


def _note_section(section: Section, resources: Sequence[Built]) -> JSONDict:
    inside = [
        built
        for built in resources
        if any(section.start <= m.start < section.end for m in built.mentions)
        or any(section.start <= start < section.end for start, _ in built.spans)
    ]
    title = clean_text(section.title) or section.name.replace("_", " ")
    return {"title": title, **_contents(inside, "Nothing was extracted from this section.")}


def _kind_section(spec: KindSection, resources: Sequence[Built]) -> JSONDict:
    found = [built for kind in spec.kinds for built in resources if built.resource_type == kind]
    contents = _contents(found, spec.empty)
    if not found:
        contents["emptyReason"] = EMPTY_REASON
    return {
        "title": spec.title,
        "code": {"coding": [coding(LOINC, spec.code, spec.display)]},
        **contents,
    }


def _contents(found: Sequence[Built], empty: str) -> JSONDict:
    """Narrative and entries of a section listing ``found``, or the ``empty`` sentence."""
    if not found:
        return {"text": narrative_paragraph(empty)}
    return {
        "text": narrative_list([built.summary for built in found]),
        "entry": [ref(built.id) for built in found],
    }
