"""Loaders of the licensed sources (UMLS, SNOMED CT, RxNorm, LOINC) on hand-written fixtures.

The fixtures under ``fixtures/{umls,snomed,rxnorm,loinc}`` are typed by hand in each release's
real file format (see ``fixtures/README.md``); no release content is in the repository.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from note2fhir.document import EntityType
from note2fhir.terminology.schema import HPO, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED_CT, UMLS
from terminology.semantic_types import SemanticTypeTable, load_semantic_types
from terminology.sources.loinc import load_loinc, related_names
from terminology.sources.rxnorm import load_rxnorm
from terminology.sources.snomed import ROOT, Placement, load_snomed, place_concepts
from terminology.sources.umls import (
    MRCONSO_FIELDS,
    CuiSemanticTypes,
    RRFFormatError,
    build_quickumls_index,
    load_umls,
    split_rrf,
)
from terminology.writer import ArtifactWriter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UMLS_DIR = FIXTURES / "umls"
SNOMED_DIR = FIXTURES / "snomed"
RXNORM_DIR = FIXTURES / "rxnorm" / "RxNorm_full_03032025"
LOINC_DIR = FIXTURES / "loinc" / "Loinc_2.80"

Loader = Callable[[ArtifactWriter], None]


class Artifact:
    """Query helpers over the SQLite tables one loader wrote."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def concept(self, concept_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT cid, preferred, entity_type, semantic_type, specificity FROM concepts"
            " WHERE concept_id = ?",
            (concept_id,),
        ).fetchone()
        if row is None:
            return None
        keys = ("cid", "preferred", "entity_type", "semantic_type", "specificity")
        return dict(zip(keys, row, strict=True))

    def terms(self, concept_id: str) -> dict[str, str]:
        """term → term_type."""
        rows = self.db.execute(
            "SELECT t.term, t.term_type FROM terms t JOIN concepts c USING (cid)"
            " WHERE c.concept_id = ?",
            (concept_id,),
        )
        return dict(rows.fetchall())

    def codes(self, concept_id: str) -> dict[tuple[str, str], str]:
        """(system, code) → display."""
        rows = self.db.execute(
            "SELECT system, code, display FROM codes JOIN concepts c USING (cid)"
            " WHERE c.concept_id = ?",
            (concept_id,),
        )
        return {(system, code): display for system, code, display in rows}

    def crosswalks(self, source: str) -> dict[tuple[str, str, str], str | None]:
        """(from_code, to_code, relation) → rule."""
        rows = self.db.execute(
            "SELECT from_code, to_code, relation, rule FROM crosswalk WHERE source = ?", (source,)
        )
        return {(f, t, r): rule for f, t, r, rule in rows}

    def all_terms(self) -> set[str]:
        return {term for (term,) in self.db.execute("SELECT term FROM terms")}

    def source(self, name: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT version, release_date, license, description, concepts FROM sources"
            " WHERE name = ?",
            (name,),
        ).fetchone()
        keys = ("version", "release_date", "license", "description", "concepts")
        return dict(zip(keys, row, strict=True))


@pytest.fixture
def load(tmp_path: Path) -> Iterator[Callable[[Loader], Artifact]]:
    """Run one loader into a fresh artifact writer and query what it wrote."""
    writers: list[ArtifactWriter] = []

    def run(loader: Loader) -> Artifact:
        writer = ArtifactWriter(tmp_path / f"artifact{len(writers)}")
        writers.append(writer)
        loader(writer)
        return Artifact(writer.db)

    yield run
    for writer in writers:
        writer.db.close()


@pytest.fixture(scope="module")
def umls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifact]:
    writer = ArtifactWriter(tmp_path_factory.mktemp("umls") / "artifact")
    load_umls(writer, UMLS_DIR)
    yield Artifact(writer.db)
    writer.db.close()


@pytest.fixture(scope="module")
def snomed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifact]:
    writer = ArtifactWriter(tmp_path_factory.mktemp("snomed") / "artifact")
    load_snomed(writer, SNOMED_DIR)
    yield Artifact(writer.db)
    writer.db.close()


