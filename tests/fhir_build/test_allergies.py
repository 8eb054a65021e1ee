"""Which mentions are allergens and reactions, and where a note says it has no known allergies
(``allergies.find_allergies``), on hand-built documents."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from note2fhir.assertion.stage import AssertionOptions, AssertionStage
from note2fhir.document import ClinicalDocument, Entity, EntityType, Relation, SourceRef
from note2fhir.errors import Note2FhirError
from note2fhir.fhir.build.allergies import (
    AllergyRuleTable,
    default_allergy_rules,
    find_allergies,
)
from note2fhir.resources.loader import load_data_file
from note2fhir.settings import Settings

M, P = EntityType.MEDICATION, EntityType.PROBLEM


@pytest.fixture
def stage(settings: Settings) -> AssertionStage:
    """The assertion stage, which reads the words of allergens that are no mention."""
    return AssertionStage(AssertionOptions(), settings)


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
    ("html", "listed", "other"),
    [
        ("Allergies: NKDA. On aspirin 81 mg daily.", [], "aspirin"),
        ("Allergies: NKDA\nRx: lisinopril 10 mg daily", [], "lisinopril"),
        ("ALLERGIES: NKDA  MEDS: ASA 81MG DAILY, LASIX 40MG", [], "LASIX"),
        ("Allergies: Codeine (nausea), takes tramadol instead", ["Codeine"], "tramadol"),
        ("Allergies: penicillin; sulfa started", ["penicillin"], "sulfa"),  # no ";"-item
        ("Allergies: penicillin\nStarted sulfa", ["penicillin"], "sulfa"),  # no item line
        ("Allergies: penicillin Home: sulfa", ["penicillin"], "sulfa"),
    ],
)
def test_the_allergy_list_ends_at_a_line_a_semicolon_a_heading_or_a_clause(
    helpers: Any, html: str, listed: list[str], other: str
) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    note.sections(("allergies", html.split(":", maxsplit=1)[0]))
    for drug in [*listed, other]:
        note.mention(drug, M)
    assert allergens(note.doc) == dict.fromkeys(listed, "confirmed")


def test_a_tolerated_drug_is_no_allergen(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergy: penicillin (tolerated amoxicillin and cefazolin)</p>")
    note.sections(("allergies", "Allergy"))
    for drug in ("penicillin", "amoxicillin", "cefazolin"):
        note.mention(drug, M)
    assert allergens(note.doc) == {"penicillin": "confirmed"}


def test_a_negated_drug_is_refuted_only_inside_an_allergy_phrase(helpers: Any) -> None:
    """ "Not taking aspirin" in the list is no refuted allergy; "no allergy to X" is one."""
    note = helpers.make_note("<p>Allergies: sulfa, not aspirin. No allergy to penicillin.</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("sulfa", M)
    note.mention("aspirin", M, negated=True)
    note.mention("penicillin", M, negated=True)
    assert allergens(note.doc) == {"sulfa": "confirmed", "penicillin": "refuted"}


@pytest.mark.parametrize(
    ("html", "section", "word", "product"),
    [
        ("Claritin Allergy 10 mg daily", None, "Allergy", True),  # a number follows
        ("Zyrtec Allergy daily", ("medications", "Meds"), "Allergy", True),  # a medications list
        ("Flonase allergy spray", None, "allergy", True),
        ("Flonase and allergy shots", None, "allergy", False),  # a list word before
        ("aspirin, allergies to be reviewed", None, "allergies", False),
    ],
)
def test_an_allergy_word_that_names_a_product_or_a_topic_is_no_cue(
    helpers: Any, html: str, section: tuple[str, str] | None, word: str, product: bool
) -> None:
    """No allergen; the allergy word right after the drug is a word of the product's name and
    makes no Condition ("allergy shots" may: they treat an allergy)."""
    text = f"Meds: {html}" if section else html
    note = helpers.make_note(f"<p>{text}</p>")
    if section:
        note.sections(section)
    note.mention(html.split(maxsplit=1)[0].rstrip(","), M)
    problem = note.mention(word, P)
    assert allergens(note.doc) == {}
    assert (problem.id in find_allergies(note.doc).absorbed) == product


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
    # "hives" is still a reaction of the allergy list, not a current problem
    assert absorbed(note.doc) == ["hives"]


def test_a_reaction_of_a_drug_after_the_list_is_no_current_problem(helpers: Any) -> None:
    note = helpers.make_note(
        "<p>ALLERGIES: NKDA\nHad a rash with penicillin\n\nRash on the arm.</p>"
    )
    note.sections(("allergies", "ALLERGIES"))
    rash, pcn, today = (
        note.mention("rash", P),
        note.mention("penicillin", M),
        note.mention("Rash", P),
    )
    note.relate("causes", pcn, rash).relate("causes", pcn, today)
    assert allergens(note.doc) == {}  # the second line is no list item
    assert no_known(note.doc) == []  # but the block names a drug
    assert absorbed(note.doc) == ["rash"]  # a reaction; the rash after the blank line stays
    assert find_allergies(note.doc).taken == frozenset()  # nor is penicillin a drug taken


@pytest.mark.parametrize(
    ("html", "drugs", "expected"),
    [
        ("Allergies:\nPenicillin - rash\nSulfa - hives", ["Penicillin"], ["Penicillin", "Sulfa"]),
        ("ALLERGIES:\n- penicillin (hives)\n- codeine (nausea)", ["penicillin", "codeine"], None),
        ("Allergies: penicillin - rash\ncodeine - nausea", ["penicillin", "codeine"], None),
        (
            "Allergies:\n1. penicillin\n2) codeine\n• latex",
            ["penicillin", "codeine"],
            ["penicillin", "codeine", "latex"],
        ),
        ("ALLERGIES: NKDA\nPenicillin - rash", ["Penicillin"], None),
        # a blank line, a heading, a line that starts with no allergen or is long ends it
        ("Allergies: penicillin\n\ncodeine", ["penicillin", "codeine"], ["penicillin"]),
        ("Allergies: penicillin\nPlan: codeine", ["penicillin", "codeine"], ["penicillin"]),
        ("Allergies: penicillin\nThen codeine\nlatex", ["penicillin", "codeine"], ["penicillin"]),
        (
            "Allergies: penicillin\ncodeine " + "and more words " * 4,
            ["penicillin", "codeine"],
            ["penicillin"],
        ),
        # a stop word cuts the first line: no item line follows
        ("Allergies: NKDA. On aspirin\ncodeine", ["aspirin", "codeine"], []),
        # a number or a drug taken ends it; after NKDA a drug line needs its reaction
        ("Allergies: penicillin\ncodeine 30 mg", ["penicillin", "codeine"], ["penicillin"]),
        ("Allergies: NKDA\nLisinopril", ["Lisinopril"], []),
    ],
)
def test_the_allergy_list_goes_on_over_item_lines(
    helpers: Any, stage: AssertionStage, html: str, drugs: list[str], expected: list[str] | None
) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    note.sections(("allergies", html.split(":", maxsplit=1)[0]))
    for drug in drugs:
        note.mention(drug, M)
    for word in ("rash", "hives", "nausea"):
        if word in html:
            note.mention(word, P)
    facts = find_allergies(note.doc, assertions=stage.assert_spans)
    found = [*allergens(note.doc), *(a.text for a in facts.others)]
    assert found == (drugs if expected is None else expected)


def test_outside_a_list_the_reaction_follows_the_allergen(helpers: Any) -> None:
    """ "Asthma and allergy to aspirin (hives)": the relations stage links aspirin to both
    problems; asthma is another item of the list, hives the reaction."""
    note = helpers.make_note("<p>Asthma and allergy to aspirin (hives).</p>")
    asthma, aspirin = note.mention("Asthma", P), note.mention("aspirin", M)
    hives = note.mention("hives", P)
    note.relate("causes", aspirin, asthma).relate("causes", aspirin, hives)
    assert find_allergies(note.doc).reactions == {aspirin.id: (hives.id,)}
    assert absorbed(note.doc) == ["hives"]


def test_a_reaction_belongs_to_its_own_list_item(helpers: Any) -> None:
    """ "sulfa - hives": hives is sulfa's reaction, even where "sulfa" is no mention and the
    relations stage links penicillin to both problems."""
    note = helpers.make_note("<p>Allergies: penicillin (rash), sulfa - hives</p>")
    note.sections(("allergies", "Allergies"))
    pcn, rash, hives = (
        note.mention("penicillin", M),
        note.mention("rash", P),
        note.mention("hives", P),
    )
    note.relate("causes", pcn, rash).relate("causes", pcn, hives)
    assert find_allergies(note.doc).reactions == {pcn.id: (rash.id,)}
    more = helpers.make_note("<p>Allergies: codeine -&gt; hives, nausea</p>")
    more.sections(("allergies", "Allergies"))
    codeine, hives, nausea = (
        more.mention("codeine", M),
        more.mention("hives", P),
        more.mention("nausea", P),
    )
    more.relate("causes", codeine, hives).relate("causes", codeine, nausea)
    assert find_allergies(more.doc).reactions == {codeine.id: (hives.id, nausea.id)}


def test_an_intolerance_is_marked(helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: codeine (intolerance - nausea), morphine (rash)</p>")
    note.sections(("allergies", "Allergies"))
    codeine = note.mention("codeine", M)
    note.mention("morphine", M)
    assert find_allergies(note.doc).intolerances == {codeine.id}


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
        ("Tape allergy: none", []),  # about tape alone
        ("Penicillin allergy: none", []),
        ("Known allergies: none", [("No known allergies", ["Known allergies: none"])]),
        ("Allergies: Denies penicillin allergy", []),  # "denies" only with nothing after it
        ("Allergies: denied.", [("No known allergies", ["Allergies: denied"])]),
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


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # a cue that names a non-drug allergy leaves "no known drug allergies" standing
        ("Allergies: NKDA. Latex allergy.", ["No known drug allergies"]),
        ("Allergies: NKA. Latex allergy.", []),
        ("Allergies: NKA, latex", []),
        ("Allergies: NKDA, latex", ["No known drug allergies"]),
        ("Allergies: NKA. She is allergic to peanuts and cats.", []),
        ("Allergies: NKA. No known allergies other than bees.", []),
        ("Allergies: NKDA. Allergic to PCNX.", []),  # an unknown word may be a drug
        ("Allergies: NKDA. ? allergic reaction to the tape.", ["No known drug allergies"]),
        ("Allergies: NKDA. ? allergic reaction yesterday.", []),
        # a negated, generic or introducing cue contradicts nothing
        ("Allergies: NKA. Denies latex allergy. No allergy to shellfish.", ["No known allergies"]),
        ("Allergies: NKA per patient. Medications and allergies reviewed.", ["No known allergies"]),
        ("The patient has no known allergies. Allergies: NKA", ["No known allergies"]),
    ],
)
def test_a_named_allergy_contradicts_no_known_allergies(
    helpers: Any, html: str, expected: list[str]
) -> None:
    note = helpers.make_note(f"<p>{html}</p>")
    assert [label for label, _ in no_known(note.doc)] == expected


def test_a_drug_allergy_no_allergen_rule_reads_still_contradicts(helpers: Any) -> None:
    """In a medications section "X allergy" makes no allergen (product names such as "Zyrtec
    Allergy" stand there), but it does say the patient may have a drug allergy."""
    note = helpers.make_note("<p>Allergies: NKDA</p><p>Meds: lisinopril. Penicillin allergy.</p>")
    note.sections(("allergies", "Allergies"), ("medications", "Meds"))
    note.mention("lisinopril", M)
    note.mention("Penicillin", M)
    assert allergens(note.doc) == {}
    assert no_known(note.doc) == []


def test_a_mention_of_the_allergy_block_contradicts_no_known_allergies(helpers: Any) -> None:
    """The list is the first line; the block runs on to the blank line.  What follows a word
    that starts another clause on its line ("Rx: lisinopril") contradicts nothing."""
    note = helpers.make_note("<p>Allergies: NKA\nShellfish - anaphylaxis\n\nRash today.</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("anaphylaxis", P)
    note.mention("Rash", P)
    assert no_known(note.doc) == []
    drug = helpers.make_note("<p>Allergies: NKDA\nHad a rash with penicillin</p>")
    drug.sections(("allergies", "Allergies"))
    drug.mention("rash", P)
    drug.mention("penicillin", M)
    assert allergens(drug.doc) == {}  # no list item: no allergen, and no NKDA either
    assert no_known(drug.doc) == []
    taken = helpers.make_note("<p>Allergies: NKDA\nRx: lisinopril\nOn aspirin for CAD</p>")
    taken.sections(("allergies", "Allergies"))
    taken.mention("lisinopril", M)
    taken.mention("aspirin", M)
    taken.mention("CAD", P)
    assert [label for label, _ in no_known(taken.doc)] == ["No known drug allergies"]


def test_a_named_allergy_absorbs_the_refuted_allergies_word(helpers: Any) -> None:
    """A refuted Condition "allergies" would say "no allergies" beside the allergy."""
    note = helpers.make_note("<p>Denies allergies to medications but is allergic to latex.</p>")
    word = note.mention("allergies", P, negated=True)
    assert no_known(note.doc) == []
    assert find_allergies(note.doc).absorbed == {word.id}
    blocked = helpers.make_note("<p>Allergies: no known allergies except penicillin</p>")
    blocked.sections(("allergies", "Allergies"))
    word = blocked.mention("allergies", P, negated=True)
    blocked.mention("penicillin", M)
    assert allergens(blocked.doc) == {"penicillin": "confirmed"}
    assert find_allergies(blocked.doc).absorbed == {word.id}
    alone = helpers.make_note("<p>Denies allergies.</p>")
    alone.mention("allergies", P, negated=True)
    assert find_allergies(alone.doc).absorbed == frozenset()  # a refuted "allergies" stays


def test_an_allergy_word_after_an_allergen_word_makes_no_refuted_condition(helpers: Any) -> None:
    """ "Tape allergy: none" says nothing of other allergies; "Latex allergy" as one problem
    keeps its own refuted Condition."""
    note = helpers.make_note("<p>Tape allergy: none\nLatex allergy: none</p>")
    tape = note.mention("allergy", P, negated=True)
    note.mention("Latex allergy", P, negated=True)
    assert find_allergies(note.doc).absorbed == {tape.id}
    assert no_known(note.doc) == []


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


def test_a_long_list_of_other_allergens_stays_linear(helpers: Any, stage: AssertionStage) -> None:
    """3,000 item lines "latex - hives": one allergen with every mention (each look is
    bounded, the assertion of every candidate is read in one pass)."""
    note = helpers.make_note("<p>Allergies:\n" + "latex - hives\n" * 3000 + "</p>")
    note.sections(("allergies", "Allergies"))
    (latex,) = find_allergies(note.doc, assertions=stage.assert_spans).others
    assert (latex.text, latex.category, len(latex.spans)) == ("latex", "environment", 3000)


def test_without_an_assertion_reader_no_other_allergen_is_read(
    helpers: Any, stage: AssertionStage
) -> None:
    """Whether "latex" is the patient's, a relative's or a hypothesis is the assertion stage's
    to say: without it, no allergen that is no medication mention is made."""
    note = helpers.make_note("<p>Allergies: latex, shellfish</p>")
    note.sections(("allergies", "Allergies"))
    assert find_allergies(note.doc).others == ()
    read = find_allergies(note.doc, assertions=stage.assert_spans).others
    assert [a.text for a in read] == ["latex", "shellfish"]


def test_a_long_allergy_note_gives_every_allergen() -> None:
    """8,000 lines "allergic to aspirin (rash)": one allergen, reaction and absorbed problem
    per line (spans are searched by bisection; this took 2.3 s when each problem was compared
    with each allergy phrase)."""
    line = "allergic to aspirin (rash)\n"
    lines = 8000
    doc = ClinicalDocument("d", SourceRef("DocumentReference", "1", None, "p"), line * lines)
    for i in range(lines):
        base = i * len(line)
        drug = Entity(f"m{i}", base + 12, base + 19, "aspirin", M)
        rash = Entity(f"p{i}", base + 21, base + 25, "rash", P)
        doc.entities += [drug, rash]
        doc.relations.append(Relation("causes", drug.id, rash.id, "test"))
    facts = find_allergies(doc)
    assert (len(facts.allergens), len(facts.reactions), len(facts.absorbed)) == (lines,) * 3
    assert set(facts.allergens.values()) == {"confirmed"}
