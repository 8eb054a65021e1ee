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

from note2fhir.assertion.stage import AssertionStage
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
    (assertion,) = [s for s in pipeline.stages if isinstance(s, AssertionStage)]

    def run(text: str) -> dict[str, Any]:
        doc = pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
        return build_bundle(
            doc,
            bundle_type="collection",
            settings=settings,
            now=NOW,
            tool_version="0.1.0",
            assertion=assertion,
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a line of its own with a dose is a drug taken; "on", "takes", "MEDS:" inside the
        # section make none (its narrative tells of reactions: "GI bleed on aspirin 325 mg")
        ("Allergies: NKDA. On aspirin 81 mg daily.", []),
        ("ALLERGIES: NKDA  MEDS: ASA 81MG DAILY, LASIX 40MG", []),
        ("Allergies: Codeine (nausea), takes tramadol instead", []),
        ("ALLERGIES: NKDA\nRx: lisinopril 10 mg daily", []),
        # a dosed line in an allergies section is no drug taken either: it may be of an
        # allergen's class ("Sulfa - rash\nBactrim DS 1 tab bid")
        ("Allergies: NKDA\nAspirin 81 mg daily", []),
        # a drug of the list that is no allergen, or of the block's other lines, makes nothing
        ("Allergy: penicillin (tolerated amoxicillin)", []),
        ("Allergies: sulfa, not aspirin.", []),
        ("Allergies: NKDA\nLisinopril", []),
        ("Allergies:\nAspirin 81 mg daily", []),  # no allergen either
    ],
)
def test_a_drug_of_an_allergies_section_after_the_list_is_a_medication(
    process: Process, text: str, expected: list[str]
) -> None:
    """It used to make nothing (the medication builder skipped every drug of an allergies
    section): a dosed line of its own is now a MedicationStatement; "On aspirin" is not."""
    bundle = process(text)
    assert medications(bundle) == expected
    assert not set(expected) & {a.split(":")[0] for a in allergies(bundle)}


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
    ("text", "expected"),
    [
        ("Allergies: NKA\nShellfish - anaphylaxis", ["Shellfish: anaphylaxis"]),
        ("Allergies: None\n\nHPI: She is allergic to peanuts and latex.", ["peanuts", "latex"]),
        ("Allergies: No known allergies. Latex allergy (hives).", ["Latex: hives"]),
    ],
)
def test_a_named_allergy_drops_no_known_allergies(
    process: Process, text: str, expected: list[str]
) -> None:
    """The non-drug allergen is now an AllergyIntolerance of its own (it made none before)."""
    bundle = process(text)
    assert allergies(bundle) == expected
    assert conditions(bundle) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an allergen after ";" is an item of the list, as after "," or a line break
        ("Allergies: NKDA; PCN", ["PCN"]),
        ("Allergies: NKA; latex", ["latex"]),
        ("Allergies: NKA; shellfish", ["shellfish"]),
        ("Allergies: NKDA; contrast dye - hives", ["contrast dye: hives"]),
        # a non-drug allergen leaves "no known drug allergies" standing
        ("Allergies: NKDA; latex", ["latex", NKDA]),
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
    assert allergies(process("Screen for codeine allergy.")) == []
    assert allergies(process("Screen for peanut allergy before starting solids.")) == []
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


# --- 6. an allergy list over several lines ------------------------------------------------------


def categories(bundle: dict[str, Any]) -> dict[str, list[str]]:
    """``code.text`` → category of each AllergyIntolerance."""
    return {r["code"]["text"]: r["category"] for r in _resources(bundle, "AllergyIntolerance")}