@pytest.fixture(scope="module")
def rxnorm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifact]:
    writer = ArtifactWriter(tmp_path_factory.mktemp("rxnorm") / "artifact")
    load_rxnorm(writer, RXNORM_DIR)
    yield Artifact(writer.db)
    writer.db.close()


@pytest.fixture(scope="module")
def loinc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifact]:
    writer = ArtifactWriter(tmp_path_factory.mktemp("loinc") / "artifact")
    load_loinc(writer, LOINC_DIR)
    yield Artifact(writer.db)
    writer.db.close()


# --- RRF line parser ---------------------------------------------------------------------------


def test_split_rrf_reads_a_line_with_and_without_the_trailing_bar() -> None:
    line = "C0020538|T047|B2.2.1.2.1|Disease or Syndrome|AT17683839|256|\r\n"
    assert split_rrf(line, 6)[0:2] == ["C0020538", "T047"]
    assert split_rrf(line.replace("|\r\n", ""), 6)[-1] == "256"


def test_split_rrf_names_file_and_line_of_a_wrong_field_count() -> None:
    with pytest.raises(RRFFormatError, match=r"MRSTY\.RRF line 12: expected 6 .* found 3"):
        split_rrf("C0020538|T047|B2|\n", 6, file="MRSTY.RRF", line_no=12)


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\n")), max_size=25))
def test_split_rrf_never_crashes_on_junk(fields: list[str]) -> None:
    line = "|".join(fields) + "\n"
    try:
        parsed = split_rrf(line, MRCONSO_FIELDS, file="MRCONSO.RRF", line_no=7)
    except RRFFormatError as error:
        assert "MRCONSO.RRF line 7:" in str(error)
    else:
        assert len(parsed) == MRCONSO_FIELDS


@given(
    st.lists(st.text(alphabet=st.characters(exclude_characters="|\r\n")), min_size=6, max_size=6)
)
def test_split_rrf_round_trips_well_formed_rows(fields: list[str]) -> None:
    assert split_rrf("|".join(fields) + "|\n", 6) == fields


