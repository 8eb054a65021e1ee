"""The read side: exact, word-order and approximate lookups, ranking, crosswalks, pickling,
and refusing missing or foreign artifacts."""

from __future__ import annotations

import pickle
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from note2fhir.document import EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import load_settings
from note2fhir.terminology.candidates import resolve_system
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import DB_FILE, ICD10CM, SNOMED_CT, UMLS
from note2fhir.terminology.store import TerminologyStore, default_store, trigram_cosine
from terminology.writer import ArtifactWriter


def _codes(found: list) -> list[str]:  # type: ignore[type-arg]
    return [c.codes[0].code for c in found]


def test_exact_hypertension_and_htn(store: TerminologyStore) -> None:
    for text, reason in [
        ("hypertension", "exact: curated 'hypertension'"),
        ("Hypertension", "exact: curated 'hypertension'"),
        ("HTN", "exact: abbreviation 'HTN'"),
        ("Essential (primary) hypertension", "exact: preferred 'Essential (primary) hypertension'"),
    ]:
        best = store.exact(text)[0]
        assert best.concept_id == "icd10cm:I10", text
        assert best.score == 1.0
        assert best.how == "exact"
        assert best.reason == reason


def test_word_order(store: TerminologyStore) -> None:
    found = store.exact("diabetes mellitus type 2")
    assert found
    assert all(code.startswith("E11") for code in _codes(found))
    assert found[0].how == "words"
    assert found[0].score == 0.95
    assert found[0].reason.startswith("same words, other order")


def test_approximate_finds_a_misspelling_below_exact(store: TerminologyStore) -> None:
    found = store.approximate("hypertenson")
    assert found[0].concept_id == "icd10cm:I10"
    assert 0.8 <= found[0].score < 1.0
    assert found[0].how == "approximate"
    assert found[0].reason.startswith("approximate: cosine 0.8")
    assert store.exact("hypertenson") == []


@pytest.mark.parametrize("threshold", [0.7, 0.8, 0.9])
def test_approximate_threshold_is_respected(store: TerminologyStore, threshold: float) -> None:
    query = "congestive hart failure"
    found = store.approximate(query, threshold=threshold, limit=100)
    assert found
    for cand in found:
        assert trigram_cosine(normalize(query), normalize(cand.term)) >= threshold


def test_store_threshold_comes_from_its_settings(small_artifact: Path) -> None:
    strict = TerminologyStore.open(small_artifact, approximate_min_similarity=0.9)
    assert strict.approximate("hypertenson") == []
    settings = load_settings(
        terminology_dir=small_artifact.parent,
        terminology_artifact=small_artifact.name,
        approximate_min_similarity=0.9,
        candidate_limit=2,
    )
    configured = TerminologyStore.from_settings(settings)
    assert configured.approximate("hypertenson") == []
    assert len(configured.candidates("type 2 diabetes mellitus with diabetic nephropathy")) == 2


def test_short_texts_are_not_looked_up_approximately(store: TerminologyStore) -> None:
    assert store.approximate("HTM") == []


def test_candidates_merge_and_rank(store: TerminologyStore) -> None:
    found = store.candidates("type 2 diabetes mellitus with diabetic nephropathy", limit=10)
    assert found[0].concept_id == "icd10cm:E11.21"
    assert found[0].how == "exact"
    assert len({c.concept_id for c in found}) == len(found)
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)
    assert all(c.score < 0.95 for c in found[1:])


def test_more_specific_codes_rank_first_among_equal_scores(store: TerminologyStore) -> None:
    found = store.candidates("heart failure")
    assert _codes(found)[:2] == ["I50.9", "I50"]


def test_filters(store: TerminologyStore) -> None:
    text = "Unspecified fall, initial encounter"
    assert "W19.XXXA" in _codes(store.candidates(text))
    assert "W19.XXXA" not in _codes(store.candidates(text, entity_types=[EntityType.PROBLEM]))
    assert store.candidates("HTN", entity_types=["medication"]) == []
    assert _codes(store.candidates("HTN", systems=["icd10cm"])) == ["I10"]
    assert store.candidates("HTN", systems=[SNOMED_CT]) == []


def test_search_by_code_and_text(store: TerminologyStore) -> None:
    found = store.search("E11.21")
    assert found[0].how == "code"
    assert found[0].reason == "code: icd10cm E11.21"
    assert store.search("e11.21")[0].concept_id == "icd10cm:E11.21"
    assert store.search("HTN", system="icd10cm")[0].concept_id == "icd10cm:I10"
    assert store.search("HTN", entity_type="problem", limit=1)[0].codes[0].code == "I10"


def test_codes_of_and_concept(store: TerminologyStore) -> None:
    assert store.codes_of("icd10cm:I10") == [(ICD10CM, "I10", "Essential (primary) hypertension")]
    assert store.codes_of("icd10cm:nope") == []
    assert store.concept("icd10cm:nope") is None


def test_title_by_short_name_or_uri(store: TerminologyStore) -> None:
    assert store.title("icd10cm", "I10") == "Essential (primary) hypertension"
    assert store.title(ICD10CM, "M25.562") == "Pain in left knee"
    assert store.title(ICD10CM, "nope") is None
    assert store.title("snomed", "38341003") is None  # not in this artifact


