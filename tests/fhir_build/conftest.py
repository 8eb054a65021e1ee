"""Hand-built ClinicalDocuments for the FHIR builder tests.

Notes are written as small HTML documents; :func:`reduce_html` turns them into a working text
with a real offset map (tags dropped or turned into newlines, ``&amp;`` into ``&``), so the
working offsets of a mention differ from its original ones, as they do after the HTML reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from note2fhir.document import (
    Assertion,
    ClinicalDocument,
    CodeCandidate,
    DocumentContext,
    Entity,
    EntityType,
    MedicationAttributes,
    Relation,
    Section,
    SourceRef,
)
from note2fhir.fhir.build import build_bundle
from note2fhir.offsets import OffsetMap, OffsetMapBuilder
from note2fhir.settings import Settings

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
"""The frozen build instant (non-UTC on purpose)."""

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

_TOKEN = re.compile(r"<(/?)(\w+)[^>]*>|&(amp|lt|gt|nbsp|quot);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "nbsp": " ", "quot": '"'}
_BLOCK_ENDS = {"p", "li", "h1", "h2", "h3", "div", "br", "ul"}


def reduce_html(html: str) -> tuple[str, OffsetMap]:
    """A tiny HTML → text reducer: block ends become newlines, other tags vanish."""
    builder = OffsetMapBuilder()
    pos = 0
    for match in _TOKEN.finditer(html):
        builder.copy(html, pos, match.start())
        if match.group(3):
            builder.replace(_ENTITIES[match.group(3)], match.start(), match.end())
        else:
            closing = match.group(1) or match.group(2) == "br"
            text = "\n" if closing and match.group(2) in _BLOCK_ENDS else ""
            builder.replace(text, match.start(), match.end())
        pos = match.end()
    builder.copy(html, pos, len(html))
    return builder.build(len(html))


def code(system: str, value: str, display: str, *, selected: bool = True) -> CodeCandidate:
    """A code candidate with a fixed score."""
    return CodeCandidate(system, value, display, 0.9, "test", selected)


@dataclass
class Note:
    """A ClinicalDocument under construction: add sections, then mentions and relations."""

    doc: ClinicalDocument
    _counter: int = 0

    def sections(self, *headings: tuple[str, str]) -> Note:
        """Sections ``(name, heading)``, each running to the next heading."""
        starts = [(self.doc.text.index(heading), name, heading) for name, heading in headings]
        starts.sort()
        for i, (start, name, heading) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(self.doc.text)
            self.doc.sections.append(Section(start, end, name, heading, start + len(heading)))
        return self

    def mention(
        self,
        phrase: str,
        type_: EntityType,
        *,
        nth: int = 0,
        codes: tuple[CodeCandidate, ...] = (),
        medication: MedicationAttributes | None = None,
        value: dict[str, Any] | None = None,
        **flags: Any,
    ) -> Entity:
        """The ``nth`` occurrence of ``phrase`` in the working text as an entity."""
        start = -1
        for _ in range(nth + 1):
            start = self.doc.text.index(phrase, start + 1)
        self._counter += 1
        section = self.doc.section_at(start)
        entity = Entity(
            id=f"e{self._counter}",
            start=start,
            end=start + len(phrase),
            text=phrase,
            type=type_,
            section=section.name if section else None,
            assertion=Assertion(**flags),
            codes=list(codes),
            medication=medication,
            value=value,
        )
        self.doc.entities.append(entity)
        return entity

    def relate(self, type_: str, source: Entity, target: Entity) -> Note:
        """Add a relation ``source`` → ``target``."""
        self.doc.relations.append(Relation(type_, source.id, target.id, "test"))
        return self


def source_ref(
    resource_id: str | None = "note-1",
    *,
    resource_type: str = "DocumentReference",
    identifier: dict[str, str] | None = None,
) -> SourceRef:
    """A source reference; ``resource_id=None`` leaves reference and id unset."""
    return SourceRef(
        resource_type=resource_type,
        resource_id=resource_id,
        reference=f"{resource_type}/{resource_id}" if resource_id else None,
        attachment_path=f"{resource_type}.content[0].attachment",
        content_type="text/html",
        identifier=identifier,
    )


def make_note(
    html: str, *, source: SourceRef | None = None, context: DocumentContext | None = None
) -> Note:
    """A Note over the HTML ``html``."""
    text, omap = reduce_html(html)
    doc = ClinicalDocument(
        id="doc",
        source=source or source_ref(),
        original_text=html,
        text=text,
        offsets=omap,
        context=context or DocumentContext(),
    )
    return Note(doc)


def full_context() -> DocumentContext:
    """A context as a DocumentReference reader fills it (display is PHI on purpose)."""
    return DocumentContext(
        subject={"reference": "Patient/p1", "display": "Amy Shaw"},
        encounter={"reference": "Encounter/enc-1"},
        date="2026-02-27T14:05:00-05:00",
        type={"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]},
    )


CLINIC_HTML = (
    "<h2>History of Present Illness</h2>"
    "<p>Patient denies chest pain. Reports dry cough.</p>"
    "<h2>Past Medical History</h2>"
    "<ul><li>History of myocardial infarction</li><li>Hypertension</li>"
    "<li>Type 2 diabetes</li><li>s/p D&amp;C</li></ul>"
    "<h2>Medications</h2>"
    "<p>Metoprolol 25 mg PO BID. Lisinopril 10 mg daily, discontinued due to cough. "
    "Not taking aspirin. Albuterol 2 puffs as needed for wheezing. "
    "Will start atorvastatin.</p>"
    "<h2>Family History</h2>"
    "<p>Mother had breast cancer &amp; diabetes. Father with hypertension. "
    "No family history of colon cancer.</p>"
    "<h2>Results</h2>"
    "<p>Blood pressure 150/95. Hemoglobin A1c 8.2 %. CT chest not done.</p>"
    "<h2>Assessment &amp; Plan</h2>"
    "<p>Hypertension, uncontrolled. Possible pneumonia vs bronchitis. "
    "If fever develops, consider chest x-ray. Rule out pulmonary embolism. "
    "s/p appendectomy. No colonoscopy to date. Plan colonoscopy next year.</p>"
)

HTN = code(ICD10, "I10", "Essential (primary) hypertension")
HTN_SCT = code(SNOMED, "59621000", "Essential hypertension")
DM2 = code(ICD10, "E11.9", "Type 2 diabetes mellitus without complications")


def clinic_note(source: SourceRef | None = None) -> Note:
    """An outpatient note with every entity type, assertion and relation the builders map."""
    p, m, t, x = EntityType.PROBLEM, EntityType.MEDICATION, EntityType.TEST, EntityType.PROCEDURE
    note = make_note(CLINIC_HTML, source=source, context=full_context()).sections(
        ("history_of_present_illness", "History of Present Illness"),
        ("past_medical_history", "Past Medical History"),
        ("medications", "Medications"),
        ("family_history", "Family History"),
        ("results", "Results"),
        ("assessment_plan", "Assessment & Plan"),
    )
    note.mention("chest pain", p, negated=True, codes=(code(SNOMED, "29857009", "Chest pain"),))
    note.mention("cough", p)
    note.mention("myocardial infarction", p, historical=True)
    htn = note.mention("Hypertension", p, codes=(HTN, HTN_SCT))
    diabetes = note.mention("Type 2 diabetes", p, codes=(DM2,))
    note.mention("D&C", x, historical=True)
    metoprolol = note.mention(
        "Metoprolol",
        m,
        codes=(code(RXNORM, "6918", "metoprolol"),),
        medication=MedicationAttributes(
            dose_value=25.0,
            dose_unit="mg",
            route={"system": SNOMED, "code": "26643006", "display": "Oral route"},
            route_text="PO",
            timing={"frequency": 2, "period": 1, "periodUnit": "d"},
            frequency_text="BID",
        ),
    )
    lisinopril = note.mention(
        "Lisinopril",
        m,
        medication=MedicationAttributes(
            text="10 mg daily", dose_value=10, dose_unit="mg", status="discontinued"
        ),
    )
    note.relate("causes", lisinopril, note.mention("cough", p, nth=1))
    note.mention("aspirin", m, negated=True)
    note.mention(
        "Albuterol",
        m,
        medication=MedicationAttributes(
            dose_value=2, dose_unit="puffs", as_needed=True, as_needed_reason="wheezing"
        ),
    )
    note.mention("atorvastatin", m, medication=MedicationAttributes(status="will start"))
    note.mention("breast cancer", p, family=True, relative="MTH")
    note.mention("diabetes", p, nth=1, family=True, relative="MTH", codes=(DM2,))
    note.mention("hypertension", p, family=True, relative="FTH", codes=(HTN,))
    note.mention("colon cancer", p, family=True, negated=True)
    note.mention("Blood pressure", t, value={"string": "150/95"})
    a1c = note.mention(
        "Hemoglobin A1c",
        t,
        codes=(code(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),),
        value={"value": 8.2, "unit": "%", "system": UCUM, "code": "%"},
    )
    note.mention("CT chest", t, negated=True)
    note.relate("reveals", a1c, diabetes)
    note.relate("treats", metoprolol, htn)
    note.mention("Hypertension", p, nth=1, codes=(HTN, HTN_SCT))
    note.mention("pneumonia", p, uncertain=True, differential=True)
    note.mention("bronchitis", p, uncertain=True, differential=True)
    note.mention("fever", p, hypothetical=True)
    note.mention("chest x-ray", t, hypothetical=True)
    note.mention("pulmonary embolism", p, uncertain=True)
    note.mention("appendectomy", x, historical=True)
    note.mention("colonoscopy", x, negated=True)
    note.mention("colonoscopy", x, nth=1, hypothetical=True)
    return note


ALLERGY_HTML = (
    "<h2>HPI</h2><p>Rash on the arms today. Cough from lisinopril.</p>"
    "<h2>Allergies</h2><p>Penicillin (rash), codeine -&gt; hives</p>"
    "<h2>Medications</h2><p>Lisinopril 10 mg daily.</p>"
)


def allergy_note() -> Note:
    """A note with an allergy list (drugs linked to their reactions), a rash of today, and an
    adverse effect outside the allergy list ("cough from lisinopril")."""
    p, m = EntityType.PROBLEM, EntityType.MEDICATION
    note = make_note(ALLERGY_HTML, context=full_context()).sections(
        ("history_present_illness", "HPI"),
        ("allergies", "Allergies"),
        ("medications", "Medications"),
    )
    rash = code(SNOMED, "271807003", "Eruption of skin")
    lisinopril = (code(RXNORM, "29046", "lisinopril"),)
    note.mention("Rash", p, codes=(rash,))
    note.relate("causes", note.mention("lisinopril", m, codes=lisinopril), note.mention("Cough", p))
    penicillin = note.mention("Penicillin", m, codes=(code(RXNORM, "7980", "penicillin G"),))
    note.relate("causes", penicillin, note.mention("rash", p, codes=(rash,)))
    codeine = note.mention("codeine", m, codes=(code(RXNORM, "2670", "codeine"),))
    hives = code(SNOMED, "126485001", "Urticaria")
    note.relate("causes", codeine, note.mention("hives", p, codes=(hives,)))
    note.mention("Lisinopril", m, codes=lisinopril)
    return note


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Default settings, independent of the developer's environment."""
    monkeypatch.delenv("NOTE2FHIR_CONFIG", raising=False)
    monkeypatch.delenv("NOTE2FHIR_IDENTIFIER_SYSTEM", raising=False)
    return Settings()