def test_malformed_mrconso_line_stops_the_load_with_its_line_number(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    meta = tmp_path / "META"
    shutil.copytree(UMLS_DIR / "META", meta)
    with (meta / "MRCONSO.RRF").open("a", encoding="utf-8") as handle:
        handle.write("C0000001|ENG|P|truncated\n")
    lines = (meta / "MRCONSO.RRF").read_text(encoding="utf-8").count("\n")
    with pytest.raises(RRFFormatError, match=rf"MRCONSO\.RRF line {lines}:"):
        load(lambda w: load_umls(w, meta))


# --- semantic types ----------------------------------------------------------------------------


def test_semantic_type_table_maps_and_resolves_precedence() -> None:
    table = load_semantic_types()
    assert table.version >= 1
    assert table.entity_type(["T047"]) is EntityType.PROBLEM
    assert table.entity_type(["T109", "T121"]) is EntityType.MEDICATION
    assert table.entity_type(["T060", "T061"]) is EntityType.TEST
    assert table.entity_type(["T061"]) is EntityType.PROCEDURE
    assert table.entity_type(["T033"]) is None  # Finding: deliberately unmapped
    assert table.entity_type(["T125"]) is None  # Hormone alone ("TSH") is an analyte
    assert table.entity_type([]) is None


def _table_data() -> dict[str, Any]:
    table = load_semantic_types()
    return table.model_dump(mode="json")


def test_semantic_type_table_rejects_unknown_keys_and_bad_tuis() -> None:
    data = _table_data()
    SemanticTypeTable.model_validate(data)
    with pytest.raises(ValidationError):
        SemanticTypeTable.model_validate({**data, "colour": "blue"})
    with pytest.raises(ValidationError):
        SemanticTypeTable.model_validate(
            {**data, "types": {"X47": {"name": "Bad", "entity_type": "problem"}}}
        )
    with pytest.raises(ValidationError):
        SemanticTypeTable.model_validate({**data, "precedence": ["problem", "problem"]})
    data["types"]["T047"] = {**data["types"]["T047"], "weight": 2}
    with pytest.raises(ValidationError):
        SemanticTypeTable.model_validate(data)


def test_semantic_type_yaml_is_the_packaged_resource() -> None:
    path = Path(__file__).resolve().parents[2] / "terminology" / "semantic_types.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert SemanticTypeTable.model_validate(raw) == load_semantic_types()


def test_mrsty_index_holds_unsorted_rows_and_odd_cuis() -> None:
    types = CuiSemanticTypes()
    types.add("C0020538", ["T047"])
    types.add("C0004057", ["T109"])
    types.add("CL123456", ["T033"])
    types.add("C0004057", ["T121"])
    types.finish()
    assert types.lookup("C0004057") == ("T109", "T121")
    assert types.lookup("C0020538") == ("T047",)
    assert types.lookup("CL123456") == ("T033",)
    assert types.lookup("C0000001") == ()


# --- UMLS --------------------------------------------------------------------------------------


def test_umls_concept_preferred_name_entity_and_semantic_type(umls: Artifact) -> None:
    hypertension = umls.concept("umls:C0020538")
    assert hypertension is not None
    assert hypertension["preferred"] == "Hypertension"
    assert hypertension["entity_type"] == "problem"
    assert hypertension["semantic_type"] == "T047"


def test_umls_filters_suppressed_and_non_english_atoms(umls: Artifact) -> None:
    terms = umls.all_terms()
    assert "Hypertensive disease, NOS" not in terms  # SUPPRESS=O
    assert "Vascular Hypertensive Disorder" not in terms  # SUPPRESS=E
    assert "Hipertensión" not in terms  # SPA
    assert "Diabète de type 2" not in terms  # FRE
    assert umls.concept("umls:C0000005") is None  # every atom suppressed (Y, O)


def test_umls_terms_carry_their_tty_once_per_normalised_form(umls: Artifact) -> None:
    terms = umls.terms("umls:C0020538")
    assert terms["Hypertension"] == "preferred"
    assert terms["Hypertensive disorder"] == "PT"
    assert terms["High Blood Pressure"] == "ET"
    # "High blood pressure" (SNOMEDCT_US SY) and "high blood pressure" (CHV) are the same form.
    assert sum(t.lower() == "high blood pressure" for t in terms) == 1
    assert umls.terms("umls:C0011860")["NIDDM"] == "AB"


def test_umls_codes_per_source_with_that_sources_display(umls: Artifact) -> None:
    assert umls.codes("umls:C0020538") == {
        (UMLS, "C0020538"): "Hypertension",
        (SNOMED_CT, "38341003"): "Hypertensive disorder",  # the PT, not the FN or a SY
    }  # MSH is no code system of ours; the ICD-10-CM block range I10-I16 is no code
    assert umls.codes("umls:C0085580")[(ICD10CM, "I10")] == "Essential (primary) hypertension"
    assert umls.codes("umls:C0004057")[(RXNORM, "1191")] == "aspirin"
    assert umls.codes("umls:C0202194")[(LOINC, "2345-7")] == (
        "Glucose [Mass/volume] in Serum or Plasma"  # LC (long common name) before LN
    )
    assert umls.codes("umls:C0008031")[(HPO, "HP:0100749")] == "Chest pain"
    assert (ICD10PCS, "0210093") in umls.codes("umls:C0010055")


def test_umls_entity_types_from_semantic_types(umls: Artifact) -> None:
    expected = {
        "umls:C0004057": ("medication", "T109,T121"),  # MRSTY rows of this CUI are apart
        "umls:C0040405": ("test", "T060"),
        "umls:C0202194": ("test", "T059"),
        "umls:C0010055": ("procedure", "T061"),
        "umls:C0008031": ("problem", "T184"),
        "umls:C1446409": (None, "T033"),
        "umls:C0018787": (None, "T023"),
        "umls:C9999999": (None, None),  # no MRSTY row
    }
    for concept_id, (entity_type, semantic_type) in expected.items():
        concept = umls.concept(concept_id)
        assert concept is not None, concept_id
        assert (concept["entity_type"], concept["semantic_type"]) == (entity_type, semantic_type)


def test_umls_crosswalks_cui_to_icd10cm_of_the_same_concept(umls: Artifact) -> None:
    assert umls.crosswalks("umls") == {
        ("C0085580", "I10", "same-concept"): None,
        ("C0011860", "E11", "same-concept"): None,
        ("C0008031", "R07.9", "same-concept"): None,
    }


def test_umls_version_licence_and_source_versions(umls: Artifact) -> None:
    source = umls.source("umls")
    assert source["version"] == "2025AA"  # release.dat
    assert source["release_date"] == "2025-05-05"
    assert "UMLS Metathesaurus License" in source["license"]
    assert "not redistributed" in source["license"]
    assert "SNOMEDCT_US 2025_03_01" in source["description"]  # the current (CURVER=Y) row
    assert source["concepts"] == 12


def test_umls_version_from_folder_name_then_mrsab(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    named = tmp_path / "2024AB" / "META"
    shutil.copytree(UMLS_DIR / "META", named)
    assert load(lambda w: load_umls(w, named.parent)).source("umls")["version"] == "2024AB"
    bare = tmp_path / "install" / "META"
    shutil.copytree(UMLS_DIR / "META", bare)
    assert load(lambda w: load_umls(w, bare)).source("umls")["version"] == "2025AA"  # max IMETA


def test_umls_other_languages_add_terms_but_english_stays_preferred(
    load: Callable[[Loader], Artifact],
) -> None:
    artifact = load(lambda w: load_umls(w, UMLS_DIR, languages=("SPA", "ENG")))
    hypertension = artifact.concept("umls:C0020538")
    assert hypertension is not None
    assert hypertension["preferred"] == "Hypertension"
    assert artifact.terms("umls:C0020538")["Hipertensión"] == "MH"
    assert "Diabète de type 2" not in artifact.all_terms()


def test_umls_source_filter_keeps_only_those_atoms(load: Callable[[Loader], Artifact]) -> None:
    artifact = load(lambda w: load_umls(w, UMLS_DIR, sources=["SNOMEDCT_US", "ICD10CM"]))
    hypertension = artifact.concept("umls:C0020538")
    assert hypertension is not None
    assert hypertension["preferred"] == "Hypertension"  # now the SNOMEDCT_US atom with TS=P
    assert "High Blood Pressure" not in artifact.all_terms()  # MSH ET
    assert artifact.concept("umls:C0018787") is None  # MSH only
    assert artifact.concept("umls:C0040405") is None
    assert artifact.source("umls")["description"].count("ICD10CM,SNOMEDCT_US") == 1


def test_umls_missing_file_is_a_one_line_error(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    with pytest.raises(FileNotFoundError, match=r"^UMLS: MRCONSO\.RRF not found in .*META"):
        load(lambda w: load_umls(w, tmp_path))
    meta = tmp_path / "META"
    shutil.copytree(UMLS_DIR / "META", meta)
    (meta / "MRSTY.RRF").unlink()
    with pytest.raises(FileNotFoundError, match=r"^UMLS: MRSTY\.RRF not found"):
        load(lambda w: load_umls(w, meta))
    with pytest.raises(ValueError, match="languages"):
        load(lambda w: load_umls(w, UMLS_DIR, languages="ENG"))


# --- QuickUMLS index ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quickumls_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("unqlite", reason="the QuickUMLS index needs the unqlite package")
    out = tmp_path_factory.mktemp("quickumls") / "index"
    build_quickumls_index(UMLS_DIR, out)
    return out


def test_quickumls_index_has_quickumls_layout_and_flags(quickumls_index: Path) -> None:
    assert (quickumls_index / "language.flag").read_text(encoding="utf-8") == "ENG"
    assert (quickumls_index / "database_backend.flag").read_text(encoding="utf-8") == "unqlite"
    assert (quickumls_index / "lowercase.flag").exists()
    assert not (quickumls_index / "normalize-unicode.flag").exists()
    assert (quickumls_index / "umls-simstring.db" / "umls-terms.simstring").is_file()
    assert (quickumls_index / "cui-semtypes.db" / "cui.unqlite").is_file()
    assert (quickumls_index / "cui-semtypes.db" / "semtypes.unqlite").is_file()


def _text(key: str | bytes) -> str:
    return key.decode("utf-8") if isinstance(key, bytes) else key


def test_quickumls_index_stores_terms_cuis_and_semantic_types(quickumls_index: Path) -> None:
    unqlite = pytest.importorskip("unqlite")
    cui_db = unqlite.UnQLite(str(quickumls_index / "cui-semtypes.db" / "cui.unqlite"))
    semtypes_db = unqlite.UnQLite(str(quickumls_index / "cui-semtypes.db" / "semtypes.unqlite"))
    try:
        entries = {_text(key): pickle.loads(value) for key, value in cui_db.items()}
        semtypes = {_text(key): pickle.loads(value) for key, value in semtypes_db.items()}
    finally:
        cui_db.close()
        semtypes_db.close()
    assert entries["hypertension"] == {("C0020538", 1)}  # MSH MH atom: ISPREF=Y first
    assert entries["high blood pressure"] == {("C0020538", 0), ("C0085580", 0)}
    assert "hypertensive disease, nos" not in entries  # suppressed
    assert "hipertensión" not in entries  # Spanish
    assert "fixture concept without semantic type" not in entries  # no MRSTY row
    assert semtypes["C0004057"] == {"T109", "T121"}
    assert "C9999999" not in semtypes


def test_quickumls_index_simstring_finds_near_misses(quickumls_index: Path) -> None:
    from quickumls_simstring import simstring  # noqa: PLC0415 - a compiled extension

    reader = simstring.reader(str(quickumls_index / "umls-simstring.db" / "umls-terms.simstring"))
    reader.measure = simstring.cosine
    reader.threshold = 0.7
    assert "hypertension" in reader.retrieve("hypertensions")


def test_quickumls_index_refuses_a_full_folder_and_several_languages(tmp_path: Path) -> None:
    pytest.importorskip("unqlite")
    (tmp_path / "old.txt").write_text("x", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not empty"):
        build_quickumls_index(UMLS_DIR, tmp_path)
    with pytest.raises(ValueError, match="one language"):
        build_quickumls_index(UMLS_DIR, tmp_path / "new", languages=("ENG", "SPA"))


def test_quickumls_loads_the_index_and_matches(
    quickumls_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QuickUMLS itself, where installed: it wants NLTK stopwords (downloaded on first use) and
    a spaCy model; a stopword file we write and a blank English pipeline stand in for both."""
    pytest.importorskip("quickumls")
    spacy = pytest.importorskip("spacy")
    nltk = pytest.importorskip("nltk")
    stopwords = tmp_path / "nltk_data" / "corpora" / "stopwords"
    stopwords.mkdir(parents=True)
    (stopwords / "english").write_text("a\nan\nthe\nof\nand\nhas\n", encoding="utf-8")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data"), *nltk.data.path])
    from quickumls import QuickUMLS  # noqa: PLC0415 - optional

    matcher = QuickUMLS(str(quickumls_index), spacy_component=True)
    matcher.nlp = spacy.blank("en")
    found = {m["cui"] for group in matcher.match("Patient has hypertension.") for m in group}
    assert found == {"C0020538"}


# --- SNOMED CT ---------------------------------------------------------------------------------


def test_snomed_concepts_are_the_active_ones(snomed: Artifact) -> None:
    assert snomed.concept("sct:266287006") is None  # inactive concept
    concept = snomed.concept("sct:38341003")
    assert concept == {
        "cid": concept["cid"] if concept else None,
        "preferred": "Hypertensive disorder",  # US English preferred synonym (GB would differ)
        "entity_type": "problem",
        "semantic_type": "disorder",
        "specificity": 3,  # root → Clinical finding → Disease → Hypertensive disorder
    }
    assert snomed.codes("sct:38341003") == {(SNOMED_CT, "38341003"): "Hypertensive disorder"}


def test_snomed_entity_types_follow_the_hierarchy(snomed: Artifact) -> None:
    expected = {
        "sct:44054006": "problem",
        "sct:29857009": "problem",
        "sct:232717009": "procedure",
        "sct:33747003": "test",  # under Laboratory procedure
        "sct:77477000": "test",  # under Evaluation procedure
        "sct:7947003": "medication",
        "sct:387458008": "medication",
        "sct:87612001": None,  # Body substance: blood is not a medication
        "sct:271649006": "test",
        "sct:80891009": None,  # body structure
        "sct:404684003": None,  # top-level header itself
        "sct:138875005": None,  # root
    }
    got = {cid: (snomed.concept(cid) or {}).get("entity_type", "missing") for cid in expected}
    assert got == expected


def test_snomed_terms_are_active_synonyms_with_abbreviations(snomed: Artifact) -> None:
    terms = snomed.terms("sct:38341003")
    assert terms == {
        "Hypertensive disorder": "preferred",
        "High blood pressure": "synonym",
        "HBP - High blood pressure": "synonym",
        "HBP": "abbreviation-ambiguous",
    }  # not: "hypertensive disorder" (same form), Hyperpiesis (inactive), FSN, definition
    assert snomed.terms("sct:232717009")["CABG"] == "abbreviation"


def test_snomed_preferred_name_fallbacks(snomed: Artifact) -> None:
    product = snomed.concept("sct:7947003")  # in no language refset: lowest synonym id
    assert product is not None
    assert product["preferred"] == "Aspirin-containing product"
    observable = snomed.concept("sct:271649006")  # only an FSN: its text without the tag
    assert observable is not None
    assert observable["preferred"] == "Systolic blood pressure"
    assert observable["semantic_type"] == "observable entity"


def test_snomed_depth_ignores_inactive_is_a(snomed: Artifact) -> None:
    essential = snomed.concept("sct:59621000")
    assert essential is not None
    assert essential["specificity"] == 4  # not 5 through the inactive link to diabetes


def test_snomed_icd10cm_map_crosswalks(snomed: Artifact) -> None:
    crosswalks = snomed.crosswalks("snomed")
    assert set(crosswalks) == {
        ("38341003", "O16.9", "maps-to"),
        ("38341003", "I10", "maps-to"),
        ("59621000", "I10", "maps-to"),
        ("44054006", "E11.9", "maps-to"),
        ("29857009", "R07.9", "maps-to"),
    }  # no empty target, no inactive row, no WHO ICD-10 row, no inactive concept
    pregnancy = crosswalks[("38341003", "O16.9", "maps-to")]
    assert pregnancy is not None
    assert pregnancy.startswith("group 1 priority 1: IFA 77386006 | Pregnancy (finding) |")
    assert "CONTEXT DEPENDENT" in pregnancy
    assert crosswalks[("38341003", "I10", "maps-to")] == (
        "group 1 priority 2: TRUE; advice: ALWAYS I10 | MAP OF SOURCE CONCEPT IS CONTEXT DEPENDENT"
    )


def test_snomed_version_from_file_names(snomed: Artifact) -> None:
    source = snomed.source("snomed")
    assert source["version"] == "US1000124 20250301"
    assert source["release_date"] == "2025-03-01"
    assert "SNOMED" in source["license"]
    assert "not redistributed" in source["license"]


def test_snomed_missing_or_doubled_files_are_one_line_errors(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    release = tmp_path / "release"
    shutil.copytree(SNOMED_DIR, release)
    relationships = next(release.rglob("sct2_Relationship_Snapshot_*.txt"))
    copy = relationships.with_name("sct2_Relationship_Snapshot_INT_20250101.txt")
    shutil.copy(relationships, copy)
    with pytest.raises(ValueError, match=r"several sct2_Relationship_Snapshot_\*\.txt"):
        load(lambda w: load_snomed(w, release))
    relationships.unlink()
    copy.unlink()
    with pytest.raises(FileNotFoundError, match=r"^SNOMED CT: no sct2_Relationship_Snapshot_"):
        load(lambda w: load_snomed(w, release))


def test_place_concepts_survives_cycles_and_orphans() -> None:
    parents = {10: [ROOT], 11: [10, 13], 12: [11], 13: [12], 20: [99]}
    places = place_concepts(parents, {10, 11, 12, 13, 20})  # 11 → 13 → 12 → 11 is a cycle
    assert set(places) == {10, 11, 12, 13, 20}
    assert (places[11].depth, places[11].top) == (2, 10)
    assert places[20] == Placement(0, None, 0)


# --- RxNorm ------------------------------------------------------------------------------------


def test_rxnorm_concepts_for_the_drug_term_types(rxnorm: Artifact) -> None:
    expected = {
        "rxnorm:6809": ("metformin", "IN", 1),
        "rxnorm:6918": ("metformin hydrochloride", "PIN", 2),
        "rxnorm:214618": ("hydrochlorothiazide / lisinopril", "MIN", 2),
        "rxnorm:151827": ("Glucophage", "BN", 2),
        "rxnorm:316255": ("metformin hydrochloride 500 MG", "SCDC", 3),
        "rxnorm:861007": ("metformin hydrochloride 500 MG Oral Tablet", "SCD", 5),
        "rxnorm:861010": ("metformin hydrochloride 500 MG Oral Tablet [Glucophage]", "SBD", 6),
    }
    for concept_id, (preferred, tty, specificity) in expected.items():
        concept = rxnorm.concept(concept_id)
        assert concept is not None, concept_id
        assert concept["entity_type"] == "medication"
        assert (concept["preferred"], concept["semantic_type"], concept["specificity"]) == (
            preferred,
            tty,
            specificity,
        )
    assert rxnorm.concept("rxnorm:317541") is None  # DF "Oral Tablet" is not a drug
    assert rxnorm.concept("rxnorm:99999") is None  # suppressed (O)
    assert rxnorm.concept("rxnorm:1658719") is not None  # GPCK
    assert rxnorm.codes("rxnorm:6809") == {(RXNORM, "6809"): "metformin"}


def test_rxnorm_synonyms_skip_suppressed_and_other_sources(rxnorm: Artifact) -> None:
    assert rxnorm.terms("rxnorm:861007") == {
        "metformin hydrochloride 500 MG Oral Tablet": "preferred",
        "metformin HCl 500 MG Oral Tablet": "SY",
        "metFORMIN HCl 500 MG Oral Tablet": "PSN",
    }  # the TMSY is the preferred name's form; the O-suppressed old name is gone
    terms = rxnorm.all_terms()
    assert "METFORMIN" not in terms  # MTHSPL
    assert "Aspirin 81 MG Chewable Tablet" not in terms  # SUPPRESS=Y


def test_rxnorm_relationship_crosswalks(rxnorm: Artifact) -> None:
    assert rxnorm.crosswalks("rxnorm") == {
        ("316255", "6809", "has-ingredient"): None,
        ("6809", "316255", "ingredient-of"): None,
        ("861007", "316255", "consists-of"): None,
        ("316255", "861007", "constituent-of"): None,
        ("151827", "6809", "brand-of"): None,
        ("6809", "151827", "has-brand"): None,
        ("861010", "861007", "brand-of"): None,
        ("6918", "6809", "form-of"): None,
        ("6809", "6918", "has-form"): None,
        ("214618", "29046", "has-part"): None,
        ("29046", "214618", "part-of"): None,
        ("243670", "1191", "has-ingredient"): None,
        ("214618", "5487", "has-part"): None,  # SUPPRESS empty: kept
    }  # not: dose forms, the suppressed (O) row, MTHSPL's row, atom-level rows


def test_rxnorm_version_from_folder_then_rxnsab(
    rxnorm: Artifact, tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    source = rxnorm.source("rxnorm")
    assert (source["version"], source["release_date"]) == ("2025-03-03", "2025-03-03")
    renamed = tmp_path / "rxnorm_release"
    shutil.copytree(RXNORM_DIR, renamed)
    assert load(lambda w: load_rxnorm(w, renamed)).source("rxnorm")["version"] == "24AB_250303F"
    parent = load(lambda w: load_rxnorm(w, RXNORM_DIR.parent))  # the folder holding the release
    assert parent.concept("rxnorm:6809") is not None


def test_rxnorm_missing_rxnconso_is_a_one_line_error(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    with pytest.raises(FileNotFoundError, match=r"^RxNorm: RXNCONSO\.RRF not found"):
        load(lambda w: load_rxnorm(w, tmp_path))


# --- LOINC -------------------------------------------------------------------------------------


def test_loinc_statuses_and_class_types(loinc: Artifact) -> None:
    glucose = loinc.concept("loinc:2345-7")
    assert glucose is not None
    assert glucose["preferred"] == "Glucose [Mass/volume] in Serum or Plasma"
    assert (glucose["entity_type"], glucose["semantic_type"], glucose["specificity"]) == (
        "test",
        "CHEM",
        2,
    )
    discouraged = loinc.concept("loinc:33914-3")
    assert discouraged is not None
    assert discouraged["specificity"] == 0
    trial = loinc.concept("loinc:94500-6")
    assert trial is not None
    assert trial["specificity"] == 1
    assert loinc.concept("loinc:8480-6") is not None  # class type 2: vital sign
    for skipped in ("1554-5", "11506-3", "44249-1", "52070-3"):  # deprecated, DOC, survey, claims
        assert loinc.concept(f"loinc:{skipped}") is None, skipped
    assert loinc.codes("loinc:2345-7") == {
        (LOINC, "2345-7"): "Glucose [Mass/volume] in Serum or Plasma"
    }


def test_loinc_terms(loinc: Artifact) -> None:
    terms = loinc.terms("loinc:2345-7")
    assert terms["Glucose"] == "component"
    assert terms["Glucose SerPl-mCnc"] == "short"
    assert terms["Glucose [Mass/Vol]"] == "display"
    assert terms["Glucose, Serum or Plasma"] == "consumer"
    assert terms["Glu"] == "related"
    assert "mg/dL" not in terms
    assert "Glucose^post CFst" not in loinc.all_terms()  # a ^ component is no lab name
    a1c = loinc.terms("loinc:4548-4")
    assert a1c["HbA1c"] == "related"
    assert "%" not in a1c
    assert "Hb" not in a1c  # under 3 characters
    assert "mm[Hg]" not in loinc.terms("loinc:8480-6")


def test_loinc_related_names_shared_by_many_codes_are_dropped(
    load: Callable[[Loader], Artifact],
) -> None:
    artifact = load(lambda w: load_loinc(w, LOINC_DIR, related_name_max_codes=2))
    terms = artifact.terms("loinc:2345-7")
    assert "Point in time" not in terms  # an axis word of every code
    assert "Glucoseur" in terms  # this code's own
    assert artifact.terms("loinc:4548-4")["HbA1c"] == "related"


def test_loinc_version_from_folder_then_version_last_changed(
    loinc: Artifact, tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    assert loinc.source("loinc")["version"] == "2.80"
    table = tmp_path / "table.csv"
    shutil.copy(LOINC_DIR / "LoincTable" / "Loinc.csv", table)
    assert load(lambda w: load_loinc(w, table)).source("loinc")["version"] == "2.80"
    parent = load(lambda w: load_loinc(w, LOINC_DIR.parent))
    assert parent.concept("loinc:2345-7") is not None


def test_loinc_missing_table_or_column_is_a_one_line_error(
    tmp_path: Path, load: Callable[[Loader], Artifact]
) -> None:
    with pytest.raises(FileNotFoundError, match=r"^LOINC: no Loinc\.csv"):
        load(lambda w: load_loinc(w, tmp_path))
    bad = tmp_path / "Loinc.csv"
    bad.write_text('"LOINC_NUM","COMPONENT"\n"2345-7","Glucose"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no column LONG_COMMON_NAME"):
        load(lambda w: load_loinc(w, bad))


def test_related_names_shape_filter() -> None:
    assert related_names("A1c; Hb; HbA1c; %; mg/dL; mm[Hg]; 24; Glycohemoglobin") == [
        "A1c",
        "HbA1c",
        "Glycohemoglobin",
    ]


# --- all four in one artifact ------------------------------------------------------------------


def test_all_licensed_sources_build_one_artifact(tmp_path: Path) -> None:
    writer = ArtifactWriter(tmp_path / "artifact")
    load_umls(writer, UMLS_DIR)
    load_snomed(writer, SNOMED_DIR)
    load_rxnorm(writer, RXNORM_DIR)
    load_loinc(writer, LOINC_DIR)
    manifest = writer.close(artifact_name="licensed-fixtures")
    sources = {s["name"]: s for s in manifest["sources"]}
    assert set(sources) == {"umls", "snomed", "rxnorm", "loinc"}
    assert all(s["concepts"] > 0 and "not redistributed" in s["license"] for s in sources.values())
