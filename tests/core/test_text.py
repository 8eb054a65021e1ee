"""Tokens and sentence-like units."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.document import ClinicalDocument, Sentence, SourceRef
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings
from note2fhir.text.segment import (
    load_rules,
    sentence_breaks,
    sentences,
    token_norm,
    tokenize,
)

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


def units(text: str) -> list[str]:
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences"])).run(doc)
    return [doc.text[s.start : s.end] for s in doc.sentences]


def test_tokens_have_offsets_and_norms() -> None:
    text = "Pt c/o SOB x3 days, BP 158/92; Sjögren's"
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == [
        "Pt", "c", "/", "o", "SOB", "x", "3", "days", ",", "BP", "158", "/", "92", ";", "Sjögren's",
    ]  # fmt: skip
    assert tokens[-1].norm == "sjogren's"
    assert tokenize("1.25 mg")[0].norm == "1.25"


@pytest.mark.parametrize("text", ["PT C/O SOB, BP 158/92.", "Café au lait; Œdema ﬁbrosis 3½"])
def test_token_norms_do_not_depend_on_the_rest_of_the_text(text: str) -> None:
    # ASCII text is lower-cased once and sliced; other text is normalised token by token.
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == [token_norm(text[t.start : t.end]) for t in tokens]
    assert [t.norm for t in tokenize(text + " é")[: len(tokens)]] == [t.norm for t in tokens]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PMH: HTN; DM2\n- CHF", ["PMH:", "HTN;", "DM2", "- CHF"]),
        ("Denies chest pain. No fever.", ["Denies chest pain.", "No fever."]),
        ("Seen by Dr. Smith today.", ["Seen by Dr. Smith today."]),
        ("Metoprolol 25 mg p.o. b.i.d. for afib.", ["Metoprolol 25 mg p.o. b.i.d. for afib."]),
        (
            "presents with worsening SOB and\northopnea.",
            ["presents with worsening SOB and\northopnea."],
        ),
        ("DENIES CP\nNO FEVER", ["DENIES CP", "NO FEVER"]),
        ("1. CHF - diurese\n2. HTN", ["1. CHF - diurese", "2. HTN"]),
        ("Temp 98.6. HR 80", ["Temp 98.6.", "HR 80"]),
    ],
)
def test_units(text: str, expected: list[str]) -> None:
    assert units(text) == expected


def test_every_token_is_in_exactly_one_unit() -> None:
    text = "HPI: cough; fever\n\nPlan: CXR. Abx if worse"
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences"])).run(doc)
    covered = [i for s in doc.sentences for i in range(s.first_token, s.last_token)]
    assert covered == list(range(len(doc.tokens)))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .;:\n-1A\t!?é'")), max_size=200))
def test_units_partition_tokens_for_any_text(text: str) -> None:
    rules = load_rules()
    tokens = tokenize(text)
    found = sentences(text, tokens, sentence_breaks(text, tokens, rules))
    covered = [i for s in found for i in range(s.first_token, s.last_token)]
    assert covered == list(range(len(tokens)))
    assert all(0 <= s.start < s.end <= len(text) for s in found)


def test_large_input_completes() -> None:
    """A 5 MB note is split (a hang here would mean super-linear matching)."""
    text = "PT C/O SOB. NO CP; HX HTN\n" * 200_000
    tokens = tokenize(text)
    found = sentences(text, tokens, sentence_breaks(text, tokens, load_rules()))
    assert len(found) == 600_000


def test_sentence_at_holds_start_not_end_and_gaps_by_choice() -> None:
    text = "Cough.\n\nFever now."
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    doc.sentences = [Sentence(0, 6, 0, 2), Sentence(8, 18, 2, 5)]
    assert [doc.sentence_at(i) for i in (0, 5, 6, 7, 8, 17, 18)] == [0, 0, None, None, 1, 1, None]
    # a gap (the blank line) and the text after the last sentence belong to the one before
    assert [doc.sentence_at(i, or_before=True) for i in (6, 7, 8, 18)] == [0, 0, 1, 1]
    doc.sentences = [Sentence(3, 6, 0, 1)]
    assert doc.sentence_at(0) is None
    assert doc.sentence_at(0, or_before=True) is None  # before the first sentence
    doc.sentences = []
    assert doc.sentence_at(0, or_before=True) is None
