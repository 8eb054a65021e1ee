"""Which mentions are allergens and reactions, and where a note says it has no known allergies
(``allergies.find_allergies``), on hand-built documents."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from note2fhir.document import ClinicalDocument, EntityType
from note2fhir.errors import Note2FhirError
from note2fhir.fhir.build.allergies import (
    AllergyRuleTable,
    default_allergy_rules,
    find_allergies,
)
from note2fhir.resources.loader import load_data_file

M, P = EntityType.MEDICATION, EntityType.PROBLEM


def allergens(doc: ClinicalDocument) -> dict[str, str]:
    """Allergen mention text → verification status."""
    found = find_allergies(doc).allergens
    return {e.text: found[e.id] for e in doc.entities if e.id in found}


def absorbed(doc: ClinicalDocument) -> list[str]:
    """The texts of the problem mentions that make no Condition."""
    ids = find_allergies(doc).absorbed
    return [e.text for e in doc.entities if e.id in ids]


def no_known(doc: ClinicalDocument) -> list[tuple[str, list[str]]]:
    """Each "no known allergies" statement: its label and the text of its phrases."""
    return [(s.label, [doc.text[a:b] for a, b in s.spans]) for s in find_allergies(doc).no_known]


# --- allergens --------------------------------------------------------------------------------


def test_medications_of_an_allergy_list_are_allergens(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: Penicillin (rash), codeine -&gt; hives</p>")
    note.sections(("allergies", "Allergies"))
    pcn, rash = note.mention("Penicillin", M), note.mention("rash", P)
    codeine, hives = note.mention("codeine", M), note.mention("hives", P)
    note.relate("causes", pcn, rash).relate("causes", codeine, hives)
    facts = find_allergies(note.doc)
    assert allergens(note.doc) == {"Penicillin": "confirmed", "codeine": "confirmed"}
    assert facts.reactions == {pcn.id: (rash.id,), codeine.id: (hives.id,)}
    assert absorbed(note.doc) == ["rash", "hives"]
    assert facts.no_known == ()


def test_the_allergy_list_ends_at_a_blank_line(helpers: Any) -> None:
    """ "SOCIAL:" is no heading the sections stage knows, so the section runs on; the drugs
    given later are no allergens, and the list still says NKDA."""
    note = helpers.make_note("<p>ALLERGIES:NKDA.\n \nSOCIAL: married.\nPROPOFOL started.</p>")
    note.sections(("allergies", "ALLERGIES"))
    note.mention("PROPOFOL", M)
    assert allergens(note.doc) == {}
    assert no_known(note.doc) == [("No known drug allergies", ["ALLERGIES:NKDA"])]


@pytest.mark.parametrize(
    ("html", "drugs", "expected"),
    [
        ("allergic to penicillin and codeine.", ["penicillin", "codeine"], ["confirmed"] * 2),
        ("She has an allergy to MSO4.", ["MSO4"], ["confirmed"]),
        ("Penicillin, sulfa allergies.", ["Penicillin", "sulfa"], ["confirmed"] * 2),
        ("Allergies: penicillin (rash).", ["penicillin"], ["confirmed"]),
    ],
)
def test_allergy_phrases_make_allergens_outside_the_section(
    helpers: Any, html: str, drugs: list[str], expected: list[str]
) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    for drug in drugs:
        note.mention(drug, M)
    assert allergens(note.doc) == dict(zip(drugs, expected, strict=True))


@pytest.mark.parametrize(
    "html",
    [
        "Meds: aspirin Allergies: NKDA",  # a heading after the drug, not "aspirin allergy"
        "aspirin, allergies to be reviewed",
        "allergic to\naspirin",  # the cue must be on the drug's line
        "took aspirin. allergic to nothing",
        "allergic reaction to aspirin",  # an event: the AdverseEvent path
    ],
)
def test_no_allergen_without_an_allergy_phrase(helpers: Any, html: str) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    note.mention("aspirin", M)
    assert allergens(note.doc) == {}


def test_assertion_decides_the_verification_status(helpers: Any) -> None:
    note = helpers.make_note(
        "<p>No allergy to penicillin. ? allergy to labetalol. Mother allergic to sulfa. "
        "If allergic to cefazolin, give clindamycin.</p>"
    )
    note.mention("penicillin", M, negated=True)
    note.mention("labetalol", M, uncertain=True)
    note.mention("sulfa", M, family=True)
    note.mention("cefazolin", M, hypothetical=True)
    assert allergens(note.doc) == {"penicillin": "refuted", "labetalol": "unconfirmed"}


def test_the_allergy_word_of_the_phrase_makes_no_condition(helpers: Any) -> None:
    note = helpers.make_note("<p>No allergy to penicillin. Codeine allergy. Seasonal allergy.</p>")
    word = note.mention("allergy", P, negated=True)
    note.relate("causes", note.mention("penicillin", M, negated=True), word)
    note.mention("Codeine", M)
    note.mention("allergy", P, nth=1)
    note.mention("Seasonal allergy", P)
    assert absorbed(note.doc) == ["allergy", "allergy"]
    assert find_allergies(note.doc).reactions == {}


def test_only_affirmed_problems_of_standing_allergies_are_reactions(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: penicillin (no rash), sulfa - hives</p>")
    note.sections(("allergies", "Allergies"))
    pcn, rash = note.mention("penicillin", M), note.mention("rash", P, negated=True)
    sulfa, hives = note.mention("sulfa", M, negated=True), note.mention("hives", P)
    note.relate("causes", pcn, rash).relate("causes", sulfa, hives)
    assert find_allergies(note.doc).reactions == {}
    assert absorbed(note.doc) == []


def test_outside_a_list_the_reaction_follows_the_allergen(helpers: Any) -> None:
    """ "Asthma and allergy to aspirin (hives)": the relations stage links aspirin to both
    problems; asthma is another item of the list, hives the reaction."""
    note = helpers.make_note("<p>Asthma and allergy to aspirin (hives).</p>")
    asthma, aspirin = note.mention("Asthma", P), note.mention("aspirin", M)
    hives = note.mention("hives", P)
    note.relate("causes", aspirin, asthma).relate("causes", aspirin, hives)
    assert find_allergies(note.doc).reactions == {aspirin.id: (hives.id,)}
    assert absorbed(note.doc) == ["hives"]


# --- no known allergies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Allergies: NKDA", [("No known drug allergies", ["Allergies: NKDA"])]),
        ("ALLERGIES- nka.", [("No known allergies", ["ALLERGIES- nka"])]),
        ("Allergies: N.K.D.A.", [("No known drug allergies", ["Allergies: N.K.D.A."])]),
        ("Allergies: none known.", [("No known allergies", ["Allergies: none known"])]),
        ("Drug allergies: none", [("No known drug allergies", ["Drug allergies: none"])]),
        ("Allergies: denies", [("No known allergies", ["Allergies: denies"])]),
        (
            "Allergies: no known allergies to medications",
            [("No known drug allergies", ["Allergies: no known allergies to medications"])],
        ),
        ("Allergies: NKA/NKDA", [("No known allergies", ["Allergies: NKA"])]),
        ("Food allergies: none", []),
        ("seasonal allergies - none this year", []),
        ("Allergies: no known allergies except penicillin", []),
        ("Allergies:\nNKDA", []),  # a heading on its own line is the sections stage's
        ("Pt is NKDA.", []),  # neither in an allergies section nor after the word
        ("Denies allergies.", []),
    ],
)
def test_no_known_allergies_after_the_word_allergies(
    helpers: Any, html: str, expected: list[tuple[str, list[str]]]
) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    assert no_known(note.doc) == expected


def test_no_known_allergies_in_an_allergies_section(helpers: Any) -> None:
    note = helpers.make_note("<h2>Allergies</h2><p>The patient has no known drug allergies.</p>")
    note.sections(("allergies", "Allergies"))
    words = note.mention("drug allergies", P, negated=True)
    assert no_known(note.doc) == [("No known drug allergies", ["no known drug allergies"])]
    assert find_allergies(note.doc).absorbed == {words.id}


def test_a_bare_word_counts_only_where_the_list_starts(helpers: Any) -> None:
    first = helpers.make_note("<h2>Allergies</h2><p>None.</p>")
    first.sections(("allergies", "Allergies"))
    assert no_known(first.doc) == [("No known allergies", ["None"])]
    later = helpers.make_note("<h2>Allergies</h2><p>Reviewed with patient, none.</p>")
    later.sections(("allergies", "Allergies"))
    assert no_known(later.doc) == []


def test_a_listed_allergy_contradicts_no_known_allergies(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: NKDA, penicillin (hives)</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("penicillin", M)
    assert no_known(note.doc) == []
    refuted = helpers.make_note("<p>Allergies: NKDA. Not allergic to penicillin.</p>")
    refuted.mention("penicillin", M, negated=True)
    assert [label for label, _ in no_known(refuted.doc)] == ["No known drug allergies"]


def test_the_words_of_the_statement_make_no_condition(helpers: Any) -> None:
    """ "Allergies: NKDA" in running text: the word "Allergies" is no allergic reaction."""
    note = helpers.make_note("<p>Pt admitted. Allergies: NKDA. Cough.</p>")
    note.mention("Allergies", P)
    note.mention("Cough", P)
    assert absorbed(note.doc) == ["Allergies"]


def test_a_note_without_allergies_says_nothing(helpers: Any) -> None:
    note = helpers.make_note("<p>Hypertension, on lisinopril.</p>")
    note.mention("lisinopril", M)
    facts = find_allergies(note.doc)
    assert (facts.allergens, facts.absorbed, facts.no_known) == ({}, frozenset(), ())


# --- the rule file and the results ------------------------------------------------------------


def test_the_rule_file_forbids_unknown_keys() -> None:
    table = load_data_file("allergy_rules.yaml", AllergyRuleTable)
    data = table.model_dump()
    data["no_known"]["bogus"] = []
    with pytest.raises(ValidationError):
        AllergyRuleTable.model_validate(data)
    assert default_allergy_rules() is default_allergy_rules()  # compiled once


def test_a_broken_rule_file_is_a_catalogue_error() -> None:
    with pytest.raises(Note2FhirError):
        load_data_file("relation_rules.yaml", AllergyRuleTable)


def test_facts_pickle(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: penicillin (rash). Allergies: NKDA</p>")
    note.mention("penicillin", M)
    facts = find_allergies(note.doc)
    assert pickle.loads(pickle.dumps(facts)) == facts


def test_pathological_notes_stay_linear(helpers: Any) -> None:
    """Long runs of allergy words, list marks and whitespace lines: every look is bounded."""
    text = "Allergies: " + "allergic to , and / " * 5000 + "none" + ("\n" + " " * 20000 + "x") * 5
    note = helpers.make_note(f"<p>{text}</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("none", M)
    assert allergens(note.doc) == {"none": "confirmed"}
