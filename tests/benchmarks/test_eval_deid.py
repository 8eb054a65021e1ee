"""The de-identification evaluation's parsing and scoring, on inline fixtures."""

from __future__ import annotations

import re

import pytest

from benchmarks.deid_peers import (
    PHILTER_UNTYPED,
    NoteResult,
    philter_offline_filters,
    redacted_spans,
)
from benchmarks.eval_deid import (
    GoldDoc,
    GoldSpan,
    Timing,
    judged_figures,
    meets_target,
    parse_physionet,
    parse_presidio,
    percentile,
    score,
    synthea_gold,
    type_group,
)

ID_TEXT = (
    "START_OF_RECORD=1||||1||||\nSeen by Dr. Lee on 7/22 at Calvert Hospital.\n"
    "||||END_OF_RECORD\n\nSTART_OF_RECORD=1||||2||||\nNo events.\n||||END_OF_RECORD\n"
)
PHRASES = [
    "1 1 12 15 HCPName Lee\n",
    "1 1 19 23 Date 7/22\n",
    "1 1 27 43 Location Calvert Hospital\n",
]


def stand_in(text: str) -> list[tuple[int, int, str]]:
    """A trivial stand-in de-identifier for these tests: capitalised 'Lee' and m/d dates."""
    return [(m.start(), m.end(), "NAME" if m.group()[0].isalpha() else "DATE")
            for m in re.finditer(r"\bLee\b|\b\d{1,2}/\d{1,2}\b", text)]  # fmt: skip


def test_parse_physionet_reads_notes_and_checks_offsets() -> None:
    docs = parse_physionet(ID_TEXT, PHRASES)
    assert [d.id for d in docs] == ["1-1", "1-2"]
    assert [(docs[0].text[s.start : s.end], s.category) for s in docs[0].spans] == [
        ("Lee", "HCPName"),
        ("7/22", "Date"),
        ("Calvert Hospital", "Location"),
    ]
    with pytest.raises(ValueError, match="not at its offsets"):
        parse_physionet(ID_TEXT, ["1 1 0 3 HCPName Lee\n"])


def test_parse_presidio_spans() -> None:
    sample = {
        "full_text": "Call Ann at 555-0100",
        "spans": [
            {"entity_type": "PHONE_NUMBER", "start_position": 12, "end_position": 20},
            {"entity_type": "PERSON", "start_position": 5, "end_position": 8},
        ],
    }
    (doc,) = parse_presidio([sample])
    assert [(doc.text[s.start : s.end], s.category) for s in doc.spans] == [
        ("Ann", "PERSON"),
        ("555-0100", "PHONE_NUMBER"),
    ]


def test_synthea_gold_joins_name_runs_and_finds_date_lines() -> None:
    text = "\n1987-11-19\n\nSumiko254 Larue605\n is 60. Seen 1987-11-19 by Irvin970."
    gold = synthea_gold("n", text, {"Sumiko254", "Larue605"}, {"Irvin970"})
    assert [(text[s.start : s.end], s.category) for s in gold.spans] == [
        ("1987-11-19", "Date"),
        ("Sumiko254 Larue605", "PatientName"),
        ("Irvin970", "ClinicianName"),
    ]


def test_scores_follow_the_judged_definitions() -> None:
    (doc, empty) = parse_physionet(ID_TEXT, PHRASES)
    outputs = {doc.id: stand_in(doc.text), empty.id: stand_in(empty.text)}
    scores = score([doc, empty], outputs)
    total = scores.by_group["all"]
    assert (total.gold_spans, total.gold_found) == (3, 2)
    assert (total.gold_tokens, total.gold_tokens_found) == (4, 2)
    assert (total.sys_spans, total.sys_hits) == (2, 2)
    assert scores.by_category["Location"].span_recall == 0.0
    assert scores.by_group["names"].span_recall == 1.0
    assert scores.by_type["DATE"].span_precision == 1.0
    assert judged_figures(scores) == pytest.approx(
        {"span_recall": 2 / 3, "token_recall": 0.5, "precision": 1.0, "f1_span": 0.8}
    )
    assert meets_target(scores) == "yes"  # names and dates found, no identifiers in the gold


def test_partial_cover_is_a_miss_and_spans_outside_the_text_are_invalid() -> None:
    doc = GoldDoc("d", "Dr. Ann Lee here", [GoldSpan(4, 11, "HCPName")])
    scores = score([doc], {"d": [(4, 7, "NAME"), (12, 16, "NAME"), (10, 99, "NAME")]})
    names = scores.by_group["names"]
    assert (names.gold_found, names.gold_tokens_found) == (0, 1)
    assert (names.sys_spans, names.sys_hits) == (2, 1)
    assert (names.sys_tokens, names.sys_token_hits) == (2, 1)
    assert scores.invalid_spans == 1
    assert meets_target(scores) == "no"


def test_type_groups() -> None:
    assert type_group("Patient_Social_Security_Number") == "identifiers"
    assert type_group("Provider_Address_or_Location") == "locations"
    assert type_group("DATE_TIME") == "dates"
    assert type_group("HOSPITAL") == "locations"
    assert type_group("PTName") == "names"
    assert type_group(PHILTER_UNTYPED) == "other"


def test_redacted_spans_cover_what_is_not_kept() -> None:
    text = "Seen 7/22 by Lee."
    spans = redacted_spans(text, kept=[(0, 4), (10, 12)], typed=[(13, 16, "Name")])
    assert [(text[s:e], t) for s, e, t in spans] == [("7/22", PHILTER_UNTYPED), ("Lee", "Name")]


def test_philter_offline_filters_drop_pos_dependence() -> None:
    filters = [
        {"title": "safe", "type": "regex", "exclude": False, "keyword": "x"},
        {"title": "First", "type": "set", "exclude": True, "pos": ["NNP"], "keyword": "f"},
        {"title": "White", "type": "set", "exclude": False, "pos": [], "keyword": "w"},
        {"title": "Ctx", "type": "regex_context", "exclude": True, "context_filter": "First"},
        {"title": "Nums", "type": "pos_matcher", "exclude": False, "pos": ["CD"]},
    ]
    kept, dropped = philter_offline_filters(filters)
    assert dropped == ["Ctx", "First"]
    assert [(f["title"], f["type"]) for f in kept] == [
        ("safe", "regex"),
        ("White", "set"),
        ("Nums", "regex"),
    ]


def test_timing_and_percentile() -> None:
    timing = Timing()
    for result in (NoteResult([], 0.002), NoteResult([], None, "timeout"),
                   NoteResult([], None, "error", "ValueError")):  # fmt: skip
        timing.add(result)
    assert (timing.seconds, timing.timeouts, dict(timing.errors)) == ([0.002], 1, {"ValueError": 1})
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
