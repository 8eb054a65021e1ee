"""ICD-10-CM from the simple_icd_10_cm package: every code, titles, synonyms, entity types."""

from __future__ import annotations

import re
import sqlite3
from importlib.resources import files
from pathlib import Path

import pytest
import simple_icd_10_cm as cm
from hypothesis import given
from hypothesis import strategies as st

from note2fhir.terminology.schema import DB_FILE, ICD10CM
from note2fhir.terminology.store import TerminologyStore
from terminology.sources.icd10cm import (
    Excluded,
    excludes1_targets,
    icd10cm_code_exists,
    icd10cm_codes,
    icd10cm_description,
    icd10cm_is_billable,
    term_variants,
)

PACKAGE_LIST_SIZE = 98_505
"""Entries of the package's own list: every code plus 22 chapters and 297 blocks."""
CODE_COUNT = 98_186


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{(folder / DB_FILE).resolve().as_uri()}?mode=ro", uri=True)


def test_code_count_matches_the_package_list(small_artifact: Path) -> None:
    entries = cm.get_all_codes(True)
    assert len(entries) == PACKAGE_LIST_SIZE
    chapters = sum(1 for e in entries if e.isdigit())
    # Ranges (A00-A09) are blocks; a block holding one category shares its name (B10), so the
    # list names it twice.
    blocks = sum(1 for e in entries if "-" in e) + len(entries) - len(set(entries))
    assert chapters == 22
    expected = len(entries) - chapters - blocks
    assert expected == CODE_COUNT == len(icd10cm_codes())

    with _db(small_artifact) as db:
        loaded = {
            code for (code,) in db.execute("SELECT code FROM codes WHERE system = ?", (ICD10CM,))
        }
        concepts = db.execute("SELECT count(*) FROM concepts WHERE source = 'icd10cm'").fetchone()[
            0
        ]
    assert len(loaded) == concepts == CODE_COUNT

    # The package's plain code list (no dots) names the same codes.
    text = files("simple_icd_10_cm.data").joinpath("code-list-April-2026.txt").read_text("utf-8")
    listed = {
        line.split(" ")[0]
        for line in text.splitlines()
        if line.strip() and not line.split(" ")[0].isdigit() and "-" not in line.split(" ")[0]
    }
    assert listed == {code.replace(".", "") for code in loaded}


def test_e11_21_with_title_and_place(store: TerminologyStore) -> None:
    concept = store.concept("icd10cm:E11.21")
    assert concept is not None
    assert concept.preferred == "Type 2 diabetes mellitus with diabetic nephropathy"
    assert concept.codes[0] == (
        ICD10CM,
        "E11.21",
        "Type 2 diabetes mellitus with diabetic nephropathy",
    )
    assert concept.entity_type == "problem"
    assert concept.specificity == 5
    assert concept.semantic_type == "chapter 4 / E08-E13"


def test_inclusion_terms_and_variants_are_synonyms(store: TerminologyStore) -> None:
    concept = store.concept("icd10cm:I63.9")
    assert concept is not None
    terms = {(term, kind) for term, kind, _ in concept.terms}
    assert ("Stroke NOS", "inclusion") in terms
    assert ("Stroke", "inclusion") in terms
    i10 = store.concept("icd10cm:I10")
    assert i10 is not None
    assert ("high blood pressure", "includes", "icd10cm") in i10.terms
    assert ("Essential hypertension", "title-variant", "icd10cm") in i10.terms


def test_inclusion_terms_read_only_in_their_code_s_context_are_left_out(
    store: TerminologyStore,
) -> None:
    # the tabular lists them, but alone they name another condition or a substance
    assert "Polyneuropathy" in cm.get_inclusion_term("A69.22")
    a69 = store.concept("icd10cm:A69.22")
    assert a69 is not None
    assert "Polyneuropathy" not in {term for term, _, _ in a69.terms}
    assert "Cranial neuritis" in {term for term, _, _ in a69.terms}
    assert [c.concept_id for c in store.candidates("polyneuropathy", systems=[ICD10CM])] == [
        "icd10cm:G62.9"
    ]
    for substance in ("caffeine", "marijuana", "PCP", "phencyclidine", "cocaine"):
        icd = [c.concept_id for c in store.candidates(substance, systems=[ICD10CM])]
        assert not any(cid.startswith(("icd10cm:F1", "icd10cm:T4")) for cid in icd), substance
    f15 = store.concept("icd10cm:F15")
    assert f15 is not None
    assert "amphetamine-related disorders" in {term for term, _, _ in f15.terms}


def test_external_causes_have_no_entity_type_and_z_codes_are_problems(
    store: TerminologyStore,
) -> None:
    fall = store.concept("icd10cm:W19.XXXA")
    assert fall is not None
    assert fall.preferred == "Unspecified fall, initial encounter"
    assert fall.entity_type is None
    assert fall.specificity == 7
    history = store.concept("icd10cm:Z87.891")
    assert history is not None
    assert history.entity_type == "problem"
    covid = store.concept("icd10cm:U07.1")
    assert covid is not None
    assert covid.entity_type == "problem"


