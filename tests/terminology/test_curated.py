"""The curated synonym layer: every code exists, displays match, ambiguity is declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from note2fhir.document import EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore
from terminology.sources import curated
from terminology.sources.curated import load_curated, load_curated_file
from terminology.sources.icd10cm import (
    icd10cm_code_exists,
    icd10cm_description,
    icd10cm_is_billable,
)
from terminology.writer import ArtifactWriter


def test_every_code_exists_is_billable_and_displays_its_title() -> None:
    data = load_curated_file()
    assert 80 <= len(data.entries) <= 400
    for entry in data.entries:
        assert icd10cm_code_exists(entry.code), entry.code
        assert icd10cm_is_billable(entry.code), entry.code
        assert entry.display == icd10cm_description(entry.code), entry.code


def test_every_curated_term_is_in_the_artifact(store: TerminologyStore) -> None:
    for entry in load_curated_file().entries:
        for term in entry.terms:
            found = store.exact(term.text, limit=50)
            match = [c for c in found if c.concept_id == f"icd10cm:{entry.code}"]
            assert match, (term.text, entry.code)
            assert match[0].how == "exact"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("HTN", "I10"),
        ("high blood pressure", "I10"),
        ("heart attack", "I21.9"),
        ("CHF", "I50.9"),
        ("DM2", "E11.9"),
        ("T2DM", "E11.9"),
        ("type 2 diabetes", "E11.9"),
        ("DM1", "E10.9"),
        ("COPD", "J44.9"),
        ("CAD", "I25.10"),
        ("afib", "I48.91"),
        ("a-fib", "I48.91"),
        ("CKD", "N18.9"),
        ("GERD", "K21.9"),
        ("UTI", "N39.0"),
        ("DVT", "I82.409"),
        ("CVA", "I63.9"),
        ("SOB", "R06.02"),
        ("shortness of breath", "R06.02"),
        ("dyspnea", "R06.00"),
        ("HLD", "E78.5"),
        ("OSA", "G47.33"),
        ("BPH", "N40.0"),
        ("depression", "F32.A"),
        ("AKI", "N17.9"),
        ("sepsis", "A41.9"),
        ("cellulitis", "L03.90"),
    ],
)
def test_common_clinical_terms_find_their_code(
    store: TerminologyStore, text: str, code: str
) -> None:
    best = store.candidates(text)[0]
    assert best.codes[0] == (ICD10CM, code, icd10cm_description(code))
    assert best.score == 1.0
    assert best.entity_type is EntityType.PROBLEM


def test_curated_terms_carry_their_provenance(store: TerminologyStore) -> None:
    best = store.exact("HTN")[0]
    assert best.term_source == "curated"
    assert best.source == "icd10cm"
    assert best.term_type == "abbreviation"
    assert not best.ambiguous


@pytest.mark.parametrize("text", ["PE", "MS", "RA", "CP", "MI"])
def test_ambiguous_abbreviations_are_marked(store: TerminologyStore, text: str) -> None:
    found = store.exact(text)
    assert found
    assert all(c.ambiguous and c.term_type == "abbreviation-ambiguous" for c in found)


def test_a_term_names_one_code() -> None:
    found = {e.code for e in load_curated_file().entries for t in e.terms if t.text == "CP"}
    assert found == {"R07.9"}  # chest pain; cerebral palsy only in its note
    bad = """
version: 1
system: icd10cm
entries:
  - {code: R07.9, display: x, terms: [{text: CP, kind: abbreviation, ambiguous: true}]}
  - {code: G80.9, display: y, terms: [{text: CP, kind: abbreviation, ambiguous: true}]}
"""
    with pytest.raises(Note2FhirError, match="names several codes"):
        load_curated_file(bad)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 2\nsystem: icd10cm\nentries: []\n", "version"),
        ("version: 1\nsystem: icd10cm\nentries:\n  - {code: I10, display: x, terms: [],"
         " extra: 1}\n", "extra"),
        ("version: 1\nsystem: icd10cm\nentries:\n  - {code: i10, display: x,"
         " terms: [{text: a, kind: synonym}]}\n", "code"),
        ("version: 1\nsystem: icd10cm\nentries:\n  - {code: I10, display: x,"
         " terms: [{text: a, kind: lay}]}\n", "kind"),
        ("version: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_schema_is_validated(text: str, fragment: str) -> None:
    with pytest.raises(Note2FhirError) as info:
        load_curated_file(text)
    assert info.value.code is ErrorCode.TERMINOLOGY_SOURCE_INVALID
    assert fragment in info.value.message


def _tiny_icd(folder: Path) -> ArtifactWriter:
    writer = ArtifactWriter(folder)
    with writer.source("icd10cm", version="t", license="t", description="t") as src:
        cid = src.concept("icd10cm:I10", "Essential (primary) hypertension", EntityType.PROBLEM)
        src.code(cid, ICD10CM, "I10", "Essential (primary) hypertension")
    return writer


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("{code: E11.99, display: Made up, terms: [{text: DMX, kind: abbreviation}]}",
         "E11.99 is not in the loaded ICD-10-CM"),
        ("{code: I10, display: Hypertension, terms: [{text: HTN, kind: abbreviation}]}",
         "display of I10 differs"),
    ],
)  # fmt: skip
def test_loading_refuses_invented_codes_and_wrong_displays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, fragment: str
) -> None:
    monkeypatch.setattr(
        curated,
        "read_curated_text",
        lambda: f"version: 1\nsystem: icd10cm\nentries:\n  - {entry}\n",
    )
    writer = _tiny_icd(tmp_path / "a")
    try:
        with pytest.raises(Note2FhirError, match=fragment):
            load_curated(writer)
    finally:
        writer.db.close()
