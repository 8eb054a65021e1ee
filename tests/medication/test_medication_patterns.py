"""The pattern table: validation on load, the phrase matcher, and the sourced route codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import note2fhir.resources.loader as loader
from note2fhir.document import Token
from note2fhir.errors import Note2FhirError
from note2fhir.medication.patterns import (
    PATTERNS_FILE,
    MedicationPatterns,
    PatternTable,
    default_patterns,
)
from note2fhir.medication.phrases import Number, PhraseSet, phrase_elements, read_number, words
from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize


def raw_table() -> dict[str, Any]:
    text = (
        Path(__file__).resolve().parents[2] / "src/note2fhir/resources" / PATTERNS_FILE
    ).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_packaged_table_loads() -> None:
    patterns = default_patterns()
    assert patterns.table.version == 1
    assert load_data_file(PATTERNS_FILE, PatternTable) == patterns.table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(colour="blue"), "colour"),
        (lambda t: t["frequencies"][0]["timing"].update(often=2), "often"),
        (lambda t: t["frequencies"][0]["timing"].update(when=["BREAKFAST"]), "when"),
        (lambda t: t["statuses"][0].update(status="paused"), "status"),
        (lambda t: t["forms"][0].update(route="by osmosis"), "route"),
    ],
)
def test_bad_tables_are_rejected(change: Any, message: str) -> None:
    table = raw_table()
    change(table)
    with pytest.raises(ValueError, match=message):
        PatternTable.model_validate(table)


def test_unknown_keys_are_a_catalogue_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake:
        def joinpath(self, name: str) -> Fake:
            return self

        def read_text(self, encoding: str) -> str:
            return yaml.safe_dump({**raw_table(), "colour": "blue"})

    monkeypatch.setattr(loader.resources, "files", lambda package: Fake())
    with pytest.raises(Note2FhirError):
        load_data_file(PATTERNS_FILE, PatternTable)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["routes"][0]["phrases"].append("bid"), "twice"),
        (lambda t: t["frequencies"][0]["phrases"].append("q <n> <time>"), "twice"),
        (lambda t: t["frequencies"][6]["phrases"].append("every <time> <n>"), "slot"),
        (lambda t: t["durations"][0]["phrases"].append("for <n> cycles"), "slots"),
        (lambda t: t["fillers"].append("by mouth"), "one word"),
    ],
)
def test_bad_phrases_are_rejected(change: Any, message: str) -> None:
    table = raw_table()
    change(table)
    with pytest.raises(ValueError, match=message):
        MedicationPatterns(PatternTable.model_validate(table))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 tab p.o. b.i.d.", ["1", "tab", "po", "bid"]),
        ("Q.H.S.", ["qhs"]),
        ("mg. daily", ["mg", ".", "daily"]),
        ("q6h", ["q", "6", "h"]),
        ("d/c'd", ["d", "/", "c'd"]),
    ],
)
def test_words_join_dotted_abbreviations(text: str, expected: list[str]) -> None:
    assert [w.norm for w in words(tokenize(text))] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500", Number(500.0)),
        ("0.125", Number(0.125)),
        ("1,000", Number(1000.0)),
        (".5", Number(0.5)),
        ("1/2", Number(0.5)),
        ("two", Number(2.0)),
        ("1-2", Number(1.0, 2.0)),
        ("4 to 6", Number(4.0, 6.0)),
        ("1,5", None),
        ("mg", None),
    ],
)
def test_read_number(text: str, expected: Number | None) -> None:
    seq = words(tokenize(text))
    found = read_number(seq, 0, {"two": 2.0})
    assert (found[0] if found else None) == expected


def test_phrase_set_prefers_the_longest_match() -> None:
    phrases: PhraseSet[str] = PhraseSet({"two": 2.0}, {"h": "h", "hours": "h"})
    phrases.add("once", "count")
    phrases.add("once daily", "daily")
    phrases.add("q <n> <time>", "every")
    seq = words(tokenize("once daily q 4-6 hours"))
    first = phrases.match_at(seq, 0)
    assert first is not None and first.payload == "daily"
    every = phrases.match_at(seq, 2)
    assert every is not None
    assert every.captures == (Number(4.0, 6.0), "h")
    assert phrases.match_at(seq, 1) is None
    assert phrase_elements("q <n> <time>") == ("q", "<n>", "<time>")


def test_phrase_set_keeps_the_first_listed_on_a_tie_whatever_follows() -> None:
    # Patterns are narrowed by the word after their first element; a pattern with a slot
    # there, or with one element, must still be tried, and in the order listed.
    phrases: PhraseSet[str] = PhraseSet({"two": 2.0}, {"h": "h", "hours": "h"})
    phrases.add("q <n> h", "slot second")
    phrases.add("q 4 h", "literal second")
    phrases.add("q", "alone")
    phrases.add("<n> tabs", "number first")
    phrases.add("<n> <time>", "number then unit")
    seq = words(tokenize("q 4 h q 6 h q x two tabs 3 hours"))
    found = [phrases.match_at(seq, i) for i in (0, 3, 6, 8, 10)]
    assert [(m.payload, m.end) if m else None for m in found] == [
        ("slot second", 3),  # listed before the literal "q 4 h" of the same length
        ("slot second", 6),
        ("alone", 7),
        ("number first", 10),
        ("number then unit", 12),
    ]
    assert phrases.match_at(seq, 7) is None  # "x": no pattern starts there
    phrases.add("q x", "added later")  # adding after matching takes effect
    later = phrases.match_at(seq, 6)
    assert later is not None and later.payload == "added later"


def test_matching_is_linear_on_adversarial_input() -> None:
    phrases: PhraseSet[str] = PhraseSet()
    phrases.add("q q q q q x", "never")
    seq = words([Token(i, i + 1, "q") for i in range(0, 100_000, 2)])
    assert all(phrases.match_at(seq, i) is None for i in range(len(seq)))


# --- route codes: every coding in the table must appear, with its system, in the HL7 examples


def _examples_routes(examples: Path) -> set[tuple[str, str, str]]:
    """(system, code, display) of every Dosage.route / route coding in the JSON examples, and
    the v3 codes of the IPS FSH sources (``$v3-RouteOfAdministration#PO "Swallow, oral"``)."""
    found: set[tuple[str, str, str]] = set()

    def walk(node: Any, in_route: bool) -> None:
        if isinstance(node, dict):
            if in_route and {"system", "code"} <= set(node):
                found.add((node["system"], node["code"], node.get("display", "")))
            for key, value in node.items():
                walk(value, in_route or key == "route")
        elif isinstance(node, list):
            for value in node:
                walk(value, in_route)

    for path in examples.rglob("*.json"):
        walk(json.loads(path.read_text("utf-8")), False)
    v3_systems = {s for s, _, _ in found if s.endswith("/CodeSystem/v3-RouteOfAdministration")}
    for path in examples.rglob("*.fsh"):
        for line in path.read_text("utf-8").splitlines():
            if "route = $v3-RouteOfAdministration#" not in line:
                continue
            code, _, display = line.split("#", 1)[1].partition(" ")
            for system in v3_systems:
                found.add((system, code, display.strip().strip('"')))
    return found


def test_route_codes_come_from_the_hl7_examples(shared_data: Path) -> None:
    examples = shared_data / "fhir-examples"
    if not examples.is_dir():
        pytest.skip("fhir-examples are not present")
    sourced = _examples_routes(examples)
    codings = [r.coding for r in default_patterns().table.routes if r.coding is not None]
    assert codings, "the table names no coded route"
    for coding in codings:
        assert (coding.system, coding.code, coding.display) in sourced, coding
