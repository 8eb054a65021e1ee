"""Cues across list items: a measured test in a nursing note's comma list is not denied by an
earlier item's "no", and a list's repeated item is not the first one's suspicion."""

from __future__ import annotations

from pathlib import Path

import pytest

from note2fhir.document import ClinicalDocument, Entity, SourceRef
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


@pytest.fixture(scope="module")
def pipeline(terminology_dir: Path) -> Pipeline:
    settings = load_settings(terminology_dir=terminology_dir, terminology_artifact="default")
    return Pipeline.from_settings(settings)


def mention(pipeline: Pipeline, text: str, name: str) -> Entity:
    doc = pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
    return next(e for e in doc.entities if e.text == name)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("resp-ls cta, no c/o sob, ra sat 95-100%, rr 16-18.", "sat"),
        ("CARDIAC--HR 70'S AV PACED, NO ECTOPY, BP 91-94/50, CONTS ON DOPAMINE.", "BP"),
    ],
)
def test_a_number_read_after_another_item_s_denial_stands(
    pipeline: Pipeline, text: str, name: str
) -> None:
    assert not mention(pipeline, text, name).assertion.negated


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("No temp 101 overnight.", "temp"),
        ("no c/o sob, sat 95%.", "sob"),
    ],
)
def test_a_denial_of_the_item_itself_stands(pipeline: Pipeline, text: str, name: str) -> None:
    assert mention(pipeline, text, name).assertion.negated


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("The tumour was negative for CD31, desmin and S100.", ["CD31", "desmin", "S100"]),
        # an aside in brackets does not break the list
        ("The tumour was negative for CD31 (clone JC70), desmin and S100.", ["desmin", "S100"]),
        ("Tox screen negative for cocaine and UDS.", ["UDS"]),
        # marker names no lexicon holds are list items too
        ("The tumour was negative for c-Kit, CD31, MNF116 and S100.", ["CD31", "S100"]),
    ],
)
def test_a_test_that_negative_for_names_was_done(
    pipeline: Pipeline, text: str, names: list[str]
) -> None:
    """A test in a "negative for" list is a stain or assay that came back negative: not
    negated (it would make no Observation), with "negative" as its value."""
    for name in names:
        found = mention(pipeline, text, name)
        assert not found.assertion.negated
        assert found.value == {"string": "negative"}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # a test that opens a clause of its own, or one followed by what was ruled out: no
        # Observation without its result
        ("US neg for cholecystitis and CT showed gallstones.", "CT"),
        ("ROS: negative for chest pain, troponin elevation and ECG changes.", "troponin"),
        # a result of its own, or a test of another clause after the list
        ("Labs negative for low potassium or high sodium.", "potassium"),
        ("Negative for bleeding, check CBC.", "CBC"),
        # a plain word no mention covers breaks the list: no value without knowing it
        ("The tumour was negative for spindling, CD31 and S100.", "S100"),
    ],
)
def test_a_test_after_negative_for_that_ends_no_item_gets_no_result(
    pipeline: Pipeline, text: str, name: str
) -> None:
    found = mention(pipeline, text, name)
    assert found.value in (None, {"string": "low"})
    assert found.assertion.negated


def test_a_list_s_second_item_of_the_same_words_is_not_the_first_s_suspicion(
    pipeline: Pipeline,
) -> None:
    doc = pipeline.run(
        ClinicalDocument(
            id="n1",
            source=SOURCE,
            original_text="Problems: suspected covid-19, covid-19, fever (finding).",
        )
    )
    first, second = [e for e in doc.entities if e.text == "covid-19"]
    assert first.assertion.uncertain
    assert not second.assertion.uncertain
    assert not mention(pipeline, doc.original_text, "fever").assertion.uncertain


def test_a_repeat_that_is_no_whole_item_keeps_the_suspicion(pipeline: Pipeline) -> None:
    doc = pipeline.run(
        ClinicalDocument(id="n1", source=SOURCE, original_text="Suspected PE, PE protocol CT.")
    )
    assert all(e.assertion.uncertain for e in doc.entities if e.text == "PE")


def test_ruled_out_in_short_form_negates(pipeline: Pipeline) -> None:
    assert mention(pipeline, "ADMITTED WITH CHEST PAIN. R/O'D MI.", "MI").assertion.negated


def test_a_doubt_inside_the_mention_is_uncertain(pipeline: Pipeline) -> None:
    text = "Patient is presenting with suspected lung cancer (situation)."
    assert mention(pipeline, text, "suspected lung cancer").assertion.uncertain


def test_a_test_not_checked_is_negated(pipeline: Pipeline) -> None:
    assert mention(pipeline, "Glucose not checked this shift.", "Glucose").assertion.negated


def test_a_test_not_drawn_leaves_the_problem_before_it(pipeline: Pipeline) -> None:
    text = "Patient febrile to 102, blood cultures were not drawn."
    assert not mention(pipeline, text, "febrile").assertion.negated
    assert mention(pipeline, text, "blood cultures").assertion.negated


@pytest.mark.parametrize(
    "text",
    [
        "Flu/COVID swab negative.",
        "COVID/flu: negative.",
        "COVID/flu/RSV negative.",
    ],
)
def test_no_name_of_a_slash_list_of_negative_tests_is_affirmed(
    pipeline: Pipeline, text: str
) -> None:
    """Each name is either the test ("COVID" of "COVID/flu negative") or a problem the test
    refuted ("COVID" of "Flu/COVID swab negative")."""
    doc = pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
    assert len(doc.entities) >= 2
    for e in doc.entities:
        assert e.type.value == "test" or e.assertion.negated, e.text


def test_a_colon_negative_after_a_test_is_its_result(pipeline: Pipeline) -> None:
    """ "Blood cultures: negative" reports cultures done; only a problem is denied so."""
    assert not mention(pipeline, "Blood cultures: negative.", "Blood cultures").assertion.negated


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("PMH: HTN on lisinopril, DM2 on metformin.", "lisinopril"),
        ("PMH: afib, currently on apixaban", "apixaban"),
    ],
)
def test_a_drug_taken_in_a_past_history_list_is_current(
    pipeline: Pipeline, text: str, name: str
) -> None:
    """review16 D25: "on" before the drug says it is taken now; the section's past does not
    make its MedicationStatement completed."""
    assert not mention(pipeline, text, name).assertion.historical


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        ("Switched from warfarin to apixaban.", "warfarin", "apixaban"),
        ("Switched warfarin to Eliquis 5 mg BID.", "warfarin", "Eliquis"),
        ("Warfarin replaced with apixaban.", "Warfarin", "apixaban"),
        ("Transitioned from heparin drip to apixaban.", "heparin", "apixaban"),
    ],
)
def test_a_switched_drug_is_over_and_its_successor_taken(
    pipeline: Pipeline, text: str, old: str, new: str
) -> None:
    """review16 D24: both anticoagulants stayed active."""
    assert mention(pipeline, text, old).assertion.historical
    assert not mention(pipeline, text, new).assertion.historical


def test_a_route_or_dose_switch_keeps_the_drug(pipeline: Pipeline) -> None:
    """review19: "Lasix switched to PO" changes the route; the Lasix goes on."""
    assert not mention(pipeline, "Lasix switched to PO.", "Lasix").assertion.historical
    assert not mention(pipeline, "Vanco switched to 1 g q12h.", "Vanco").assertion.historical
