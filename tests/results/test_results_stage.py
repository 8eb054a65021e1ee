"""The ``results`` stage: stated results around test mentions, with their own spans."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.annotations import document_annotations
from note2fhir.document import ClinicalDocument, Entity, EntityType, SourceRef
from note2fhir.pipeline import Pipeline
from note2fhir.results.finder import _in_reference_range
from note2fhir.results.stage import ResultsStage
from note2fhir.results.words import PhraseTable, load_result_words, phrase_key
from note2fhir.settings import load_settings

Run = Callable[[str], ClinicalDocument]
SRC = SourceRef("DocumentReference", "r1", "DocumentReference/r1", "DocumentReference.content")


@pytest.fixture(scope="module")
def prepare() -> Pipeline:
    return Pipeline.from_settings(load_settings(pipeline=["sections", "sentences", "targets"]))


@pytest.fixture(scope="module")
def results_stage() -> ResultsStage:
    stage = Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "results"])
    ).stages[-1]
    assert isinstance(stage, ResultsStage)
    return stage


@pytest.fixture
def run(
    prepare: Pipeline, results_stage: ResultsStage, mark: Callable[[str], ClinicalDocument]
) -> Run:
    """Mark mentions inline (``[[T:troponin]]``), then find results as if an extractor had
    found them (the stage leaves caller targets alone)."""

    def go(marked: str) -> ClinicalDocument:
        doc = prepare.run(mark(marked))
        for ent in doc.entities:
            ent.source = "lexicon:labs"
        doc.targets = []  # as if an extractor had found them
        results_stage.process(doc)
        return doc

    return go


def found(doc: ClinicalDocument) -> list[tuple[str, str | None, str]]:
    """(result text, test text, rule) for each result."""
    out = []
    for res in doc.results:
        test = doc.entity(res.entity) if res.entity else None
        out.append((doc.text[res.start : res.end], test.text if test else None, res.rule))
    return out


@pytest.mark.parametrize(
    ("marked", "expected"),
    [
        ("[[T:Troponin]] was elevated.", [("elevated", "Troponin", "value")]),
        ("[[T:Troponin]] was then noted to be elevated.", [("elevated", "Troponin", "linked")]),
        ("[[T:Troponin]] negative.", [("negative", "Troponin", "value")]),
        ("[[T:BNP]]: 1250 pg/mL", [("1250 pg/mL", "BNP", "value")]),
        ("Elevated [[T:troponin]] on arrival.", [("Elevated", "troponin", "before")]),
        ("Markedly elevated [[T:lipase]].", [("Markedly elevated", "lipase", "before")]),
        (
            "The [[T:examination]] yielded unremarkable findings.",
            [("unremarkable findings", "examination", "linked")],
        ),
        (
            "[[T:Serum B12]] levels were within normal limits.",
            [("within normal limits", "Serum B12", "value")],
        ),
        ("The tumor was negative for [[T:CD34]].", [("negative", "CD34", "before-for")]),
        ("[[T:Ejection fraction]] was found to be 35%.", [("35%", "Ejection fraction", "linked")]),
        ("[[T:Ejection fraction]] was measured at 35%.", [("35%", "Ejection fraction", "value")]),
        ("HIV-positive [[T:viral load]] pending", []),
    ],
)
def test_results_around_a_test(run: Run, marked: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(run(marked)) == expected


def test_every_item_of_a_list_after_for_takes_its_result(run: Run) -> None:
    doc = run("The tumour was negative for [[T:c-Kit]], [[T:CD31]], and [[T:S100]].")
    assert found(doc) == [
        ("negative", "c-Kit", "before-for"),
        ("negative", "CD31", "before-for-list"),
        ("negative", "S100", "before-for-list"),
    ]
    assert [e.value for e in doc.entities] == [{"string": "negative"}] * 3
    doc = run("Positive for [[T:CD56]] or [[T:CD20]] but [[T:CK7]] and [[T:CK20]].")
    assert [(t, test) for t, test, _ in found(doc)] == [("Positive", "CD56"), ("Positive", "CD20")]
    # a test that opens a clause of its own is no item of the list
    doc = run("Negative for [[T:HIV antibody]] and [[T:CT chest]] revealed a [[P:nodule]].")
    assert found(doc) == [("Negative", "HIV antibody", "before-for")]
    # only tests make such a list; a word that is no mention breaks it
    doc = run("Neg for [[P:cholecystitis]] and [[T:CT]] showed [[P:stones]].")
    assert found(doc) == []
    assert found(run("Ordered for [[T:CBC]], then [[T:BMP]] and [[T:troponin]].")) == []


def test_a_second_clause_ends_the_search(run: Run) -> None:
    assert found(run("[[T:CT]] was performed and the patient was discharged home.")) == []
    assert found(run("[[T:Troponin]] and [[T:CK]] were elevated.")) == [("elevated", "CK", "value")]


def test_another_mention_stops_the_search(run: Run) -> None:
    doc = run("[[T:ECG]] showed [[P:atrial fibrillation]], rate normal.")
    assert found(doc) == []


def test_standalone_result_after_a_reporting_verb(run: Run) -> None:
    doc = run("Gait and tandem gait were normal.")
    assert found(doc) == [("normal", None, "standalone")]
    doc = run("The [[P:mitral valve prolapse]] appeared unchanged; cultures were all negative.")
    assert ("negative", None, "standalone") in found(doc)


def test_measurements_anywhere_but_not_reference_ranges(run: Run) -> None:
    doc = run("[[T:Prothrombin time]] prolonged at 47.7 seconds (normal 12.3-16.6 seconds).")
    texts = [t for t, _, _ in found(doc)]
    assert "prolonged" in texts
    assert "47.7 seconds" in texts
    assert not any("12.3" in t for t in texts)
    doc = run("Saturation from pulse oximetry was 98%.")
    assert found(doc) == [("98%", None, "measurement")]


def test_measurements_with_thin_spaces_pairs_lists_and_powers_of_ten(run: Run) -> None:
    doc = run("Creatinine rose to 145\u2009μmol/l and urea to 9\u200ammol/l.")
    texts = [t for t, _, _ in found(doc)]
    assert texts == ["145\u2009μmol/l", "9\u200ammol/l"]
    doc = run("BP at one point was measured at 170/80 mmHg.")
    assert [t for t, _, _ in found(doc)] == ["170/80 mmHg"]
    doc = run("Lactate and pyruvate were 1.6 and 0.096 mmol/l, respectively.")
    assert [t for t, _, _ in found(doc)] == ["1.6 and 0.096 mmol/l"]
    doc = run("The count had ranged between 52 × 109/L and 69 × 10^9/L.")
    assert [t for t, _, _ in found(doc)] == ["52 × 109/L", "69 × 10^9/L"]


def test_a_bare_number_after_link_words_counts_only_at_a_clause_end(run: Run) -> None:
    assert found(run("Her [[T:Child-Pugh score]] was 8, and she was listed.")) == [
        ("8", "Child-Pugh score", "value")
    ]
    assert found(run("The [[T:SUV]] was measured as 3.8 (Figure 1).")) == [("3.8", "SUV", "linked")]
    assert found(run("The [[T:biopsy]] was repeated 5 times.")) == []


def test_a_number_after_a_closed_short_form(run: Run) -> None:
    doc = run("International normalized ratio ([[T:INR]]) 6.9, fibrinogen low.")
    assert found(doc)[0] == ("6.9", "INR", "value")


def test_result_nouns_before_of_and_course_words(run: Run) -> None:
    assert found(run("Symptoms resolved with normalisation of [[T:serum carnitine]].")) == [
        ("normalisation", "serum carnitine", "before-of")
    ]
    assert found(run("Echo showed an improvement in [[T:LVEF]].")) == [
        ("improvement", "LVEF", "before-of")
    ]
    assert found(run("The [[T:postoperative course]] was uneventful.")) == [
        ("uneventful", "postoperative course", "linked")
    ]
    assert found(run("She remained stable.")) == [("stable", None, "standalone")]
    assert found(run("Cranial MRI was reported as normal.")) == [("normal", None, "standalone")]


def test_doses_are_not_measurements(run: Run) -> None:
    assert found(run("[[M:Aspirin]] 100 mg daily and 500 mL of saline.")) == []


def test_a_test_without_value_takes_the_result(run: Run) -> None:
    doc = run("[[T:Troponin]] was elevated.")
    assert doc.entities[0].value == {"string": "elevated"}


def test_results_are_test_entities_in_the_annotate_output(run: Run) -> None:
    doc = run("History: [[T:Troponin]] was elevated.")
    out = document_annotations(doc)
    result = [e for e in out["entities"] if e["role"] == "result"]
    assert len(result) == 1
    entry = result[0]
    assert entry["type"] == "test"
    assert entry["of"] == doc.entities[0].id
    assert doc.original_text[entry["start"] : entry["end"]] == "elevated"
    assert all(e["role"] == "mention" for e in out["entities"] if e is not entry)


def test_caller_targets_get_no_results(
    prepare: Pipeline, results_stage: ResultsStage, mark: Callable[[str], ClinicalDocument]
) -> None:
    doc = prepare.run(mark("[[T:Troponin]] was elevated."))
    results_stage.process(doc)
    assert doc.results == []


def test_reference_range_detection() -> None:
    text = "PT 47.7 s (normal 12.3-16.6 s), INR (RV: 0.8-1.2), WBC (4.5-11)"
    assert _in_reference_range(text, text.index("12.3"), 0)
    assert _in_reference_range(text, text.index("0.8"), 0)
    assert not _in_reference_range(text, text.index("47.7"), 0)
    assert not _in_reference_range(text, text.index("4.5"), 0)


def test_phrase_table_matches_longest_and_ignores_hyphens() -> None:
    table = PhraseTable(["normal", "within normal limits", "non-reactive"])
    assert table.match(["within", "normal", "limits", "."], 0) == 3
    assert table.match(["non", "reactive"], 0) == 2
    assert phrase_key("non-reactive") == ("non", "reactive")
    assert table.match(["abnormal"], 0) == 0


def test_vocabulary_loads_and_rejects_unknown_keys() -> None:
    words = load_result_words()
    assert "within normal limits" in words.after
    with pytest.raises(ValueError, match="extra"):
        type(words).model_validate(words.model_dump() | {"surprise": 1})


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("0123456789 .,-/%()<>mgdLnormalwas\n")), max_size=400
    )
)
def test_arbitrary_text_never_breaks_the_finder(
    prepare: Pipeline, results_stage: ResultsStage, text: str
) -> None:
    doc = prepare.run(ClinicalDocument(id="fuzz", source=SRC, original_text=text))
    doc.entities = [
        Entity(f"E{i}", t.start, t.end, doc.text[t.start : t.end], EntityType.TEST, source="x")
        for i, t in enumerate(doc.tokens[::5])
    ]
    results_stage.process(doc)
    for res in doc.results:
        assert 0 <= res.start < res.end <= len(doc.text)


def test_long_input_is_linear(results_stage: ResultsStage, prepare: Pipeline) -> None:
    text = ("Troponin was " + "very " * 2000 + "12 " * 5000 + "(normal " * 3000) * 3
    doc = prepare.run(ClinicalDocument(id="big", source=SRC, original_text=text))
    doc.entities = [Entity("E1", 0, 8, "Troponin", EntityType.TEST, source="lexicon:labs")]
    results_stage.process(doc)
    assert all(r.end <= len(doc.text) for r in doc.results)
