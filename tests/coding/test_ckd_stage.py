"""The stage of chronic kidney disease in clinicians' shorthand: without the word "stage", in
Roman numerals, joined to "CKD" ("CKD 3a", "CKD IV", "CKD3"); never a stage the note does not
give."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM

Run = Callable[[str], ClinicalDocument]


def codes(doc: ClinicalDocument) -> dict[str, list[str]]:
    """Each mention's selected ICD-10-CM codes, by its text."""
    return {e.text: [c.code for c in e.selected_codes if c.system == ICD10CM] for e in doc.entities}


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("CKD 3a", "CKD 3a", "N18.31"),
        ("CKD3", "CKD3", "N18.30"),
        ("CKD IV", "CKD IV", "N18.4"),
        ("CKD stage IIIb", "CKD stage IIIb", "N18.32"),
        ("CKD 5", "CKD 5", "N18.5"),
        ("CKD 3b.", "CKD 3b", "N18.32"),
        ("AKI on CKD 3a", "CKD 3a", "N18.31"),
        ("CKD-IV, HTN.", "CKD-IV", "N18.4"),
        # N18.5 Excludes1: chronic kidney disease, stage 5 requiring chronic dialysis (N18.6)
        ("CKD 5 on hemodialysis", "CKD 5 on hemodialysis", "N18.6"),
        ("CKD V on PD", "CKD V on PD", "N18.6"),
    ],
)
def test_a_stage_in_shorthand_is_read(run: Run, text: str, mention: str, code: str) -> None:
    assert codes(run(text))[mention] == [code]


def test_ckd_5_on_dialysis_makes_i13_2(run: Run) -> None:
    """Hypertension with heart failure and ESRD is I13.2, not I13.0 (CKD stages 1-4)."""
    doc = run("HTN, HFpEF, CKD 5 on hemodialysis.")
    assert codes(doc)["HTN"] == ["I13.2"]
    assert codes(doc)["CKD 5 on hemodialysis"] == ["N18.6"]


@pytest.mark.parametrize(
    "text",
    [
        "CKD 3 years ago",  # a count of years
        "CKD 4 yrs",
        "CKD 3-4",  # a range of stages
        "CKD stage 3/4",
        "CKD stage IV-V",
        "CKD I think is stable",  # a pronoun
        "CKD 2/2 HTN",  # "2/2" is "secondary to": a word bag takes each word once
    ],
)
def test_no_stage_the_note_does_not_give(run: Run, text: str) -> None:
    found = codes(run(text))
    assert found["CKD"] == ["N18.9"]
    assert not any(c.startswith("N18") and c != "N18.9" for cs in found.values() for c in cs)
