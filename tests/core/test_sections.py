"""The sections stage and its heading table."""

from __future__ import annotations

import pytest

from note2fhir.document import ClinicalDocument, SourceRef
from note2fhir.resources.loader import load_data_file
from note2fhir.sections.headings import SECTIONS_FILE, HeadingMatcher, SectionTable
from note2fhir.sections.stage import SectionsStage
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


def sections_of(text: str) -> list[tuple[str, str]]:
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    SectionsStage(SectionsStage.Options(), load_settings()).process(doc)
    return [(s.name, doc.text[s.start : s.heading_end]) for s in doc.sections]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "PMH: HTN, DM2\nMeds: lisinopril",
            [("past_medical_history", "PMH"), ("medications", "Meds")],
        ),
        ("ASSESSMENT AND PLAN\n1. CHF", [("assessment_plan", "ASSESSMENT AND PLAN")]),
        ("# Medications\naspirin", [("medications", "Medications")]),
        ("A/P: r/o MI", [("assessment_plan", "A/P")]),
        ("Family History - mother with breast ca", [("family_history", "Family History")]),
        ("past   medical\thistory:\n", [("past_medical_history", "past   medical\thistory")]),
        ("Plan to discharge tomorrow", []),
        ("The history of HTN is long", []),
        ("HPI:pt c/o SOB", [("history_present_illness", "HPI")]),
        # a case report titles its parts with a full stop, alone on the line
        ("Medical History.\nHe had a pneumothorax.", [("past_medical_history", "Medical History")]),
        ("Medical history. He had a pneumothorax.", []),
    ],
)
def test_headings(text: str, expected: list[tuple[str, str]]) -> None:
    assert sections_of(text) == expected


def test_nursing_body_system_headings() -> None:
    text = (
        "ALLERGIES: NKDA\nRESP: LS clear, on RA\nCV: NSR, no c/o CP\nGI/GU: abd soft\n"
        "ID: afebrile\nSOCIAL: wife in to visit\nDISPO: remains in CCU"
    )
    assert [name for name, _ in sections_of(text)] == [
        "allergies",
        "respiratory",
        "cardiovascular",
        "gastrointestinal",
        "infectious_disease",
        "social_history",
        "disposition",
    ]


def test_sections_run_heading_to_heading() -> None:
    text = "Intro line\nHPI: cough\nPlan: rest"
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    SectionsStage(SectionsStage.Options(), load_settings()).process(doc)
    hpi, plan = doc.sections
    assert (hpi.start, hpi.end) == (11, 22)
    assert (plan.start, plan.end) == (22, len(text))
    assert doc.section_at(0) is None
    assert doc.section_at(15) is hpi


def test_heading_table_is_consistent() -> None:
    table = load_data_file(SECTIONS_FILE, SectionTable)
    names = [kind.name for kind in table.sections]
    assert len(names) == len(set(names))
    HeadingMatcher(table)  # refuses a heading listed twice
    implied = {kind.name: kind.implies for kind in table.sections if kind.implies}
    assert implied["family_history"] == "family"
    assert implied["past_medical_history"] == "historical"


def test_long_whitespace_lines_stay_linear() -> None:
    """A pathological line must not make the heading regex backtrack for long."""
    text = ("PMH" + " " * 20000 + "x\n") * 5
    assert sections_of(text) == []