NUMBERED = "".join(
    f"{n}. {item}\n"
    for n, item in enumerate(
        [
            "Penicillin - rash",
            "Codeine - nausea",
            "Sulfa - hives",
            "Latex - itching",
            "Shellfish - anaphylaxis",
            "Peanuts - swelling",
            "Morphine - vomiting",
            "Aspirin - wheezing",
            "Iodine - rash",
            "Eggs - diarrhea",
            "Bee stings - anaphylaxis",
            "Ibuprofen - hives",
        ],
        start=1,
    )
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Allergies:\nPenicillin - rash\nSulfa - hives", ["Penicillin: rash", "Sulfa: hives"]),
        (
            "ALLERGIES:\n- penicillin (hives)\n- codeine (nausea)",
            ["penicillin: hives", "codeine: nausea"],
        ),
        ("Allergies: penicillin - rash\ncodeine - nausea", ["penicillin: rash", "codeine: nausea"]),
        # drug allergens first, then the others, each in text order
        (
            f"Allergies:\n{NUMBERED}\nMedications:\nmetoprolol 25 mg bid",
            [
                "Penicillin: rash",
                "Codeine: nausea",
                "Morphine: vomiting",
                "Aspirin: wheezing",
                "Ibuprofen: hives",
                "Sulfa: hives",
                "Latex: itching",
                "Shellfish: anaphylaxis",
                "Peanuts: swelling",
                "Iodine: rash",
                "Eggs: diarrhea",
                "Bee stings: anaphylaxis",
            ],
        ),
        # a line after "no known drug allergies" that names an allergen and its reaction
        ("ALLERGIES: NKDA\nPenicillin - rash", ["Penicillin: rash"]),
    ],
)
def test_the_list_goes_on_over_item_lines(process: Process, text: str, expected: list[str]) -> None:
    """Each line's reactions are its own allergen's; none is a Condition."""
    bundle = process(text)
    assert allergies(bundle) == expected
    assert conditions(bundle) == []


@pytest.mark.parametrize(
    ("text", "expected", "meds"),
    [
        # a blank line and a heading end the list
        (
            "Allergies:\nPenicillin - rash\n\nMedications:\nmetoprolol 25 mg bid",
            ["Penicillin: rash"],
            ["metoprolol"],
        ),
        ("Allergies:\nPenicillin - rash\nPlan: start aspirin", ["Penicillin: rash"], ["aspirin"]),
        # a drug line with a sig after NKDA is no medication of this section; what it is is
        # not told, so NKDA is not stated beside it
        ("Allergies: NKDA\nAspirin 81 mg daily", [], []),
        # a prose line is no list: no allergy is read from it, nor a medication; its rash is
        # the reaction it tells of, no current problem
        (
            "Allergies:\nPatient reports that she had a rash once after taking penicillin as "
            "a child",
            [],
            [],
        ),
    ],
)
def test_the_list_ends_at_a_line_that_is_no_item(
    process: Process, text: str, expected: list[str], meds: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == meds
    assert conditions(bundle) == []


# --- 7. allergens that are no drug -------------------------------------------------------------


def test_non_drug_allergens_have_text_and_category_only(process: Process) -> None:
    bundle = process("ALLERGIES: latex, shellfish (anaphylaxis)")
    assert allergies(bundle) == ["latex", "shellfish: anaphylaxis"]
    assert categories(bundle) == {"latex": ["environment"], "shellfish": ["food"]}
    assert conditions(bundle) == []  # anaphylaxis is the reaction, no active Condition
    for res in _resources(bundle, "AllergyIntolerance"):
        assert set(res["code"]) == {"text"}  # no code is shipped for them: none is made up
        assert res["type"] == "allergy"
        assert res["clinicalStatus"]["coding"][0]["code"] == "active"


def test_a_drug_class_word_is_a_medication_allergen(process: Process) -> None:
    """ "sulfa", "PCN": category medication, and "no known drug allergies" goes."""
    bundle = process("Allergies: NKDA, sulfa (hives)\nHPI: allergy to pcn.")
    assert allergies(bundle) == ["sulfa: hives", "pcn"]
    assert categories(bundle) == {"sulfa": ["medication"], "pcn": ["medication"]}
    assert medications(bundle) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HPI: Allergic to peanuts.", ["peanuts"]),
        ("She has a peanut allergy and shellfish allergy.", ["peanut", "shellfish"]),
        ("Allergies: NKDA, latex", ["latex", NKDA]),  # a non-drug allergen leaves NKDA
        ("Allergies: NKDA, latex (hives)", ["latex: hives", NKDA]),
        ("Allergies: NKA, latex", ["latex"]),
        ("Allergies: NKDA\nLatex", ["Latex", NKDA]),
        ("Allergies: seasonal", ["seasonal"]),
        # never outside an allergy list or phrase
        ("She ate peanuts.", []),
        ("Latex gloves used", []),
        ("Mother is allergic to peanuts.", []),
        ("If allergic to latex use vinyl gloves.", []),
        ("Cat scratch fever.", []),
        ("Allergies: NKDA, cats at home", [NKDA]),  # "cats at home" is no list item
        # a negated one is lost, not refuted: the extractor's refuted Condition stays
        ("Denies latex allergy.", []),
        ("Tape allergy: none", []),
    ],
)
def test_non_drug_allergens_only_where_an_allergy_is_stated(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == []
    assert not any(
        c.lower().split()[0] in {"peanut", "peanuts", "shellfish", "latex"}
        for c in conditions(bundle)
        if not c.endswith("refuted")
    )


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("Possible allergy to shellfish.", "allergy to shellfish unconfirmed"),
        ("Screen for latex allergy.", "latex allergy unconfirmed"),
    ],
)
def test_an_uncertain_allergen_in_a_problem_stays_its_condition(
    process: Process, text: str, condition: str
) -> None:
    """Only a confirmed allergen that is no drug takes the place of the extractor's Condition;
    an uncertain one leaves it, as a negated one does (main's "Screen for latex allergy")."""
    bundle = process(text)
    assert allergies(bundle) == []
    assert conditions(bundle) == [condition]