def test_siblings_differ_in_the_last_digit(store: TerminologyStore) -> None:
    assert store.siblings(ICD10CM, "M25.569") == [
        ("M25.561", "Pain in right knee"),
        ("M25.562", "Pain in left knee"),
    ]
    assert store.siblings(ICD10CM, "I50.22")[:2] == [
        ("I50.20", "Unspecified systolic (congestive) heart failure"),
        ("I50.21", "Acute systolic (congestive) heart failure"),
    ]
    assert store.siblings(ICD10CM, "Z99.99") == []


def test_candidate_to_dict(store: TerminologyStore) -> None:
    data = store.exact("PE")[0].to_dict()
    assert data["ambiguous"] is True
    assert data["entity_type"] == "problem"
    assert data["codes"][0]["code"] == "I26.99"


def test_pickles_and_works_after_unpickling(store: TerminologyStore) -> None:
    payload = pickle.dumps(store)
    assert len(payload) < 1000  # the folder and thresholds, not the data
    copy = pickle.loads(payload)
    assert copy.exact("HTN")[0].concept_id == "icd10cm:I10"
    assert copy.approximate("hypertenson")[0].concept_id == "icd10cm:I10"


def test_lookups_from_many_threads(store: TerminologyStore) -> None:
    texts = ["HTN", "CHF", "hypertenson", "COPD", "diabetes mellitus type 2"] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: store.candidates(t)[0].concept_id, texts))
    assert results[:5] == [
        "icd10cm:I10",
        "icd10cm:I50.9",
        "icd10cm:I10",
        "icd10cm:J44.9",
        "icd10cm:E11.9",
    ]
    assert results == results[:5] * 20


def test_info(store: TerminologyStore, small_artifact: Path) -> None:
    info = store.info()
    assert info["path"] == str(small_artifact)
    assert info["schema_version"] == 1
    assert info["size_bytes"] > 10_000_000
    names = [s["name"] for s in info["sources"]]
    assert names == ["icd10cm", "curated"]
    icd = info["sources"][0]
    assert icd["version"] == "2026 (April 1, 2026 release)"
    assert icd["release_date"] == "2026-04-01"
    assert "public domain" in icd["license"]
    assert "MIT" in icd["license"]
    assert icd["concepts"] == info["totals"]["concepts"]


# -- a tiny artifact for crosswalks and failure modes ------------------------------------------


def _tiny(folder: Path) -> Path:
    writer = ArtifactWriter(folder)
    with writer.source("fake", version="1", license="test", description="test") as src:
        cid = src.concept("umls:C0020538", "Hypertensive disease", EntityType.PROBLEM)
        src.code(cid, UMLS, "C0020538", "Hypertensive disease")
        src.code(cid, ICD10CM, "I10", "Essential (primary) hypertension")
        src.code(cid, SNOMED_CT, "38341003", "Hypertensive disorder")
        src.crosswalk(SNOMED_CT, "59621000", ICD10CM, "I10", "maps-to", rule="TRUE")
    writer.close(artifact_name=folder.name)
    return folder


def test_crosswalk(tmp_path: Path) -> None:
    store = TerminologyStore.open(_tiny(tmp_path / "tiny"))
    same = store.crosswalk("umls", "C0020538", to_system="icd10cm")
    assert [(e.to_code, e.relation, e.concept_id) for e in same] == [
        ("I10", "same-concept", "umls:C0020538")
    ]
    assert {e.to_system for e in store.crosswalk(UMLS, "C0020538")} == {ICD10CM, SNOMED_CT}
    mapped = store.crosswalk("snomed", "59621000")
    assert [(e.to_code, e.relation, e.rule, e.display) for e in mapped] == [
        ("I10", "maps-to", "TRUE", "Essential (primary) hypertension")
    ]
    assert store.crosswalk("snomed", "59621000", to_system="rxnorm") == []
    assert store.title("umls", "C0020538") == "Hypertensive disease"
    with pytest.raises(ValueError, match="unknown code system"):
        store.crosswalk("icd9", "401.9")


def test_resolve_system() -> None:
    assert resolve_system("SNOMED") == SNOMED_CT
    assert resolve_system("http://example.org/cs") == "http://example.org/cs"


def test_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Note2FhirError) as info:
        TerminologyStore.open(tmp_path / "nothing")
    assert info.value.code is ErrorCode.TERMINOLOGY_MISSING
    assert str(tmp_path / "nothing") in info.value.message
    assert "note2fhir terminology build" in info.value.message


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    folder = _tiny(tmp_path / "old")
    with sqlite3.connect(folder / DB_FILE) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(Note2FhirError) as info:
        TerminologyStore.open(folder)
    assert info.value.code is ErrorCode.TERMINOLOGY_INVALID
    assert "schema version 0, this note2fhir reads 1" in info.value.message


def test_a_file_that_is_not_an_artifact_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / DB_FILE).write_bytes(b"patient John Smith, not a database" * 100)
    with pytest.raises(Note2FhirError) as info:
        TerminologyStore.open(folder)
    assert info.value.code is ErrorCode.TERMINOLOGY_INVALID
    assert "John" not in info.value.message


def test_default_store_without_building(tmp_path: Path) -> None:
    settings = load_settings(terminology_dir=tmp_path)
    with pytest.raises(Note2FhirError) as info:
        default_store(settings, build_if_missing=False)
    assert info.value.code is ErrorCode.TERMINOLOGY_MISSING
    named = load_settings(terminology_dir=tmp_path, terminology_artifact="umls2025")
    with pytest.raises(Note2FhirError, match="umls2025"):
        default_store(named)  # only the open default is built automatically
    assert not (tmp_path / "umls2025").exists()
