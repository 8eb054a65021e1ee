"""Acuity: a flare of a chronic condition picks the acute-on-chronic sibling by its title in
the store, never a code written here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.acuity import AcuteOnChronic
from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def selected(doc: ClinicalDocument) -> list[str]:
    return [c.code for e in doc.entities for c in e.selected_codes if c.system == ICD10CM]


@pytest.mark.parametrize("code", ["I50.22", "I50.32", "I50.42"])
def test_the_sibling_is_the_release_s_acute_on_chronic_title(
    store: TerminologyStore, code: str
) -> None:
    found = AcuteOnChronic(store).sibling(code)
    assert found is not None
    sibling, title = found
    assert cm.get_description(sibling) == title
    assert title.lower() == "acute on chronic " + cm.get_description(code)[8:].lower()


def test_a_code_without_a_chronic_title_has_no_sibling(store: TerminologyStore) -> None:
    assert AcuteOnChronic(store).sibling("I50.30") is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Chronic systolic CHF exacerbation.", "I50.23"),
        ("Acute exacerbation of chronic diastolic CHF.", "I50.33"),
        ("Decompensated chronic diastolic heart failure.", "I50.33"),
        # a past flare, a denied one, another condition's, none
        ("History of chronic systolic CHF exacerbations.", "I50.22"),
        ("Chronic diastolic CHF, no signs of exacerbation.", "I50.32"),
        ("Chronic diastolic CHF. COPD exacerbation.", "I50.32"),
        ("Chronic systolic heart failure, stable.", "I50.22"),
    ],
)
def test_a_flare_picks_acute_on_chronic(run: Run, text: str, code: str) -> None:
    assert code in selected(run(text))
