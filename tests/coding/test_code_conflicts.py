"""Codes the classification never reports together: the release's Excludes1 notes keep them
apart, and a code "without complications" gives way to a complication of its category."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.conflicts import EXCLUDES1, CodeConflicts
from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore
from terminology.sources.icd10cm import excludes1_targets

Run = Callable[[str], ClinicalDocument]


@pytest.fixture(scope="module")
def conflicts(store: TerminologyStore) -> CodeConflicts:
    return CodeConflicts(store)


def icd(doc: ClinicalDocument, text: str) -> list[str]:
    entity = next(e for e in doc.entities if e.text == text)
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


@pytest.mark.parametrize(
    ("codes", "losers"),
    [
        ({"R73.9", "E11.9"}, {"R73.9"}),  # R73: diabetes mellitus (E08-E13)
        ({"E16.2", "E11.649"}, {"E16.2"}),  # E16.2: diabetes with hypoglycemia (... E11.649 ...)
        ({"G81.90", "I69.351"}, {"G81.90"}),  # G81: ... sequela of cerebrovascular disease
        ({"R78.81", "A41.02"}, {"R78.81"}),  # A41: bacteremia NOS (R78.81)
        ({"F30.9", "F31.9"}, {"F30.9"}),  # F30: bipolar disorder (F31.-), the whole category
        ({"M81.0", "M80.08XA"}, {"M81.0"}),  # M81: osteoporosis with current ... fracture
        ({"Z33.1", "O10.013"}, {"Z33.1"}),  # Z33.1: complications of pregnancy (O00-O9A)
        ({"Z86.73", "I69.351"}, {"Z86.73"}),  # a history beside its sequela
        ({"F05", "R41.0"}, {"R41.0"}),  # F05: delirium NOS (R41.0)
        ({"E10.9", "E11.9"}, {"E10.9", "E11.9"}),  # each names the other's category
        # a title "without" what the other code names goes, not the condition
        ({"I25.10", "I20.0"}, {"I25.10"}),  # I25.10 ... without angina pectoris
        ({"K80.20", "K81.0"}, {"K80.20"}),  # calculus of gallbladder without cholecystitis
        ({"K57.90", "K92.2"}, {"K57.90"}),  # without bleeding; K92: ... with hemorrhage
        ({"F10.10", "F10.20"}, {"F10.10"}),  # abuse beside dependence (I.C.5.b.1)
        # a note that names a "without" code by its title is no word that code denies
        ({"G20.A1", "G20.C"}, {"G20.C"}),
        ({"E11.9", "I10"}, set()),
    ],
)
def test_the_note_decides_which_code_goes(
    conflicts: CodeConflicts, codes: set[str], losers: set[str]
) -> None:
    found = conflicts._decided(conflicts.conflicts(codes))
    assert {c.loser for c in found} == losers
    for c in found:  # each conflict is the release's own note, on the code or an ancestor
        assert c.source in {c.holder, *cm.get_ancestors(c.holder)}
        assert c.note in cm.get_excludes1(c.source)


def test_every_excludes1_row_is_a_note_of_the_release(store: TerminologyStore) -> None:
    rows = store.relation(ICD10CM, EXCLUDES1)
    assert len(rows) > 10_000
    for holder, target, note in rows[::97]:
        assert cm.is_valid_item(holder) and cm.is_valid_item(target)
        holders = [holder, *cm.get_ancestors(holder)]
        assert any(note in cm.get_excludes1(h) for h in holders), (holder, note)
        assert note is not None and excludes1_targets(note), (holder, target, note)


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Sepsis with bacteremia.", "bacteremia", None),
        ("Sepsis with bacteremia.", "Sepsis", "A41.9"),
        ("CKD stage 3 and DM2 with hyperglycemia", "hyperglycemia", None),
        # a sign away from the diagnosis, and two signs, may be unrelated (I.A.12.a)
        ("Sepsis. Bacteremia.", "Bacteremia", "R78.81"),
        ("Dyspnea and tachypnea.", "tachypnea", "R06.82"),
        ("Bipolar I disorder, current episode manic, severe.", "Bipolar I disorder", "F31.9"),
        ("Bipolar I disorder, current episode manic, severe.", "episode manic", None),
        # only the patient's present conditions conflict
        ("DM2. No hyperglycemia.", "DM2", "E11.9"),
        ("Hyperglycemia. Mother with diabetes.", "Hyperglycemia", "R73.9"),
        ("Hyperglycemia. ? DM2.", "Hyperglycemia", "R73.9"),
    ],
)
def test_a_conflicting_code_is_deselected_and_kept(
    run: Run, text: str, name: str, code: str | None
) -> None:
    doc = run(text)
    assert icd(doc, name) == ([code] if code else [])
    entity = next(e for e in doc.entities if e.text == name)
    if code is None:
        kept = next(c for c in entity.codes if c.system == ICD10CM)
        assert "Excludes1" in kept.reason and kept.reason.endswith("]")


def test_without_complications_gives_way_to_a_complication(run: Run) -> None:
    doc = run("Type 2 diabetes with diabetic foot ulcer of right great toe.")
    assert icd(doc, "diabetic foot ulcer") == ["E11.621"]
    assert icd(doc, "Type 2 diabetes") == []
    kept = next(e for e in doc.entities if e.text == "Type 2 diabetes").codes
    assert any("without complications" in c.reason for c in kept)
    assert icd(run("Type 2 diabetes. Hypertension."), "Type 2 diabetes") == ["E11.9"]


def test_without_complications_stays_beside_another_condition_of_its_category(
    run: Run,
) -> None:
    """I87.309 "Chronic venous hypertension (idiopathic) without complications ..." is no
    complication-free form of the venous insufficiency I87.2 beside it."""
    doc = run("Chronic venous hypertension of the right leg. Left leg venous stasis.")
    assert icd(doc, "Chronic venous hypertension") == ["I87.309"]
