"""The targets stage: caller-given spans become entities."""

from __future__ import annotations

from note2fhir.document import ClinicalDocument, Entity, EntityType, SourceRef, TargetSpan
from note2fhir.extract.targets import TargetsStage
from note2fhir.offsets import OffsetMapBuilder
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


def run(doc: ClinicalDocument) -> list[tuple[int, int, str, str]]:
    TargetsStage(TargetsStage.Options(), load_settings()).process(doc)
    return [(e.start, e.end, e.type.value, e.source) for e in doc.entities]


def test_nested_targets_all_become_entities() -> None:
    text = "acute kidney injury"
    doc = ClinicalDocument(
        id="n1",
        source=SOURCE,
        original_text=text,
        targets=[TargetSpan(0, 19), TargetSpan(6, 19), TargetSpan(6, 12)],
    )
    assert run(doc) == [
        (0, 19, "problem", "targets"),
        (6, 12, "problem", "targets"),
        (6, 19, "problem", "targets"),
    ]


def test_a_target_replaces_an_extracted_entity_and_keeps_its_type() -> None:
    text = "metformin 500 mg"
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text, targets=[TargetSpan(0, 9)])
    doc.entities = [Entity("E1", 0, 16, text, EntityType.MEDICATION, source="dictionary")]
    assert run(doc) == [(0, 9, "medication", "targets")]


def test_targets_are_original_offsets_after_a_rewrite() -> None:
    original = "Pt John Smith denies chest pain"
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=original)
    doc.targets = [TargetSpan(original.index("chest"), len(original))]
    builder = OffsetMapBuilder()
    builder.copy(original, 0, 3)
    builder.replace("[NAME]", 3, 13)
    builder.copy(original, 13, len(original))
    text, later = builder.build(len(original))
    doc.rewrite(text, later)
    run(doc)
    (entity,) = doc.entities
    assert entity.text == "chest pain"
    assert doc.original_span(entity.start, entity.end) == (original.index("chest"), len(original))
