"""The terminology artifact's layout: files, SQLite schema and canonical code systems.

An artifact is a folder ``<data_dir>/terminology/<name>/`` holding ``terminology.sqlite`` (the
concepts, terms, codes, crosswalks and per-source provenance), ``simstring/`` (the approximate
index over normalised terms) and ``manifest.json`` (a copy of the provenance, readable without
SQLite).  Builders write into a temporary folder and rename it into place, so a reader never
sees half an artifact.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
"""Bump when the tables change; a reader refuses an artifact of another version."""

DB_FILE = "terminology.sqlite"
SIMSTRING_DIR = "simstring"
SIMSTRING_DB = "terms.db"
SIMSTRING_NGRAM = 3
"""Character n-gram size of the simstring index (built with begin/end marks)."""
MANIFEST_FILE = "manifest.json"
DEFAULT_ARTIFACT = "default"

AMBIGUOUS_SUFFIX = "-ambiguous"
"""Ends a term type whose text commonly means something else too (``abbreviation-ambiguous``
for "PE": pulmonary embolism or physical exam); extractors should demand context."""

# Canonical FHIR system URIs.
SNOMED_CT = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UMLS = "http://terminology.hl7.org/CodeSystem/umls"
HPO = "http://human-phenotype-ontology.org"

DDL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    release_date  TEXT,
    license       TEXT NOT NULL,
    description   TEXT NOT NULL,
    concepts      INTEGER NOT NULL DEFAULT 0,
    terms         INTEGER NOT NULL DEFAULT 0,
    codes         INTEGER NOT NULL DEFAULT 0,
    crosswalks    INTEGER NOT NULL DEFAULT 0,
    built_at      TEXT NOT NULL,
    build_seconds REAL NOT NULL DEFAULT 0
);
CREATE TABLE concepts (
    cid           INTEGER PRIMARY KEY,
    concept_id    TEXT NOT NULL UNIQUE,      -- 'icd10cm:E11.21', 'hpo:HP:0000822', 'umls:C0020538'
    source        TEXT NOT NULL REFERENCES sources(name),
    preferred     TEXT NOT NULL,
    entity_type   TEXT,                      -- problem | medication | test | procedure | NULL
    semantic_type TEXT,                      -- UMLS TUI, hierarchy root or chapter
    specificity   INTEGER NOT NULL DEFAULT 0 -- deeper/more specific codes rank first
);
CREATE TABLE terms (
    tid       INTEGER PRIMARY KEY,
    cid       INTEGER NOT NULL REFERENCES concepts(cid),
    term      TEXT NOT NULL,
    norm      TEXT NOT NULL,
    bag       TEXT NOT NULL,
    -- preferred | synonym | abbreviation | inclusion | brand | ... (+ '-ambiguous')
    term_type TEXT NOT NULL,
    source    TEXT NOT NULL,
    UNIQUE (cid, norm, term_type)
);
CREATE TABLE codes (
    cid     INTEGER NOT NULL REFERENCES concepts(cid),
    system  TEXT NOT NULL,
    code    TEXT NOT NULL,
    display TEXT NOT NULL,
    PRIMARY KEY (cid, system, code)
);
CREATE TABLE crosswalk (
    from_system TEXT NOT NULL,
    from_code   TEXT NOT NULL,
    to_system   TEXT NOT NULL,
    to_code     TEXT NOT NULL,
    -- equivalent | broader | narrower | maps-to | has-ingredient | ingredient-of
    relation    TEXT NOT NULL,
    source      TEXT NOT NULL,
    rule        TEXT,                        -- map rule/advice of a SNOMED map refset row
    PRIMARY KEY (from_system, from_code, to_system, to_code, relation)
);
"""

INDEXES = """
CREATE INDEX terms_norm ON terms(norm);
CREATE INDEX terms_bag ON terms(bag);
CREATE INDEX terms_cid ON terms(cid);
CREATE INDEX codes_system_code ON codes(system, code);
CREATE INDEX crosswalk_to ON crosswalk(to_system, to_code);
"""
"""Created after the bulk load (faster than maintaining them row by row)."""
