"""Code selection rules, on hand-made candidates (no store needed)."""

from __future__ import annotations

from note2fhir.coding.candidates import concept_of, rescored
from note2fhir.coding.select import _OWN_SYSTEM, SelectionRules, select_codes
from note2fhir.document import CodeCandidate
from note2fhir.terminology.schema import HPO, ICD10CM, SNOMED_CT, UMLS
from terminology.sources.drugs import DRUGBANK

RULES = SelectionRules()


def cand(system: str, code: str, score: float, concept: str) -> CodeCandidate:
    return CodeCandidate(system, code, code, score, f"exact: test [{concept}]", selected=False)


def leaf(code: str) -> bool:
    return code not in {"E11", "E11.2"}


def selected(codes: list[CodeCandidate]) -> list[str]:
    return [c.code for c in codes if c.selected]


def test_most_specific_code_and_cross_codes() -> None:
    codes = [
        cand(ICD10CM, "E11.21", 0.91, "icd10cm:E11.21"),
        cand(ICD10CM, "E11.9", 0.90, "icd10cm:E11.9"),
        cand(HPO, "HP:0005978", 0.90, "hpo:HP:0005978"),
        cand(SNOMED_CT, "44054006", 0.90, "hpo:HP:0005978"),
        cand(UMLS, "C0011860", 0.90, "hpo:HP:0005978"),
    ]
    out = select_codes(codes, RULES, leaf)
    assert selected(out) == ["E11.21", "HP:0005978", "44054006", "C0011860"]
    assert [c.code for c in out if not c.selected] == ["E11.9"]


def test_a_category_stays_an_alternative() -> None:
    codes = [
        cand(ICD10CM, "E11", 1.0, "icd10cm:E11"),
        cand(HPO, "HP:0000819", 1.0, "hpo:HP:0000819"),
    ]
    out = select_codes(codes, RULES, leaf)
    assert selected(out) == ["HP:0000819"]
    assert not out[-1].selected and out[-1].code == "E11"


def test_below_threshold_or_margin_is_not_selected() -> None:
    weak = [cand(ICD10CM, "I10", 0.82, "icd10cm:I10")]
    assert selected(select_codes(weak, RULES, leaf)) == []
    far = [cand(HPO, "HP:1", 1.0, "hpo:HP:1"), cand(ICD10CM, "I10", 0.9, "icd10cm:I10")]
    assert selected(select_codes(far, RULES, leaf)) == ["HP:1"]


def test_one_code_per_system() -> None:
    codes = [
        cand(ICD10CM, "I21.9", 0.95, "icd10cm:I21.9"),
        cand(ICD10CM, "I25.2", 0.95, "icd10cm:I25.2"),
    ]
    assert selected(select_codes(codes, RULES, leaf)) == ["I21.9"]


def test_without_cross_codes_only_the_concepts_own_code() -> None:
    codes = [
        cand(HPO, "HP:0005978", 0.9, "hpo:HP:0005978"),
        cand(SNOMED_CT, "44054006", 0.9, "hpo:HP:0005978"),
    ]
    rules = SelectionRules(cross_codes=False)
    assert selected(select_codes(codes, rules, leaf)) == ["HP:0005978"]


def test_reason_names_the_concept() -> None:
    c = cand(ICD10CM, "I10", 1.0, "icd10cm:I10")
    assert concept_of(c) == "icd10cm:I10"
    capped = rescored([c], cap=0.8, note="; shorter match")[0]
    assert capped.score == 0.8
    assert concept_of(capped) == "icd10cm:I10"
    assert capped.reason == "exact: test; shorter match [icd10cm:I10]"


def test_drugbank_system_matches_the_builder() -> None:
    assert _OWN_SYSTEM["drug"] == DRUGBANK


def test_an_alternative_never_outranks_the_selected_code_of_its_system() -> None:
    codes = [
        cand(ICD10CM, "E11", 1.0, "icd10cm:E11"),
        cand(ICD10CM, "E11.9", 0.95, "icd10cm:E11.9"),
    ]
    out = select_codes(codes, RULES, leaf)
    assert [(c.code, c.score, c.selected) for c in out] == [
        ("E11.9", 0.95, True),
        ("E11", 0.95, False),
    ]
    assert "ranked below the selected code" in out[1].reason
    # what a scorer that takes the best-scored code (first on ties) sees
    assert sorted(out, key=lambda c: -c.score)[0].code == "E11.9"