def test_seasonal_allergies_stay_a_condition(process: Process) -> None:
    """ "Seasonal allergies" is hay fever: a Condition, as before, and no allergen ("seasonal"
    names one only as a list item); NKDA outside a heading says nothing, as before."""
    bundle = process("NKDA. Seasonal allergies.")
    assert allergies(bundle) == []
    assert conditions(bundle) == ["Seasonal allergies"]


# --- 8. a line of the list is an item only when it says nothing but an allergy ----------------
# A second reader's findings on the first multi-line lists: a wrong allergy is worse than a
# missed one, so an item line holds an allergen, its reaction or severity and separators only.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a checklist's answers: no allergy (nothing, never a confirmed one)
        ("Allergies:\nLatex - No\nCodeine - denies", []),
        ("Allergies:\nPenicillin - none", []),
        ("Allergies:\nIodine: OK", []),
        ("Allergies:\nMorphine - tolerated", []),
        ("Allergies: Latex - No", []),
        ("Allergies: sulfa - hives\nLatex - No\nCodeine - denies", ["sulfa: hives"]),
        ("Allergies:\nPenicillin - rash\nMorphine - tolerated\nLatex - no", ["Penicillin: rash"]),
        ("Allergies: NKDA\nLatex - No\nIodine - No", [NKDA]),
        ("HPI: Allergic to latex? No.", []),
        # nor a Condition that states the allergy the answer denies
        ("Allergies: Penicillin allergy - No", []),
        ("Pre-op checklist:\nLatex allergy? no\nConsent signed", []),
        # a tolerance word with a drug after it answers nothing about the allergen
        ("Allergy: penicillin (tolerated amoxicillin)", ["penicillin"]),
    ],
)
def test_a_checklist_answer_is_no_allergy(process: Process, text: str, expected: list[str]) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == []
    # none, or the refuted one the answer says ("Penicillin allergy - No", as "Penicillin
    # allergy: none")
    assert all(c.endswith(" refuted") for c in conditions(bundle) if "allerg" in c.lower())


