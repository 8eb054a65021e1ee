"""Pressure ulcers: the site and stage a note gives pick the L89 code by its title in the
release, never a code written here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.ulcers import SITE_WORDS, UlcerCodes, read_codes
from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def selected_l89(doc: ClinicalDocument) -> list[str]:
    return [
        c.code
        for e in doc.entities
        for c in e.selected_codes
        if c.system == ICD10CM and c.code.startswith("L89")
    ]


def test_every_l89_leaf_is_read_from_its_title(store: TerminologyStore) -> None:
    codes = UlcerCodes(store).codes()
    leaves = [c for c in cm.get_descendants("L89") if cm.is_leaf(c)]
    assert sorted(codes.values()) == sorted(leaves)
    assert read_codes({c: cm.get_description(c) for c in leaves}) == codes  # the release's
    assert codes[("", "sacral region", "3")] == "L89.153"
    assert codes[("right", "heel", "deep")] == "L89.616"
    assert codes[("unspecified", "site", "unspecified")] == "L89.90"
    for code in codes.values():
        assert store.concept(f"icd10cm:{code}") is not None, code


def test_site_words_name_sites_of_the_titles(store: TerminologyStore) -> None:
    sites = {site for _, site, _ in UlcerCodes(store).codes()}
    assert set(SITE_WORDS.values()) <= sites
    # the coccyx and the tailbone are the sacral region's by its inclusion terms
    included = " ".join(cm.get_inclusion_term("L89.15")).lower()
    assert "coccyx" in included and "tailbone" in included


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Stage 3 pressure ulcer of sacrum.", "L89.153"),
        ("Pressure injury stage 4 right heel.", "L89.614"),
        ("Sacral decubitus ulcer, stage 2.", "L89.152"),
        ("Stage II sacral pressure ulcer.", "L89.152"),
        ("Unstageable pressure ulcer of left buttock.", "L89.320"),
        ("Decubitus ulcer L hip.", "L89.229"),  # no stage: unspecified stage of the site
        ("Pressure ulcer, stage 2.", "L89.92"),  # no site: unspecified site of the stage
        ("Pressure ulcer of the left heel, stage 3, dressing changed.", "L89.623"),
        ("Left heel: stage 2 pressure ulcer.", "L89.622"),
        ("Pressure ulcer on sacrum (stage 2).", "L89.152"),
        ("Sacral pressure ulcer, stage 3 with slough.", "L89.153"),
    ],
)
def test_site_and_stage_pick_the_code(run: Run, text: str, code: str) -> None:
    assert selected_l89(run(text)) == [code]


@pytest.mark.parametrize(
    "text",
    [
        "Pressure ulcer on coccyx and left heel, stage 2.",  # two sites: the coder's choice
        "Pressure ulcer of sacrum, stage 2 and stage 3 areas.",
        # another condition's stage or site in the clause: whose it is, the words do not say
        "CKD stage 3, sacral pressure ulcer noted on admission.",
        "Pressure ulcer, hip fracture.",
        "Stage IV lung cancer with sacral decubitus ulcer.",
    ],
)
def test_two_sites_or_stages_keep_the_generic_code(run: Run, text: str) -> None:
    doc = run(text)
    assert selected_l89(doc) == ["L89.90"]
    assert any(c.code == "L89.90" for e in doc.entities for c in e.codes)
