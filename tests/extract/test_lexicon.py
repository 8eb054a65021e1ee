"""The clinical lexicon: valid, and every code it names exists in the store with its display."""

from __future__ import annotations

import pytest

from note2fhir.extract.dictionary import verified_lexicon_codes
from note2fhir.extract.lexicon import ClinicalLexicon, lexicon_forms, load_lexicon
from note2fhir.terminology.candidates import resolve_system
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import ICD10PCS, LOINC, SNOMED_CT
from note2fhir.terminology.store import TerminologyStore


def test_every_lexicon_code_is_in_the_store_with_its_display(store: TerminologyStore) -> None:
    lexicon = load_lexicon()
    claimed = [(e.name, c) for g in lexicon.groups.values() for e in g.entries for c in e.codes]
    assert claimed, "the lexicon names at least one code (checked here)"
    verified = verified_lexicon_codes(store, lexicon)
    for name, code in claimed:
        assert any(v.code == code.code for v in verified.get(name, [])), (name, code.code)
        found = store.search(code.code, system=code.system)
        assert any(c.how == "code" and c.code_in(code.system) for c in found), code.code


def test_no_loinc_or_snomed_codes_written_by_hand() -> None:
    systems = {
        resolve_system(c.system)
        for g in load_lexicon().groups.values()
        for e in g.entries
        for c in e.codes
    }
    # ICD-10-PCS and DrugBank ids only, each checked against the store built from their
    # open releases (the test above)
    assert systems <= {ICD10PCS, "https://go.drugbank.com/drugs"}
    assert not systems & {LOINC, SNOMED_CT}


def test_forms_are_normalised_and_typed() -> None:
    forms = lexicon_forms(load_lexicon())
    assert {f.entry for f in forms["cxr"]} == {"chest x-ray"}
    assert forms["k"][0].kind == "with_value"
    assert forms["bp"][0].case_sensitive
    assert all(norm == normalize(norm) for norm in forms)


def test_stop_terms_are_normalised() -> None:
    lexicon = load_lexicon()
    for word in lexicon.stop_terms | lexicon.lowercase_abbreviations | lexicon.function_words:
        assert word == normalize(word), word


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        ClinicalLexicon.model_validate({"version": 1, "stop_terms": [], "groups": {}, "typo": 1})