@pytest.mark.parametrize(
    ("text", "expected", "meds"),
    [
        # an order on a drug line: no allergen; a drug taken only where the note names no
        # drug allergen (the terminology holds no drug classes: "Sulfa\nBactrim - continue"
        # cannot be told from this)
        ("Allergies: Latex\nMetoprolol - continue", ["Latex"], ["Metoprolol"]),
        ("Allergies: NKDA\nMetoprolol - continue", [NKDA], ["Metoprolol"]),
        ("Allergies: Sulfa\nMetoprolol - continue", ["Sulfa"], []),
        ("Allergies:\nPenicillin - rash\nLisinopril - continue", ["Penicillin: rash"], []),
        # any other clause on a drug line: neither an allergen nor a drug taken
        ("Allergies: Sulfa\nMetoprolol - hold for low BP", ["Sulfa"], []),
        ("Allergies: Sulfa\nMetoprolol po", ["Sulfa"], []),
        # a sig makes no drug taken; the list ended before the codeine line
        ("Allergies: Sulfa\nMetoprolol daily\nCodeine - hives", ["Sulfa"], []),
    ],
)
def test_a_drug_line_after_the_list_is_no_allergen(
    process: Process, text: str, expected: list[str], meds: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == meds


@pytest.mark.parametrize(
    ("text", "expected", "meds"),
    [
        # a drug line after a blank line: neither an allergy nor a drug taken
        ("Allergies:\nPenicillin - rash\n\nCodeine", ["Penicillin: rash"], []),
        ("Allergies: NKDA\n\nCodeine", [NKDA], []),
        # ... nor a dosed one (it may be of an allergen's class)
        (
            "Allergies:\nPenicillin - rash\n\nCodeine 30 mg q6h prn",
            ["Penicillin: rash"],
            [],
        ),
        (
            "Allergies:\nPenicillin - rash\n\nTakes codeine for pain",
            ["Penicillin: rash"],
            [],
        ),
    ],
)
def test_a_drug_after_the_allergy_block_is_taken_only_when_the_text_says_so(
    process: Process, text: str, expected: list[str], meds: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == meds


@pytest.mark.parametrize(
    "text",
    [
        "Allergies: tolerates the hydrocodone",
        "Allergies:\nPenicillin - rash\ntolerates the hydrocodone",
        "Allergies: NKDA. Tolerated the cefazolin.",
    ],
)
def test_a_tolerated_drug_is_neither_an_allergen_nor_taken(process: Process, text: str) -> None:
    bundle = process(text)
    assert not any(a.lower().startswith(("hydrocodone", "cefazolin")) for a in allergies(bundle))
    assert medications(bundle) == []


@pytest.mark.parametrize(
    "text",
    [
        "Allergy: latex gloves used in OR without problem",
        "Allergies:\nlatex gloves used in OR without problem",
        "Allergies: penicillin - rash\nlatex gloves used in OR without problem",
    ],
)
def test_an_allergen_word_in_another_clause_is_no_allergy(process: Process, text: str) -> None:
    assert not any(a.lower().startswith("latex") for a in allergies(process(text)))


def test_the_allergen_words_are_read_with_the_configured_assertion_options(
    terminology_dir: Path,
) -> None:
    """The assertion stage that reads "peanuts" (no mention) is the configured one, given to
    the builder or built from the settings, never one with default options: here a stage
    told not to read hypotheses, which makes "if allergic to peanuts" an allergy, as it does
    for every mention of the note (a relative no longer shows it: the allergy rules read
    relatives in an allergen's own clause themselves)."""
    settings = load_settings(
        terminology_dir=terminology_dir,
        terminology_artifact="default",
        stages={"assertion": {"categories": ["negated", "uncertain", "historical", "family"]}},
    )
    pipeline = Pipeline.from_settings(settings)
    (assertion,) = [s for s in pipeline.stages if isinstance(s, AssertionStage)]
    doc = pipeline.run(
        ClinicalDocument(
            id="n1", source=SOURCE, original_text="If allergic to peanuts, avoid them."
        )
    )
    given = build_bundle(
        doc,
        bundle_type="collection",
        settings=settings,
        now=NOW,
        tool_version="0.1.0",
        assertion=assertion,
    )
    built = build_bundle(
        doc, bundle_type="collection", settings=settings, now=NOW, tool_version="0.1.0"
    )
    assert allergies(given) == allergies(built) == ["peanuts"]


# --- the clinical-safety review of allergy3 (review snippets, by their id) --------------------


@pytest.mark.parametrize(
    ("text", "expected", "kept"),
    [
        # v18, t01, u02, u04, v21, v17, t70: a problem that merely follows a non-drug allergen
        # is another item of the list, not its reaction
        (
            "Known latex allergy, HTN, DM2, CAD s/p CABG, presents with chest pain",
            ["latex"],
            ["HTN", "DM2", "CAD"],
        ),
        (
            "PMH: latex allergy, diabetes, hypertension, CKD stage 3",
            ["latex"],
            ["diabetes", "CKD stage 3"],
        ),
        ("PMH: asthma, peanut allergy, eczema, GERD", ["peanut"], ["eczema", "GERD"]),
        ("Peanut allergy (anaphylaxis), asthma, GERD", ["Peanut: anaphylaxis"], ["asthma", "GERD"]),
        ("PAST MEDICAL HISTORY: Peanut allergy, asthma, hypertension.", ["Peanut"], ["asthma"]),
        ("HPI: Pt with latex allergy and asthma presents with wheezing.", ["latex"], ["asthma"]),
        # ... while an attached one is its reaction
        ("Allergies: latex - hives", ["latex: hives"], []),
        ("Allergies: shellfish (anaphylaxis)", ["shellfish: anaphylaxis"], []),
    ],
)
def test_a_reaction_is_a_non_drug_allergens_only_when_attached(
    process: Process, text: str, expected: list[str], kept: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert set(kept) <= set(conditions(bundle))


@pytest.mark.parametrize(
    "text",
    [
        "Allergies: Aspirin - GI bleed on aspirin 325 mg",  # w09
        "Allergies: Sulfa - developed SJS while taking Bactrim",  # w12
        "Allergies: PCN - rash. On amoxicillin in past without problems.",  # w08
        "Allergies: NSAIDs - pt was taking naproxen and developed GI bleed",  # w11
        "Allergies: Penicillin - rash\nPatient takes amoxicillin without problems per PCP",  # s47
        "Allergy screen:\nLatex - No\nIodine - No\nShellfish - No\nPenicillin - Yes",  # s23
    ],
)
def test_the_allergy_narrative_makes_no_active_medication(process: Process, text: str) -> None:
    assert medications(process(text)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # relatives (u19, u20, v24, t42, u42, t35, u43, v01, v03, v04)
        ("Pt's wife is allergic to cats.", []),
        ("Her husband, who has a peanut allergy, accompanies her.", []),
        ("Allergies: NKDA. Wife allergic to shellfish.", [NKDA]),
        ("Allergies: Shellfish (mother)", []),
        ("Allergies: peanuts (pt's son)", []),
        ("Allergies: PCN (pt's daughter)", []),
        ("Allergies: nuts - family history only", []),
        ("Pt's wife is allergic to penicillin.", []),
        ("Allergies: penicillin - family history only", []),
        # denied, negative, outgrown, tolerated (t54, t43, u35, v05, v27, t17, u24, u31, v25,
        # v26, t23, u28, t41)
        ("Allergies: eggs - pt not allergic, tolerates", []),
        ("Allergies: iodine - pt states he is not allergic, only to seafood", []),
        ("Allergies: latex (per old chart, pt denies)", []),
        ("Allergies: penicillin (per old chart, pt denies)", []),
        ("Allergies: Latex - historical, tested negative 2019", []),
        ("Allergies: Contrast - pt given contrast in 2019 without issue", []),
        ("Allergies: NKDA\nLatex allergy: unknown", []),
        ("Allergies: PCN\nPt states she used to be allergic to eggs", ["PCN"]),
        ("Allergies: latex (resolved)", []),
        ("Allergies: PCN (resolved)", []),
        ("Allergies: egg (outgrew as child)", []),
        ("Allergies: NKDA. Took penicillin as child with no reaction.", []),
        ("Allergies: Codeine (nausea) - not a true allergy", []),
        # in doubt (s12, t05, w06, u49, u37, w04); the doubt of one item is its own
        ("Allergies: allergy to PCN questionable", ["PCN unconfirmed"]),
        ("Allergies: latex (questionable)", ["latex unconfirmed"]),
        ("Allergies: Latex (pt unsure)", ["Latex unconfirmed"]),
        ("Allergy to milk protein suspected; trial of dairy-free diet.", ["milk unconfirmed"]),
        ("Allergies: pcn, ? shellfish", ["pcn", "shellfish unconfirmed"]),
        # "X - unknown" in a list: the reaction is unknown, not the allergy
        ("Allergies:\nLatex - unknown", ["Latex"]),
        # still the patient's (x06, s13 keep their reaction)
        ("Allergies: NKDA\nPCN - ? rash as child", ["PCN unconfirmed: rash"]),
        ("Allergies: PCN - rash per mother", ["PCN: rash"]),
    ],
)
def test_an_item_that_takes_the_allergy_back_makes_none(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert not {m.lower() for m in medications(bundle)} & {"penicillin", "pcn"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # pre-existing: EpiPen, premedication, a class word, a checklist's "Yes"
        ("Allergies: Peanuts - pt carries EpiPen", ["Peanuts: carries"]),
        ("Allergies: Bee stings - anaphylaxis, carries EpiPen", ["Bee stings: anaphylaxis"]),
        (
            "Allergies: Contrast dye - premedicate with prednisone and benadryl",
            ["Contrast dye"],
        ),
        (
            "DISCHARGE SUMMARY\nAllergies: Penicillins / Sulfa (Sulfonamide Antibiotics) / Iodine",
            ["Penicillins", "Sulfa", "Iodine"],
        ),
        (
            "Allergy screen:\nLatex - No\nIodine - No\nShellfish - No\nPenicillin - Yes",
            ["Penicillin"],
        ),
        # misses: "HIT" is a reaction word; a "tolerated" answer does not take the next item
        (
            "ALLERGIES:\nPCN - HIVES\nHEPARIN - HIT\nIV CONTRAST - SOB",
            ["HEPARIN", "PCN: HIVES", "IV CONTRAST: SOB"],
        ),
        ("Allergies: Morphine - tolerated, Codeine - hives", ["Codeine: hives"]),
    ],
)
def test_what_is_no_allergen_and_what_the_list_keeps(
    process: Process, text: str, expected: list[str]
) -> None:
    assert allergies(process(text)) == expected


# --- 12. what main reads right stays read (second review of allergy3) --------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a cue past the comma after a reaction is about something else
        ("Allergies: Penicillin - anaphylaxis, possible angioedema", ["Penicillin: anaphylaxis"]),
        ("Allergies: penicillin - hives, no reaction to cephalexin", ["penicillin: hives"]),
        ("Allergies: Codeine - nausea, denies other drug allergies", ["Codeine: nausea"]),
        ("Allergies: Aspirin - hives, resolved with benadryl", ["Aspirin: hives"]),
        (
            "Allergies: Ciprofloxacin - tendon rupture, no longer uses",
            ["Ciprofloxacin: tendon rupture"],
        ),
        (
            "Allergies: Penicillin - anaphylaxis, no problems since avoiding",
            ["Penicillin: anaphylaxis"],
        ),
        (
            "Allergies: Morphine - nausea, resolved with zofran; Codeine - hives",
            ["Morphine: nausea", "Codeine: hives"],
        ),
        # "N/V", "not sure of reaction" and "unknown" are no checklist answers
        ("ALLERGIES: CODEINE-N/V", ["CODEINE: N/V"]),
        ("Allergies: Codeine - n/v\nMorphine - itching", ["Codeine", "Morphine: itching"]),
        ("Allergies: NKDA except codeine - n/v", ["codeine"]),
        ("Allergies: Penicillin - not sure of reaction", ["Penicillin"]),
        ("Allergies: Codeine - unknown\nMorphine - hives", ["Codeine", "Morphine: hives"]),
        # an informant keeps the patient's allergy
        ("Social: Lives with wife, allergic to penicillin.", ["penicillin"]),
        ("Allergies: amoxicillin - rash per her son", ["amoxicillin: rash"]),
        ("Daughter at bedside states pt is allergic to penicillin.", ["penicillin"]),
        ("Spoke with family, pt allergic to codeine.", ["codeine"]),
        ("Allergies: Penicillin - anaphylaxis (pt and sister)", ["Penicillin: anaphylaxis"]),
        ("Allergies: amoxicillin (son), penicillin", ["penicillin"]),
        # a relative's allergy by the narrow patterns
        ("Wife is allergic to penicillin.", []),
        ("Mother has a penicillin allergy.", []),
        ("Allergies: shellfish (son), codeine (wife)", []),
        ("Allergies: codeine - husband", []),
        ("Family history of penicillin allergy.", []),
        ("Allergies: shellfish - wife, not patient", []),
        ("Allergies: Latex (family hx)", []),
        ("Allergies: Penicillin - rash (pt's mother also allergic)", ["Penicillin: rash"]),
        ("Allergies: Ibuprofen - GI bleed, husband also allergic", ["Ibuprofen: GI bleed"]),
        # a plan is no allergy
        ("Screen for peanut allergy before starting solids.", []),
    ],
)
def test_what_main_reads_right_stays_read(process: Process, text: str, expected: list[str]) -> None:
    assert sorted(allergies(process(text))) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "Allergies:\nSulfa - rash\nBactrim DS 1 tab bid",
        "Allergies:\nCodeine - nausea\nTylenol #3 1 tab q6h prn",
    ],
)
def test_a_dosed_line_of_an_allergies_section_is_no_medication(process: Process, text: str) -> None:
    assert medications(process(text)) == []