@pytest.mark.parametrize(
    ("code", "exists"),
    [
        ("E11.21", True),
        ("I10", True),
        ("B10", True),  # a category that shares its name with its one-category block
        ("S72.001A", True),  # a seventh-character extension
        ("E1121", False),  # FHIR form has the dot
        ("E11.99", False),
        ("A00-A09", False),  # a block
        ("4", False),  # a chapter
        ("", False),
    ],
)
def test_code_exists(code: str, exists: bool) -> None:
    assert icd10cm_code_exists(code) is exists


def test_description_and_billable() -> None:
    assert icd10cm_description("I10") == "Essential (primary) hypertension"
    assert icd10cm_description("E11.99") is None
    assert icd10cm_is_billable("E11.9")
    assert not icd10cm_is_billable("E11")


@pytest.mark.parametrize(
    ("term", "unspecified", "expected"),
    [
        ("hypertension (arterial) (benign) (essential)", False, ["hypertension"]),
        ("Stroke NOS", False, ["Stroke"]),
        ("Cirrhosis (of liver) NOS", False, ["Cirrhosis"]),
        ("Pneumonia, unspecified organism", True, ["Pneumonia"]),
        ("Pneumonia, unspecified organism", False, []),
        (
            "Chronic kidney disease, unspecified",
            True,
            ["Chronic kidney disease", "Chronic renal disease"],
        ),
        ("Type 2 diabetes mellitus", True, []),
        # square brackets hold a synonym or an explanation
        ("Sinus [sinusal] tachycardia NOS", False, ["Sinus tachycardia"]),
        ("Giardiasis [lambliasis]", True, ["Giardiasis"]),
        # a leading "Unspecified" marks the default like a trailing ", unspecified"
        ("Unspecified kidney failure", True, ["kidney failure", "renal failure"]),
        ("Unspecified hydronephrosis", True, ["hydronephrosis"]),
        ("Unspecified hydronephrosis", False, []),
        # "kidney" as a noun gets no "renal" variant
        ("Malignant neoplasm of kidney, except renal pelvis", True, []),
    ],
)
def test_term_variants(term: str, unspecified: bool, expected: list[str]) -> None:
    assert term_variants(term, strip_unspecified=unspecified) == expected


_CODES = st.from_regex(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", fullmatch=True)
_ITEMS = st.one_of(
    _CODES.map(lambda c: (c, c, "", c)),
    _CODES.map(lambda c: (c, c, "", f"{c}-" if "." in c else f"{c}.-")),
    st.tuples(_CODES, _CODES).map(lambda p: (p[0], p[1], "", f"{p[0]}-{p[1]}")),
    st.tuples(_CODES, _CODES, st.from_regex(r"\.[0-9]{1,3}", fullmatch=True)).map(
        lambda p: (p[0], p[1], p[2], f"{p[0]}-{p[1]} with {p[2]}")
    ),
)


@given(
    st.text(alphabet=st.characters(blacklist_characters="()"), max_size=40),
    st.lists(_ITEMS, min_size=1, max_size=5),
)
def test_excludes1_targets_reads_the_last_bracket_of_codes(words: str, items: list) -> None:
    """Every item of a bracket of codes comes back in order, whatever words precede it."""
    note = f"{words} (PRIND) ({', '.join(text for *_, text in items)})"
    assert excludes1_targets(note) == tuple(Excluded(a, b, s) for a, b, s, _ in items)


@given(st.text(max_size=80))
def test_excludes1_targets_never_fails_and_returns_codes(note: str) -> None:
    for target in excludes1_targets(note):
        assert icd_code_shape(target.first) and icd_code_shape(target.last)


def icd_code_shape(code: str) -> bool:
    return re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", code) is not None


def test_excludes1_targets_of_release_notes() -> None:
    assert excludes1_targets("diabetes mellitus (E08-E13)") == (Excluded("E08", "E13"),)
    assert excludes1_targets("diabetes mellitus (E08-E13 with .42)") == (
        Excluded("E08", "E13", ".42"),
    )
    assert excludes1_targets("hyperglycemia NOS (R73.9)") == (Excluded("R73.9", "R73.9"),)
    assert excludes1_targets("hemiplegia (I69.05-, I69.35-)") == (
        Excluded("I69.05", "I69.05"),
        Excluded("I69.35", "I69.35"),
    )
    assert excludes1_targets("infection (A00-R94 and T80-T88.6)") == (
        Excluded("A00", "R94"),
        Excluded("T80", "T88.6"),
    )
    assert excludes1_targets("sequelae (I69. with final characters -23)") == ()
    assert excludes1_targets("sepsis-code to specified infection") == ()
