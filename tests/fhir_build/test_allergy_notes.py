"""Allergy statements of whole notes, end to end (the default pipeline, then the Bundle): an
allergy the note does not state is never made, and "no known allergies" never stands beside an
allergy the note names.  The notes are the ones a review found wrong; each pins what the
Bundle says now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from note2fhir.document import ClinicalDocument, SourceRef
from note2fhir.fhir.build import build_bundle
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
NKA, NKDA = "No known allergies", "No known drug allergies"

Process = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def process(terminology_dir: Path) -> Process:
    """The Bundle of a plain-text note, through the default pipeline."""
    settings = load_settings(terminology_dir=terminology_dir, terminology_artifact="default")
    pipeline = Pipeline.from_settings(settings)

    def run(text: str) -> dict[str, Any]:
        doc = pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
        return build_bundle(
            doc, bundle_type="collection", settings=settings, now=NOW, tool_version="0.1.0"
        )

    return run


def allergies(bundle: dict[str, Any]) -> list[str]:
    """Each AllergyIntolerance as "text status: reaction, ..." (status left out when
    confirmed)."""
    out = []
    for res in _resources(bundle, "AllergyIntolerance"):
        status = res["verificationStatus"]["coding"][0]["code"]
        line = res["code"]["text"] + ("" if status == "confirmed" else f" {status}")
        reactions = [r["manifestation"][0]["text"] for r in res.get("reaction", [])]
        out.append(line + (": " + ", ".join(reactions) if reactions else ""))
    return out


def conditions(bundle: dict[str, Any]) -> list[str]:
    """Each Condition as "text status" (status: the verification status when there is one and
    it is not confirmed)."""
    out = []
    for res in _resources(bundle, "Condition"):
        status = res.get("verificationStatus", {}).get("coding", [{}])[0].get("code", "confirmed")
        out.append(res["code"]["text"] + ("" if status == "confirmed" else f" {status}"))
    return out


def medications(bundle: dict[str, Any]) -> list[str]:
    return [
        r["medicationCodeableConcept"]["text"] for r in _resources(bundle, "MedicationStatement")
    ]


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


# --- 1. only the items of the allergy list are allergens ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a clause word ends the list: aspirin is taken, not an allergen, and NKDA stands
        ("Allergies: NKDA. On aspirin 81 mg daily.", [NKDA]),
        # a line break and a heading-like word ("Rx:", "prescriptions:") end it
        ("ALLERGIES: NKDA\nRx: lisinopril 10 mg daily", [NKDA]),
        ("ALLERGIES: NKDA\nCurrent outpatient prescriptions: lisinopril 10 mg daily", [NKDA]),
        ("ALLERGIES: NKDA  MEDS: ASA 81MG DAILY, LASIX 40MG", [NKDA]),
        # "takes", "tolerated" end it, and a tolerated drug is never an allergen
        ("Allergies: Codeine (nausea), takes tramadol instead", ["Codeine: nausea"]),
        ("Allergy: penicillin (tolerated amoxicillin)", ["penicillin"]),
        (
            "Allergies:\namoxicillin - hives, reports has tolerated cephalexin",
            ["amoxicillin: hives"],
        ),
    ],
)
def test_only_list_items_are_allergens(process: Process, text: str, expected: list[str]) -> None:
    assert allergies(process(text)) == expected


def test_a_drug_of_an_allergies_section_outside_the_list_makes_no_statement(
    process: Process,
) -> None:
    """The medication builder still makes no MedicationStatement for a drug of an allergies
    section (it cannot tell "On aspirin" from an allergen there): the drug is lost, not
    misstated."""
    bundle = process("Allergies: NKDA. On aspirin 81 mg daily.")
    assert medications(bundle) == []


# --- 2. a product "... Allergy" is no allergy ---------------------------------------------------


def test_a_product_named_allergy_is_a_medication(process: Process) -> None:
    bundle = process("MEDICATIONS: Claritin Allergy 10 mg daily")
    assert allergies(bundle) == []
    assert medications(bundle) == ["Claritin"]
    assert conditions(bundle) == []  # "Allergy" is a word of the product's name


def test_allergy_shots_are_no_allergen(process: Process) -> None:
    bundle = process("Continue Flonase and allergy shots.")
    assert allergies(bundle) == []
    assert medications(bundle) == ["Flonase"]


# --- 3. a non-drug allergy contradicts "no known allergies" -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Allergies: NKA\nShellfish - anaphylaxis",
        "Allergies: None\n\nHPI: She is allergic to peanuts and latex.",
        "Allergies: No known allergies. Latex allergy (hives).",
    ],
)
def test_a_named_allergy_drops_no_known_allergies(process: Process, text: str) -> None:
    bundle = process(text)
    assert allergies(bundle) == []
    assert not any(c.lower().startswith("allerg") for c in conditions(bundle))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an allergen class the drug lexicon does not know, after ";" (out of the list)
        ("Allergies: NKDA; PCN", []),
        ("Allergies: NKA; latex", []),
        ("Allergies: NKA; shellfish", []),
        ("Allergies: NKDA; contrast dye - hives", []),
        # a non-drug allergen leaves "no known drug allergies" standing
        ("Allergies: NKDA; latex", [NKDA]),
        # answers of a checklist deny them
        ("Pre-op checklist:\nAllergies: NKDA\nLatex - No\nIodine - No\nConsent signed", [NKDA]),
        ("Allergies: NKA\nDiet: no shellfish", [NKA]),
    ],
)
def test_an_allergen_word_in_the_allergy_block_drops_no_known_allergies(
    process: Process, text: str, expected: list[str]
) -> None:
    assert allergies(process(text)) == expected


def test_screening_for_an_allergy_states_none(process: Process) -> None:
    assert allergies(process("Screen for codeine allergy.")) == ["codeine unconfirmed"]
    assert "latex allergy unconfirmed" in conditions(process("Screen for latex allergy."))


# --- 4. "X allergy: none" and "denies X allergy" are about X alone ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tape allergy: none", []),
        ("Betadine allergy: none", []),
        # a refuted penicillin allergy, as the problem extractor reads it (Z88.0)
        ("Penicillin allergy: none", ["Penicillin allergy refuted"]),
        (
            "Contrast allergy: none\nLatex allergy: none\nBetadine allergy: none",
            ["Latex allergy refuted"],
        ),
        ("Allergies: Denies penicillin allergy", ["penicillin allergy refuted"]),
    ],
)
def test_a_specific_allergy_heading_is_no_statement_of_no_allergies(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == []
    assert conditions(bundle) == expected


# --- 5. no refuted "allergies" beside a positive allergy ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Allergies: no known allergies except penicillin",
        "Denies allergies to medications but is allergic to penicillin.",
    ],
)
def test_a_positive_allergy_absorbs_the_refuted_allergies_word(process: Process, text: str) -> None:
    bundle = process(text)
    assert allergies(bundle) == ["penicillin"]
    assert conditions(bundle) == []
