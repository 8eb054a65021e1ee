"""Words rebuilt from tokens give exactly the store's normalised text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.document import ClinicalDocument, SourceRef
from note2fhir.extract.words import document_words, is_upper_written, mostly_upper
from note2fhir.terminology.normalize import normalize
from note2fhir.text.segment import tokenize

SOURCE = SourceRef("DocumentReference", "n1", None, "DocumentReference.content[0].attachment")


def _words(text: str) -> list[str]:
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    doc.tokens = tokenize(text)
    return [w.text for w in document_words(doc)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DM2", "dm2"),
        ("type-2 DM", "type 2 dm"),
        ("Sjögren's syndrome", "sjogren s syndrome"),
        ("HbA1c 8.2%", "hba1c 8 2"),
        ("K 3.5mg", "k 3 5mg"),
        ("c/o SOB", "c o sob"),
        ("Crohn’s disease", "crohn s disease"),
        ("0\u03000", "00"),
    ],
)
def test_words_join_to_the_normalised_text(text: str, expected: str) -> None:
    assert " ".join(_words(text)) == expected == normalize(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_words_match_normalize_on_any_text(text: str) -> None:
    assert " ".join(_words(text)) == normalize(text)


def test_word_offsets_cover_their_text() -> None:
    text = "PMH: HTN; DM2, s/p CABG"
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    doc.tokens = tokenize(text)
    for word in document_words(doc):
        assert normalize(text[word.start : word.end]) == word.text


def test_capitals() -> None:
    assert is_upper_written("PE")
    assert not is_upper_written("HbA1c")
    assert mostly_upper("PMH: CAD, S/P MI 1992; LCX PTCA")
    assert not mostly_upper("Pt with CAD and MI")