# --- 13. items after ";", orders beside an allergen, a spouse's allergy, "NA" (allergy4) -------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ";" separates items as "," and a line break do
        ("Allergies: ASA- GI BLEED; CODEINE- N/V", ["CODEINE: N/V", "ASA: GI BLEED"]),
        ("Allergies: ASA- GI BLEED, CODEINE- N/V", ["CODEINE: N/V", "ASA: GI BLEED"]),
        ("Allergies: penicillin (rash); sulfa (hives)", ["penicillin: rash", "sulfa: hives"]),
        ("Allergies: penicillin (rash)\nsulfa (hives)", ["penicillin: rash", "sulfa: hives"]),
        (
            "Allergies:\nPenicillin - rash; codeine - nausea\nSulfa - hives",
            ["Penicillin: rash", "codeine: nausea", "Sulfa: hives"],
        ),
        ("Allergies: latex; shellfish (anaphylaxis)", ["latex", "shellfish: anaphylaxis"]),
        # every window of an item stops at ";": answers, denial, resolved, doubt, relatives,
        # intolerance
        ("Allergies: penicillin (rash); sulfa - denies", ["penicillin: rash"]),
        ("Allergies: sulfa - denies; penicillin (rash)", ["penicillin: rash"]),
        ("Allergies: PCN (resolved); codeine - nausea", ["codeine: nausea"]),
        ("Allergies: codeine - nausea; PCN (resolved)", ["codeine: nausea"]),
        ("Allergies: codeine - nausea; ? PCN", ["codeine: nausea", "PCN unconfirmed"]),
        ("Allergies: penicillin - rash; husband also allergic to sulfa", ["penicillin: rash"]),
        ("Allergies: penicillin; wife allergic to sulfa", ["penicillin"]),
        ("Allergies: sulfa (mother); penicillin - hives", ["penicillin: hives"]),
        # a ";"-item that is no item ends the list
        ("Allergies: PCN - hives; tolerated cephalexin 2020", ["PCN: hives"]),
        ("Allergies: penicillin (rash); takes bactrim", ["penicillin: rash"]),
    ],
)
def test_items_after_a_semicolon(process: Process, text: str, expected: list[str]) -> None:
    bundle = process(text)
    assert sorted(allergies(bundle)) == sorted(expected)
    assert medications(bundle) == []
    assert conditions(bundle) == []


