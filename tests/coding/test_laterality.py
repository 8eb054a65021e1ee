"""Laterality: a side named before a mention picks the sided sibling of an unspecified-side
code, found in the store by its title, never written in the code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.laterality import SidedCodes
from note2fhir.document import ClinicalDocument, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def selected_icd(doc: ClinicalDocument, text: str) -> list[str]:
    entity: Entity = next(e for e in doc.entities if e.text == text)
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Complains of left knee pain.", "knee pain", "M25.562"),
        ("R shoulder pain after a fall.", "shoulder pain", "M25.511"),
        ("left-sided hip pain", "hip pain", "M25.552"),
        ("Rt leg pain on walking.", "leg pain", "M79.604"),
        ("1. Left knee pain", "knee pain", "M25.562"),
        ("Fell yesterday. Right hip pain.", "hip pain", "M25.551"),
        ("x2 left hip pain", "hip pain", "M25.552"),
        ("Lt. shoulder pain", "shoulder pain", "M25.512"),
        ("Pain in the left knee.", "Pain in the left knee", "M25.562"),
        ("pain to L arm", "pain to L arm", "M79.602"),
    ],
)
def test_a_side_picks_the_sided_code(run: Run, text: str, name: str, code: str) -> None:
    doc = run(text)
    assert selected_icd(doc, name) == [code]
    entity = next(e for e in doc.entities if e.text == name)
    unspecified = [c for c in entity.codes if c.system == ICD10CM and not c.selected]
    assert unspecified  # the unspecified code stays for the coder
    assert cm.get_description(code) in {c.display for c in entity.codes}


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        # hemiplegia's siblings name dominance, which the words do not give
        ("right hemiparesis", "hemiparesis", "G81.90"),
        # no sided sibling: the code stays as it was
        ("left sided chest pain", "chest pain", "R07.9"),
        # no bilateral knee code: separate codes would be a coder's call
        ("bilateral knee pain", "knee pain", "M25.569"),
        ("knee pain", "knee pain", "M25.569"),
        # litres, not left
        ("NS BOLUS 1 L HIP PAIN", "HIP PAIN", "M25.559"),
    ],
)
def test_no_side_code_without_an_exact_sibling(run: Run, text: str, name: str, code: str) -> None:
    assert selected_icd(run(text), name) == [code]


def test_siblings_come_from_the_store_titles(store: TerminologyStore) -> None:
    sided = SidedCodes(store)
    found = sided.sided("M25.569")
    assert found == {
        "right": ("M25.561", cm.get_description("M25.561")),
        "left": ("M25.562", cm.get_description("M25.562")),
    }
    assert sided.sided("G81.90") == {}
    assert sided.sided("I10") == {}
