"""Linked codes: conditions the guidelines presume linked take their combination code when one
note names both; every code and note is the release's own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.links import load_link_rules
from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def icd(doc: ClinicalDocument, text: str) -> list[str]:
    entity = next(e for e in doc.entities if e.text == text)
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


def _names(note: str, code: str) -> bool:
    """Whether an Excludes1 note names ``code``, itself or by a bracketed prefix ("I25.1-")."""
    return code in note or any(
        code.startswith(prefix) for prefix in re.findall(r"([A-Z]\d[\dA-Z](?:\.\w+)?)-", note)
    )


def test_every_rule_cites_the_release(store: TerminologyStore) -> None:
    """Each combination code exists, in the store and in the release, and its category's
    Includes note (or its own "use additional code" note) names the link."""
    for rule in load_link_rules().rules:
        assert cm.is_valid_item(rule.code) and cm.is_leaf(rule.code), rule.code
        assert store.concept(f"icd10cm:{rule.code}") is not None
        notes = [
            *cm.get_includes(rule.code[:3]),
            cm.get_use_additional_code(rule.code),
            cm.get_description(rule.code),
            *(
                note
                for group in rule.with_
                for partner in group
                for code in (partner, partner[:3])
                for note in cm.get_excludes1(code)
                if _names(note, rule.code)
            ),
        ]
        assert rule.note in notes, rule.code
        title = cm.get_description(rule.code).lower()
        for partner in rule.includes:
            assert any(partner in group for group in rule.with_), (rule.code, partner)
            own = cm.get_description(partner).lower().removesuffix(", unspecified")
            excluded = any(
                _names(note, rule.code)
                for code in (partner, partner[:3])
                for note in cm.get_excludes1(code)
            )
            assert excluded or own in title, (rule.code, partner)
        for ruled_out in rule.without:
            assert f"without {cm.get_description(ruled_out).lower()}" in title, rule.code
        for code in rule.replaces:
            assert cm.is_valid_item(code)


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("PMH: HTN, CHF, DM.", "HTN", "I11.0"),
        ("PMH: HTN, CKD stage 4, CHF", "HTN", "I13.0"),
        ("HTN, ESRD on HD", "HTN", "I12.0"),
        ("Hypertension. Chronic kidney disease.", "Hypertension", "I12.9"),
        ("DM2, CKD stage 3", "DM2", "E11.22"),
        ("Problems:\n3. CKD stage 5 on hemodialysis\n4. HTN", "HTN", "I12.0"),
        ("HTN, CHF, ESKD", "HTN", "I13.2"),
        ("DM2 with hypoglycemia.", "DM2", "E11.649"),
        ("DM2 with hyperglycemia", "DM2", "E11.65"),
        ("T1DM, hyperglycemia", "T1DM", "E10.65"),
        ("DM2 with hypoglycemia with coma.", "DM2", "E11.641"),
        ("CAD. Unstable angina, heparin drip started.", "CAD", "I25.110"),
        ("CAD, stable angina on exertion.", "CAD", "I25.118"),  # stable angina: I20.89
        ("CAD. Angina with exertion.", "CAD", "I25.119"),
        ("PMH: CAD. Exertional angina.", "CAD", "I25.119"),  # a chronic angina listed
        # the note states the link itself
        ("CKD 4 due to HTN.", "HTN", "I12.9"),
        ("CKD stage 3 secondary to hypertension.", "hypertension", "I12.9"),
        ("CHF due to HTN.", "HTN", "I11.0"),
        ("CKD 3 due to DM2.", "DM2", "E11.22"),
    ],
)
def test_a_presumed_link_takes_the_combination_code(
    run: Run, text: str, name: str, code: str
) -> None:
    doc = run(text)
    assert icd(doc, name) == [code]
    entity = next(e for e in doc.entities if e.text == name)
    assert any(not c.selected and c.system == ICD10CM for c in entity.codes)  # kept


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("HTN. No CHF.", "HTN", "I10"),  # denied
        ("CAD. Hx of unstable angina 2015.", "CAD", "I25.10"),  # a past angina links nothing
        ("HTN. ? CHF.", "HTN", "I10"),  # not confirmed
        ("HTN. Mother with CHF.", "HTN", "I10"),  # a relative's
        ("Mother with HTN and CHF.", "HTN", "Z82.49"),  # her family history, no link
        # a cause or kind the note states, an ended condition, a denied link
        ("Hypertension due to CKD. CKD stage 3.", "Hypertension", "I10"),
        ("HTN 2/2 CKD 3", "HTN", "I10"),
        ("Renal hypertension. CKD stage 4.", "hypertension", "I10"),
        ("White coat hypertension. CHF.", "hypertension", "I10"),
        ("CKD stage 3, unrelated to hypertension. HTN.", "HTN", "I10"),
        ("Hypertension (resolved). CHF.", "Hypertension", "I10"),
        ("CKD due to IgA nephropathy, not diabetic. DM2.", "DM2", "E11.9"),
        ("CKD 4 due to IgA nephropathy. HTN.", "HTN", "I10"),  # another cause stated
    ],
)
def test_no_link_without_an_affirmed_partner(run: Run, text: str, name: str, code: str) -> None:
    assert icd(run(text), name) == [code]


def test_ckd_5_on_dialysis_is_esrd_and_links_as_such(run: Run) -> None:
    """N18.6 includes "Chronic kidney disease requiring chronic dialysis"."""
    doc = run("CKD stage 5 on HD, CHF, HTN")
    assert icd(doc, "CKD stage 5 on HD") == ["N18.6"]
    assert icd(doc, "HTN") == ["I13.2"]
    # the next item's number is no ward number ("on Quartermain 6")
    doc = run("PMH: 1. CKD stage 5 on hemodialysis 2. HTN")
    assert icd(doc, "CKD stage 5 on hemodialysis") == ["N18.6"]


@pytest.mark.parametrize(
    ("text", "partner"),
    [
        ("DM2 with hypoglycemia.", "hypoglycemia"),
        ("DM2 with hyperglycemia", "hyperglycemia"),
    ],
)
def test_the_partner_the_combination_includes_is_deselected(
    run: Run, text: str, partner: str
) -> None:
    assert icd(run(text), partner) == []


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("T1DM w/ DKA", "DKA", "E10.10"),
        ("Type 1 diabetes presenting in diabetic ketoacidosis.", "diabetic ketoacidosis", "E10.10"),
        ("DM2. DKA.", "DKA", "E11.10"),  # documented type 2
        ("DKA.", "DKA", "E11.10"),  # no type documented: the default
        ("T1DM. T2DM. DKA.", "DKA", None),  # both named: not carried, and E10/E11 exclude
    ],
)
def test_the_documented_type_is_carried_to_a_complication(
    run: Run, text: str, name: str, code: str | None
) -> None:
    assert icd(run(text), name) == ([code] if code else [])