def test_an_intolerance_after_a_semicolon_is_its_own_items(process: Process) -> None:
    """ "lactose intolerance" after the ";" says nothing of PCN: PCN keeps its ``type``."""
    bundle = process("Allergies: PCN - hives; lactose intolerance")
    (pcn,) = _resources(bundle, "AllergyIntolerance")
    assert pcn["type"] == "allergy"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "X - continue" beside an allergen of X's class: no drug taken, and no allergen
        ("Allergies: Sulfa - rash\nBactrim - continue", ["Sulfa: rash"]),
        ("Allergies: Penicillin - hives\nAmoxicillin - continue", ["Penicillin: hives"]),
        ("Allergies: PCN - hives\nAmoxicillin - continue", ["PCN: hives"]),
        ("Allergies: Bactrim - rash\nBactrim - continue", ["Bactrim: rash"]),
    ],
)
def test_an_order_beside_a_drug_allergen_makes_no_active_medication(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert medications(bundle) == []


@pytest.mark.parametrize(
    "text",
    [
        "Her husband, who has a penicillin allergy, is at the bedside.",
        "Her husband, who has a peanut allergy, accompanies her.",
        "Her mother, who has a penicillin allergy, is at the bedside.",
        "Wife has a latex allergy.",
    ],
)
def test_another_persons_allergy_is_no_allergy_nor_condition_of_the_patient(
    process: Process, text: str
) -> None:
    bundle = process(text)
    assert allergies(bundle) == []
    assert conditions(bundle) == []


def test_the_patients_allergy_beside_a_spouse_stays(process: Process) -> None:
    assert conditions(process("Husband at bedside. Pt has a penicillin allergy.")) == [
        "penicillin allergy"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "NA" in a reaction's place: the reaction is not known, the allergy stands
        ("Allergies: Codeine - NA", ["Codeine"]),
        ("Allergies:\nCodeine - NA\nMorphine - hives", ["Codeine", "Morphine: hives"]),
        ("Allergies: Codeine - NA, Morphine - hives", ["Codeine", "Morphine: hives"]),
    ],
)
def test_na_after_an_allergen_is_no_denial(
    process: Process, text: str, expected: list[str]
) -> None:
    assert allergies(process(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "NA" answering a "<kind> allergy/allergies:" heading denies that kind
        ("Allergies: PCN\nFood allergies: NA", ["PCN"]),
        ("Allergies: PCN\nFood allergies: n/a", ["PCN"]),
        ("Allergies: NKDA\nLatex allergy: N/A", []),
        ("Latex allergy: NA", []),
        ("Food allergies: N/A", []),
        ("Allergies: Codeine allergy: NA", []),
        # after an allergen alone it is the reaction that is not known, also after a ";"
        ("Allergies: Codeine - N/A", ["Codeine"]),
        ("Allergies: CODEINE - NA; MORPHINE - N/A", ["CODEINE", "MORPHINE"]),
        ("Allergies: PCN - hives\nSulfa - N/A", ["PCN: hives", "Sulfa"]),
    ],
)
def test_na_answering_an_allergy_heading_is_a_denial(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert sorted(allergies(bundle)) == sorted(expected)
    assert conditions(bundle) == []


@pytest.mark.parametrize(
    ("text", "allergen", "taken"),
    [
        # a specific drug, contrast, iodine, a food or an allergen in doubt blocks no order
        ("Allergies: shellfish; iodine\nMetoprolol - continue", "iodine", ["Metoprolol"]),
        ("Allergies: contrast\nLisinopril - continue", "contrast", ["Lisinopril"]),
        ("Allergies: ? PCN\nLisinopril - continue", "PCN unconfirmed", ["Lisinopril"]),
        ("Allergies: Codeine - nausea\nMetoprolol - continue", "Codeine: nausea", ["Metoprolol"]),
        (
            "Allergies: PCN - tolerated amoxicillin, not true allergy\nLisinopril - continue",
            "PCN",
            ["Lisinopril"],
        ),
        # a drug class may hold the drug ordered: no drug taken
        ("Allergies: Sulfa - rash\nBactrim - continue", "Sulfa: rash", []),
        ("Allergies: Penicillin - hives\nAmoxicillin - continue", "Penicillin: hives", []),
        (
            "Allergies: ACE inhibitors - angioedema\nLisinopril - continue",
            "ACE inhibitors: angioedema",
            [],
        ),
    ],
)
def test_only_a_drug_class_allergen_blocks_an_order_continued(
    process: Process, text: str, allergen: str, taken: list[str]
) -> None:
    bundle = process(text)
    assert allergen in allergies(bundle)
    assert medications(bundle) == taken


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a "." ends the last ";"-item when another clause follows it
        ("Allergies: PCN; sulfa. Takes metoprolol.", ["PCN", "sulfa"]),
        ("Allergies: PCN; sulfa; codeine. Meds: ASA 81 mg", ["PCN", "sulfa", "codeine"]),
        ("ALLERGIES: SULFA; LATEX. PT A&O X3.", ["SULFA", "LATEX"]),
        # a ";" inside brackets belongs to the item
        ("Allergies: codeine (nausea; vomiting)", ["codeine: nausea, vomiting"]),
        ("ALLERGIES: CODEINE (N; V)", ["CODEINE"]),
    ],
)
def test_semicolon_items_end_at_a_sentence_and_stay_in_brackets(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert sorted(allergies(bundle)) == sorted(expected)
    assert conditions(bundle) == []
    assert "codeine" not in [m.lower() for m in medications(bundle)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "per <relative>" names who tells the patient's allergy
        ("Allergies: sulfa per daughter", ["sulfa"]),
        ("Allergies: sulfa per daughter, reaction unknown", ["sulfa"]),
        ("Allergies: sulfa (per daughter)", ["sulfa"]),
        # without "per" the bracket gives it to the relative
        ("Allergies: latex (wife)", []),
    ],
)
def test_an_informant_after_an_allergen_keeps_the_patients_allergy(
    process: Process, text: str, expected: list[str]
) -> None:
    bundle = process(text)
    assert allergies(bundle) == expected
    assert conditions(bundle) == []


@pytest.mark.parametrize("text", ["ALLERGY BAND ON", "Pt A&O x3, allergy band on."])
def test_an_allergy_band_names_no_allergy(process: Process, text: str) -> None:
    bundle = process(text)
    assert allergies(bundle) == []
    assert conditions(bundle) == []