Build = Callable[..., dict[str, Any]]


@pytest.fixture
def build(settings: Settings) -> Build:
    """``build(doc, bundle_type="collection", **overrides)`` with the frozen clock."""

    def run(doc: ClinicalDocument, bundle_type: str = "collection", **kw: Any) -> dict[str, Any]:
        """Build one Bundle."""
        args: dict[str, Any] = {"settings": settings, "now": NOW, "tool_version": "0.1.0"}
        args.update(kw)
        return build_bundle(doc, bundle_type=bundle_type, **args)

    return run


@pytest.fixture
def clinic_bundle(build: Build) -> dict[str, Any]:
    """The collection Bundle of the clinic note."""
    return build(clinic_note().doc)


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    """The resources of one type in a Bundle, in entry order."""
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def by_text(bundle: dict[str, Any], resource_type: str, text: str) -> list[dict[str, Any]]:
    """Resources of one type whose code (or medication) text is ``text``."""
    found = []
    for res in resources(bundle, resource_type):
        concept = res.get("code") or res.get("medicationCodeableConcept") or {}
        if concept.get("text") == text:
            found.append(res)
    return found


def walk_references(node: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in a JSON value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from walk_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_references(item)


@pytest.fixture
def helpers() -> Any:
    """The module-level helpers, for test modules (no sys.path tricks needed)."""
    return SimpleNamespace(
        clinic_note=clinic_note,
        allergy_note=allergy_note,
        make_note=make_note,
        source_ref=source_ref,
        full_context=full_context,
        code=code,
        resources=resources,
        by_text=by_text,
        walk_references=walk_references,
        NOW=NOW,
        HTN=HTN,
        DM2=DM2,
        ICD10=ICD10,
        SNOMED=SNOMED,
        UCUM=UCUM,
    )
