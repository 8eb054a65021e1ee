"""Site codes: a generic finding's code gives way to the code of the site the note names."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.sites import load_site_rules
from note2fhir.document import ClinicalDocument, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def mention(doc: ClinicalDocument, text: str) -> Entity:
    return next(e for e in doc.entities if e.text == text)


def selected_icd(entity: Entity) -> list[str]:
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


def test_every_site_code_is_the_release_s_own_excludes_note(store: TerminologyStore) -> None:
    """Each replacement exists, in the store and in the release, and the generic category's
    Excludes1 note names it (never a code from memory)."""
    for rule in load_site_rules().rules:
        for site in rule.sites:
            if site.code is None:
                assert site.excludes_note is None
                continue
            assert cm.is_valid_item(site.code)
            assert store.concept(f"icd10cm:{site.code}") is not None
            for category in rule.generic:
                assert site.excludes_note in cm.get_excludes1(category), category


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("CT: increased vent size /edema in cerebellum.", "edema", "G93.6"),
        ("Autopsy revealed oedema of the brain and lungs.", "oedema", "G93.6"),
        ("Admitted to OSH with symp of CP/pul edema, ruled in for NQWMI.", "edema", "J81.1"),
    ],
)
def test_an_excluded_site_gets_its_own_code(run: Run, text: str, name: str, code: str) -> None:
    entity = mention(run(text), name)
    assert selected_icd(entity) == [code]
    assert "R60.9" in [c.code for c in entity.codes if not c.selected]  # kept for coders


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Funduscopic examination revealed left optic nerve edema.", "edema"),
        ("Biopsy showed edema of the superficial dermis.", "edema"),
        ("CT showed subcortical and white matter cortical hemorrhage.", "hemorrhage"),
        ("Recurrence of his periampullary cancer.", "cancer"),
        ("Diagnosis: primary advanced esophago-gastric melanoma.", "melanoma"),
        ("The presence of gastric choriocarcinoma was confirmed.", "choriocarcinoma"),
    ],
)
def test_a_site_without_a_code_here_keeps_none(run: Run, text: str, name: str) -> None:
    assert selected_icd(mention(run(text), name)) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("3+ edema noted in left arm.", "edema"),
        ("Lungs clear, edema in feet bilaterally.", "edema"),
        ("PT HAS SEVERE GENERALIZED PITTING EDEMA.", "EDEMA"),
        # a site word of another phrase: all capitals without punctuation, or after "in"
        ("LUNGS CLEAR 2+ PEDAL EDEMA", "PEDAL EDEMA"),
        ("RESP/PULM LUNGS CLEAR BILAT EDEMA", "EDEMA"),
        ("LE edema in setting of pulmonary hypertension.", "edema"),
    ],
)
def test_body_edema_keeps_the_generic_code(run: Run, text: str, name: str) -> None:
    assert selected_icd(mention(run(text), name))[0].startswith("R60")


def test_a_carcinoma_in_situ_keeps_no_malignant_code(run: Run) -> None:
    entity = mention(run("History of cervical carcinoma in situ, s/p LEEP."), "cervical carcinoma")
    assert selected_icd(entity) == []


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Concern that a cancer may have been missed.", "cancer", "C80.1"),
        ("Consistent with metastatic malignant melanoma.", "malignant melanoma", "C43.9"),
    ],
)
def test_no_site_keeps_the_unspecified_code(run: Run, text: str, name: str, code: str) -> None:
    assert selected_icd(mention(run(text), name)) == [code]
