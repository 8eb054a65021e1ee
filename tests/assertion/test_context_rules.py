"""The ConText rule tables: validation, phrase syntax and the token trie."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from note2fhir.assertion import stage
from note2fhir.assertion.context import find_matches
from note2fhir.assertion.rules import (
    RELATIVES_FILE,
    RULES_FILE,
    ContextRules,
    RelativesTable,
    TriggerIndex,
    expand_phrase,
    load_index,
)
from note2fhir.coding import candidates
from note2fhir.fhir.build.family_member_history import ROLE_CODE_SYSTEM
from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize

ROLE_CODES = {
    "MTH", "FTH", "PRN", "SIS", "BRO", "SIB", "CHILD", "DAUC", "SONC",
    "GRMTH", "GRFTH", "GRPRN", "AUNT", "UNCLE", "COUSN", "FAMMEMB",
    "STPFTH", "STPMTH", "STPBRO", "STPSIS", "MTHINLAW", "FTHINLAW",
}  # fmt: skip
"""v3-RoleCode (``ROLE_CODE_SYSTEM``) codes: DAUC/SONC are daughter/son, DAU/SON would be
natural daughter/son."""


def test_packaged_tables_load_and_compile() -> None:
    rules = load_data_file(RULES_FILE, ContextRules)
    relatives = load_data_file(RELATIVES_FILE, RelativesTable)
    assert rules.version >= 1 and relatives.version >= 1
    assert set(relatives.relatives) == ROLE_CODES
    assert ROLE_CODE_SYSTEM == "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
    load_index()  # refuses a phrase listed in two rules


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("no|without evidence of", [("no", "evidence", "of"), ("without", "evidence", "of")]),
        ("r/o", [("r", "/", "o")]),
        ("denies [any] fever", [("denies", "any", "fever"), ("denies", "fever")]),
        ("was|came_back negative", [("was", "negative"), ("came", "back", "negative")]),
        ("in <year>", [("in", "<year>")]),
        ("?", [("?",)]),
        ("NO", [("no",)]),
    ],
)
def test_phrase_syntax(phrase: str, expected: list[tuple[str, ...]]) -> None:
    assert expand_phrase(phrase) == expected


@pytest.mark.parametrize(
    "phrase", ["in <month>", "[no", "no [any|", "[a] [b]", "|".join(["a"] * 50) + " " * 1]
)
def test_bad_phrases_are_refused(phrase: str) -> None:
    if phrase.startswith("a|"):
        phrase = " ".join([phrase] * 3)  # 50 ** 3 sequences
    with pytest.raises(ValueError):
        expand_phrase(phrase)


def _rules(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "categories": {"negated": {"terminated_by": ["uncertain"]}},
        "triggers": [
            {"id": "neg.pre", "category": "negated", "direction": "forward", "phrases": ["no"]},
            {"id": "unc.pre", "category": "uncertain", "direction": "forward", "phrases": ["may"]},
        ],
        "pseudo": [{"id": "pseudo.neg", "phrases": ["no change"]}],
        "terminations": [{"id": "term.but", "phrases": ["but"]}],
    }
    data.update(changes)
    return data


RELATIVES = RelativesTable.model_validate({"version": 1, "relatives": {"MTH": ["mother"]}})


def _trigger(**fields: Any) -> dict[str, Any]:
    rule = {"id": "x", "category": "negated", "direction": "forward", "phrases": ["no"]}
    return {"triggers": [rule | fields]}


@pytest.mark.parametrize(
    "changes",
    [
        {"bogus": 1},
        _trigger(direction="sideways"),
        _trigger(phrases=[]),
        _trigger(relative="MTH"),
        _trigger(differential=True),
        _trigger(ended=True),
        _trigger(category="family", relative="AUNTIE"),
        _trigger(typo=True),
        {"terminations": [{"id": "neg.pre", "phrases": ["but"]}]},
        {"categories": {"negated": {"terminated_by": ["sad"]}}},
    ],
)
def test_bad_tables_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContextRules.model_validate(_rules(**changes))


def test_a_phrase_in_two_rules_is_refused() -> None:
    rules = ContextRules.model_validate(
        _rules(terminations=[{"id": "term.no", "phrases": ["no|but"]}])
    )
    with pytest.raises(ValueError, match="'no'"):
        TriggerIndex(rules, RELATIVES)


def _matches(index: TriggerIndex, text: str) -> list[tuple[str, str]]:
    tokens = tokenize(text)
    return [
        (m.rule.id, text[tokens[m.start].start : tokens[m.end - 1].end])
        for m in find_matches(index, [t.norm for t in tokens])
    ]


def test_longest_match_wins_and_pseudo_triggers_shield() -> None:
    index = TriggerIndex(ContextRules.model_validate(_rules()), RELATIVES)
    assert _matches(index, "No change, but NO fever; may") == [
        ("pseudo.neg", "No change"),
        ("term.but", "but"),
        ("neg.pre", "NO"),
        ("unc.pre", "may"),
    ]


def test_packaged_matches() -> None:
    index = load_index()
    assert _matches(index, "Pt denies CP; r/o MI, no family history of CAD") == [
        ("negated.list", "Pt denies"),
        ("uncertain.rule_out", "r/o"),
        ("negated.family_history", "no family history of"),
    ]
    found = find_matches(index, [t.norm for t in tokenize("her maternal grandmother’s DM")])
    assert [(m.rule.id, m.relative) for m in found] == [("family.relative", "GRMTH")]
    found = find_matches(index, [t.norm for t in tokenize("MI in 2005; in 1850")])
    assert [m.rule.id for m in found] == ["historical.year"]


def test_the_rules_the_stage_names_by_id_exist() -> None:
    """The assertion stage refines two rules by id (a question mark's direction, a year's
    tense): renaming either in the YAML must fail here, not switch the refinement off."""
    ids = {t.id for t in load_data_file(RULES_FILE, ContextRules).triggers}
    assert {stage._QUESTION_RULE, stage._YEAR_RULE} <= ids
    assert ids >= candidates.ENDED  # the coding rules read "over" from these
