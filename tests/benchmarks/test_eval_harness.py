"""The evaluation harness's readers and scorers, on small inline brat / PubTator / FHIR data."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from benchmarks.baseline_peer import (
    ENTITY_OF_TUI,
    SEMANTIC_TYPES,
    ExportRow,
    PeerAnnotator,
    build_index,
    mrconso_line,
    write_umls_files,
)
from benchmarks.eval_assertion import GoldSpan, gold_spans, score_flags
from benchmarks.eval_entities import (
    GoldDoc,
    GoldEntity,
    chia_entities,
    maccrobat_entities,
    parse_ann,
    parse_pubtator,
    read_chia,
    read_maccrobat,
    read_text,
    score_entities,
)
from benchmarks.eval_synthea import (
    KINDS,
    GoldItem,
    KindCounts,
    Mention,
    Note,
    displays,
    locate,
    mentions,
    note_text,
    read_notes,
    score_note,
)
from benchmarks.harness import markdown_table, prf
from benchmarks.pipeline_speed import parse_physionet, summary
from terminology.sources.umls import MRCONSO_FIELDS, iter_concepts, split_rrf

# --- brat --------------------------------------------------------------------------------------

MACCROBAT_TEXT = "Pt denied chest pain; possible MI. CT chest showed no PE. Given aspirin."
MACCROBAT_ANN = "\n".join(
    [
        "T1\tSign_symptom 10 20\tchest pain",
        "E1\tSign_symptom:T1",
        "A1\tPOLARITY E1 NEG",
        "T2\tDisease_disorder 31 33\tMI",
        "A2\tPOLARITY T2 UNCERTAIN",
        "T3\tDiagnostic_procedure 35 43\tCT chest",
        "T4\tDisease_disorder 54 56\tPE",
        "A3\tPOLARITY T4 NEG",
        "T5\tMedication 64 71\taspirin",
        "T6\tBiological_structure 38 43\tchest",  # not a mapped type
        "T7\tSign_symptom 10 15;16 20\tchest pain",  # discontinuous: outer extent, same span
        "R1\tMODIFY Arg1:T6 Arg2:T3",
    ]
)


def test_parse_ann_reads_spans_events_attributes_and_relations() -> None:
    brat = parse_ann(MACCROBAT_ANN)
    assert brat.spans["T7"] == ("Sign_symptom", 10, 20)
    assert brat.triggers == {"E1": "T1"}
    assert brat.attributes_of("T1") == {("POLARITY", "NEG")}  # via the event it triggers
    assert brat.relations == [("MODIFY", "T6", "T3")]


def test_parse_ann_skips_malformed_lines() -> None:
    brat = parse_ann("T1\tSign_symptom\tfever\n\n#1\tAnnotatorNotes T1\tx\nR1\tAND Arg1:T1\n")
    assert brat.spans == {}
    assert brat.relations == []


def test_maccrobat_types_and_flags() -> None:
    entities = maccrobat_entities(parse_ann(MACCROBAT_ANN))
    assert [(e.start, e.end, e.type, e.negated, e.uncertain) for e in entities] == [
        (10, 20, "problem", True, False),  # T1 and T7 merge; the flag of T1 survives
        (31, 33, "problem", False, True),
        (35, 43, "test", False, False),
        (54, 56, "problem", True, False),
        (64, 71, "medication", False, False),
    ]


CHIA_TEXT = "No history of asthma or COPD\r\nPregnant\r\nTaking insulin other than metformin\r\n"
CHIA_ANN = "\n".join(
    [
        "T1\tNegation 0 2\tNo",
        "T2\tCondition 14 20\tasthma",
        "T3\tCondition 24 28\tCOPD",
        "T4\tScope 14 28\tasthma or COPD",
        "R1\tHas_negation Arg1:T4 Arg2:T1",
        "T5\tCondition 30 38\tPregnant",
        "T6\tDrug 47 54\tinsulin",
        "T7\tNegation 55 65\tother than",
        "T8\tDrug 66 75\tmetformin",
        "R2\tHas_negation Arg1:T8 Arg2:T7",
        "T9\tMeasurement 0 2\tNo",
    ]
)


def test_chia_negation_through_scopes_and_direct_relations() -> None:
    entities = chia_entities(parse_ann(CHIA_ANN))
    negated = {CHIA_TEXT[e.start : e.end]: e.negated for e in entities}
    assert negated == {
        "asthma": True,
        "COPD": True,
        "Pregnant": False,
        "insulin": False,
        "metformin": True,
        "No": False,
    }
    assert {e.type for e in entities} == {"problem", "medication", "test"}


def test_chia_offsets_count_carriage_returns(tmp_path: Path) -> None:
    (tmp_path / "NCT1_exc.txt").write_bytes(CHIA_TEXT.encode("utf-8"))
    (tmp_path / "NCT1_exc.ann").write_text(CHIA_ANN, encoding="utf-8")
    (doc,) = read_chia(tmp_path)
    assert doc.id == "NCT1_exc"
    spans = {doc.text[e.start : e.end] for e in doc.entities}
    assert {"Pregnant", "insulin", "metformin"} <= spans


def test_read_maccrobat_sorts_by_pmid_and_needs_the_ann(tmp_path: Path) -> None:
    for stem in ("200", "30", "9"):
        (tmp_path / f"{stem}.txt").write_text(MACCROBAT_TEXT, encoding="utf-8")
        (tmp_path / f"{stem}.ann").write_text(MACCROBAT_ANN, encoding="utf-8")
    (tmp_path / "stray.txt").write_text("no annotations", encoding="utf-8")
    docs = read_maccrobat(tmp_path)
    assert [d.id for d in docs] == ["9", "30", "200"]
    assert read_maccrobat(tmp_path, limit=1)[0].id == "9"
    assert docs[0].record(targets=True)["targets"][0] == {"start": 10, "end": 20}


def test_pubtator_text_is_title_space_abstract_and_duplicates_go() -> None:
    content = (
        "\n11|t|Ataxia-telangiectasia in twins.\n"
        "11|a|Both had ataxia-telangiectasia.\n"
        "11\t0\t21\tAtaxia-telangiectasia\tSpecificDisease\tD001260\n"
        "11\t41\t62\tataxia-telangiectasia\tSpecificDisease\tD001260\n"
        "\n11|t|Duplicate.\n11|a|Ignored.\n\n"
    )
    (doc,) = parse_pubtator(content)
    assert [doc.text[e.start : e.end].lower() for e in doc.entities] == [
        "ataxia-telangiectasia"
    ] * 2
    assert {e.type for e in doc.entities} == {"problem"}


# --- entity scoring ----------------------------------------------------------------------------


def test_strict_and_lenient_scores() -> None:
    gold = {"d": {(0, 10, "problem"), (20, 30, "problem"), (40, 45, "medication")}}
    system = {
        "d": {
            (0, 10, "problem"),  # exact
            (22, 26, "problem"),  # overlaps only
            (40, 45, "problem"),  # right span, wrong type
            (60, 70, "test"),  # a type the corpus does not score
        }
    }
    counts = score_entities(gold, system, ("medication", "problem"))
    problem = counts["problem"]
    assert (problem.gold, problem.system, problem.strict_tp) == (2, 3, 1)
    assert problem.strict() == pytest.approx((1 / 3, 1 / 2, 0.4))
    assert problem.lenient()[:2] == pytest.approx((2 / 3, 1.0))
    micro = counts["micro"]
    assert (micro.gold, micro.system, micro.gold_overlapped) == (3, 3, 2)
    assert "test" not in counts


def test_a_document_missing_from_the_output_counts_as_empty() -> None:
    counts = score_entities({"d": {(0, 1, "problem")}}, {}, ("problem",))
    assert counts["micro"].strict() == (0.0, 0.0, 0.0)


def test_prf_and_table() -> None:
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(1, 2, 4) == pytest.approx((0.5, 0.25, 1 / 3))
    table = markdown_table(["a", "b"], [[0.5, "x"]]).splitlines()
    assert table == ["| a     | b |", "|-------|---|", "| 0.500 | x |"]


# --- assertion scoring -------------------------------------------------------------------------


def test_gold_spans_merge_types_and_missing_entities_count_as_false() -> None:
    doc = GoldDoc(
        "d",
        "x" * 50,
        [
            GoldEntity(0, 5, "problem", negated=True),
            GoldEntity(0, 5, "test"),
            GoldEntity(10, 15, "problem", uncertain=True),
            GoldEntity(20, 25, "problem"),
        ],
    )
    spans = gold_spans([doc])
    assert spans == [
        GoldSpan("d", 0, 5, True, False),
        GoldSpan("d", 10, 15, False, True),
        GoldSpan("d", 20, 25, False, False),
    ]
    system = {("d", 0, 5): {"negated": True}, ("d", 20, 25): {"negated": True}}
    counts, missing = score_flags(spans, system, ("negated", "uncertain"))
    assert missing == 1
    negated = counts["negated"]
    assert (negated.tp, negated.gold, negated.system, negated.agree) == (1, 1, 2, 2)
    assert counts["uncertain"].row()[:3] == [1, 0, 0]


# --- Synthea -----------------------------------------------------------------------------------

NOTE = (
    "# History\nPatient has a history of acute bronchitis (disorder), hypertension.\n"
    "# Medications\nlisinopril 10 mg oral tablet; Lisinopril 10 MG Oral Tablet\n"
)


def _docref(doc_id: str, text: str) -> dict[str, object]:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "subject": {"reference": "Patient/p1"},
        "context": {"encounter": [{"reference": "Encounter/e1"}]},
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": data}}],
    }


def _write_ndjson(folder: Path, name: str, rows: list[dict[str, object]]) -> None:
    (folder / f"{name}.000.ndjson").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )


def test_displays_drop_the_semantic_tag() -> None:
    medication_name = "Lisinopril 10 MG Oral Tablet"
    condition = {
        "resourceType": "Condition",
        "code": {
            "coding": [{"display": "Acute bronchitis (disorder)"}],
            "text": "Acute bronchitis (disorder)",
        },
    }
    assert displays(condition) == ["Acute bronchitis (disorder)", "Acute bronchitis"]
    start = NOTE.index("acute bronchitis (disorder)")
    assert locate(NOTE, displays(condition)) == (start, start + 27, "Acute bronchitis (disorder)")
    medication = {
        "resourceType": "MedicationRequest",
        "medicationCodeableConcept": {"coding": [{"display": medication_name}]},
    }
    start = NOTE.index("lisinopril")
    assert locate(NOTE, displays(medication)) == (start, start + 28, medication_name)


def test_read_notes_locates_the_encounter_gold(tmp_path: Path) -> None:
    _write_ndjson(tmp_path, "DocumentReference", [_docref("doc1", NOTE)])
    _write_ndjson(
        tmp_path,
        "Condition",
        [
            {
                "resourceType": "Condition",
                "code": {"text": "Acute bronchitis (disorder)"},
                "subject": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/e1"},
            },
            {
                "resourceType": "Condition",
                "code": {"text": "Hypertension"},
                "subject": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/other"},
            },
            {
                "resourceType": "Condition",
                "code": {"text": "Gout (disorder)"},
                "subject": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/e1"},
            },
        ],
    )
    _write_ndjson(
        tmp_path,
        "MedicationRequest",
        [
            {
                "resourceType": "MedicationRequest",
                "medicationCodeableConcept": {"text": "lisinopril 10 MG Oral Tablet"},
                "subject": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/e1"},
            }
        ],
    )
    (note,) = read_notes(tmp_path)
    assert note.text == NOTE
    assert [(g.kind, NOTE[g.start : g.end]) for g in note.gold] == [
        ("condition", "acute bronchitis (disorder)"),
        ("medication", "lisinopril 10 mg oral tablet"),
    ]
    assert note.unlocated == 1  # gout is not in the note
    hypertension = NOTE.index("hypertension")
    assert (hypertension, hypertension + 12) in note.known["condition"]  # another encounter's
    assert len(note.known["medication"]) == 2  # both spellings of the tablet


def test_mentions_and_scores_from_a_bundle() -> None:
    def derivation(
        offset: int, length: int, ref: str = "DocumentReference/doc1"
    ) -> dict[str, object]:
        return {
            "url": "http://hl7.org/fhir/StructureDefinition/derivation-reference",
            "extension": [
                {"url": "reference", "valueReference": {"reference": ref}},
                {"url": "offset", "valueInteger": offset},
                {"url": "length", "valueInteger": length},
            ],
        }

    refuted = {"coding": [{"code": "refuted"}]}
    bundle = {
        "entry": [
            {"resource": {"resourceType": "Condition", "extension": [derivation(36, 16)]}},
            {
                "resource": {
                    "resourceType": "Condition",
                    "verificationStatus": refuted,
                    "extension": [derivation(65, 12), derivation(0, 4, "DocumentReference/x")],
                }
            },
            {
                "resource": {
                    "resourceType": "MedicationStatement",
                    "status": "not-taken",
                    "extension": [derivation(95, 10)],
                }
            },
            {"resource": {"resourceType": "Procedure", "extension": [derivation(0, 3)]}},
        ]
    }
    found = mentions(bundle, "doc1")
    assert found == [
        Mention("condition", 36, 52, False),
        Mention("condition", 65, 77, True),
        Mention("medication", 95, 105, True),
    ]
    note = Note(
        {"id": "doc1"},
        NOTE,
        [GoldItem("condition", "x", 36, 63), GoldItem("medication", "y", 95, 123)],
        0,
    )
    note.known = {"condition": [(36, 63), (65, 77)], "medication": [(95, 123)]}
    counts = {k: KindCounts() for k in KINDS}
    score_note(note, found, counts)
    assert (counts["condition"].found, counts["condition"].found_refuted) == (1, 0)
    assert counts["condition"].precision() == 0.5
    assert counts["condition"].patient_precision() == 1.0
    assert (counts["medication"].found, counts["medication"].found_refuted) == (1, 1)


def test_note_text_needs_a_text_attachment() -> None:
    assert note_text(_docref("d", "hello")) == "hello"
    assert (
        note_text({"content": [{"attachment": {"contentType": "application/pdf", "data": "AA=="}}]})
        is None
    )


# --- speed helpers -----------------------------------------------------------------------------


def test_parse_physionet_records() -> None:
    content = (
        "START_OF_RECORD=1||||1||||\nO: PT C/O SOB; HX HTN, DM2.\n\n||||END_OF_RECORD\n\n"
        "START_OF_RECORD=1||||2||||\nA: STABLE.\n||||END_OF_RECORD\n"
        "START_OF_RECORD=2||||1||||\ntruncated record without its end"
    )
    assert parse_physionet(content) == [
        ("1-1", "O: PT C/O SOB; HX HTN, DM2.\n\n"),
        ("1-2", "A: STABLE.\n"),
    ]


def test_timing_summary() -> None:
    figures = summary([float(n) for n in range(1, 101)])
    assert figures["median_ms"] == 50.5
    assert figures["p99_ms"] == 99.0
    assert figures["notes_per_s"] == pytest.approx(100 / 5.05)


# --- the peer's vocabulary export --------------------------------------------------------------


def test_export_writes_rrf_that_the_umls_loader_reads(tmp_path: Path) -> None:
    rows = [
        ExportRow(7, "icd10cm:I10", "problem", "Essential (primary) hypertension", True),
        ExportRow(7, "icd10cm:I10", "problem", "HTN|high blood pressure", False),
        ExportRow(9, "drug:metformin", "medication", "metformin", True),
        ExportRow(11, "x:untyped", "", "normal", True),
    ]
    line = mrconso_line(rows[1])
    fields = split_rrf(line, MRCONSO_FIELDS)
    assert fields[0] == "C0000007" and fields[14] == "HTN high blood pressure"
    counts = write_umls_files(rows, tmp_path)
    assert counts == {"concepts": 2, "terms": 3, "by_type": {"problem": 1, "medication": 1}}
    concepts = dict(iter_concepts(tmp_path / "MRCONSO.RRF", ("ENG",), None))
    assert sorted(concepts) == ["C0000007", "C0000009"]
    assert (tmp_path / "MRSTY.RRF").read_text().splitlines() == [
        "C0000007|T047|||||",
        "C0000009|T121|||||",
    ]
    assert json.loads((tmp_path / "concepts.json").read_text())["C0000009"] == [
        "drug:metformin",
        "medication",
    ]
    assert {ENTITY_OF_TUI[t] for t in SEMANTIC_TYPES.values()} == set(SEMANTIC_TYPES)


def test_peer_matches_and_negates_on_a_tiny_index(tmp_path: Path) -> None:
    pytest.importorskip("quickumls")
    pytest.importorskip("negspacy")
    pytest.importorskip("unqlite")
    rows = [
        ExportRow(1, "c:chest-pain", "problem", "chest pain", True),
        ExportRow(2, "c:pneumonia", "problem", "pneumonia", True),
        ExportRow(3, "c:aspirin", "medication", "aspirin", True),
    ]
    build_index(rows, tmp_path / "index")
    peer = PeerAnnotator(tmp_path / "index")
    text = "PT C/O CHEST PAIN. CXR: NO PNEUMONIA. GIVEN ASPIRIN."
    output = peer.annotate({"id": "n1", "text": text, "targets": [{"start": 0, "end": 2}]})
    found = {(e["text"], e["type"], e["assertion"]["negated"]) for e in output["entities"]}
    assert found == {
        ("PT", "problem", False),
        ("CHEST PAIN", "problem", False),
        ("PNEUMONIA", "problem", True),
        ("ASPIRIN", "medication", False),
    }


# --- the shared data, when present -------------------------------------------------------------


def test_offsets_fit_the_shared_brat_texts(shared_data: Path) -> None:
    folders = [
        shared_data / "maccrobat2020-dev" / "MACCROBAT2020",
        shared_data / "chia" / "chia_with_scope",
    ]
    for folder in folders:
        if not folder.is_dir():
            pytest.skip(f"{folder} is absent")
        checked = agree = 0
        for path in sorted(folder.glob("*.ann"))[:40]:
            text = read_text(path.with_suffix(".txt"))
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split("\t")
                if line.startswith("T") and len(parts) == 3 and ";" not in parts[1]:
                    _, start, end = parts[1].split(" ")
                    checked += 1
                    agree += text[int(start) : int(end)] == parts[2]
        assert checked > 100
        assert agree / checked > 0.97, folder
