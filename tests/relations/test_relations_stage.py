"""The relations stage: treats, causes and reveals in realistic note fragments."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from note2fhir.document import (
    NORMAL_STATE_SOURCE,
    ClinicalDocument,
    Entity,
    EntityType,
    Relation,
)
from note2fhir.fhir.build import build_bundle
from note2fhir.pipeline import Pipeline
from note2fhir.relations.rules import RELATION_TYPES, RULES_FILE, RelationRules, RuleTable
from note2fhir.relations.stage import RelationsStage
from note2fhir.resources.loader import load_data_file
from note2fhir.settings import load_settings

Relate = Callable[[str], list[tuple[str, str, str, str]]]
Mark = Callable[[str], ClinicalDocument]


@pytest.mark.parametrize(
    ("marked", "expected"),
    [
        # treats
        ("[[M:metoprolol]] for [[P:afib]]", [("treats", "metoprolol", "afib", "treats.for")]),
        (
            "[[M:lisinopril]] 10 mg daily for [[P:HTN]]",
            [("treats", "lisinopril", "HTN", "treats.for")],
        ),
        (
            "Cont [[M:Lisinopril]] to treat [[P:hypertension]]",
            [("treats", "Lisinopril", "hypertension", "treats.for")],
        ),
        (
            "[[P:CAP]] treated with [[M:ceftriaxone]] and [[M:azithromycin]]",
            [
                ("treats", "ceftriaxone", "CAP", "treats.treated-with"),
                ("treats", "azithromycin", "CAP", "treats.treated-with"),
            ],
        ),
        (
            "A/P:\n2. [[P:HTN]] - continue [[M:lisinopril]]",
            [("treats", "lisinopril", "HTN", "treats.plan-verb")],
        ),
        (
            "[[M:aspirin]] and [[M:plavix]] for [[P:CAD]] s/p [[X:PCI]]",
            [
                ("treats", "aspirin", "CAD", "treats.for"),
                ("treats", "plavix", "CAD", "treats.for"),
            ],
        ),
        (
            "[[M:metoprolol]] for [[P:afib]] and [[P:HTN]]",
            [
                ("treats", "metoprolol", "afib", "treats.for"),
                ("treats", "metoprolol", "HTN", "treats.for"),
            ],
        ),
        (
            "PT C/O [[P:SOB]], [[T:CXR]]: [[P:RLL PNA]]; STARTED [[M:CTX]] FOR [[P:PNA]]",
            [
                ("reveals", "CXR", "RLL PNA", "reveals.showed"),
                ("treats", "CTX", "PNA", "treats.for"),
            ],
        ),
        # causes
        (
            "[[P:rash]] after [[M:amoxicillin]]",
            [("causes", "amoxicillin", "rash", "causes.due-to")],
        ),
        (
            "[[P:cough]] due to [[M:ACE inhibitor]]",
            [("causes", "ACE inhibitor", "cough", "causes.due-to")],
        ),
        (
            "[[M:amiodarone]]-induced [[P:hypothyroidism]]",
            [("causes", "amiodarone", "hypothyroidism", "causes.induced")],
        ),
        (
            "[[P:hyperkalemia]] 2/2 [[M:spironolactone]]",
            [("causes", "spironolactone", "hyperkalemia", "causes.due-to")],
        ),
        (
            "Allergies: allergic to [[M:penicillin]] ([[P:rash]])",
            [("causes", "penicillin", "rash", "causes.allergy")],
        ),
        (
            "ALLERGIES: [[M:PCN]] - [[P:hives]], [[M:sulfa]] - [[P:rash]]",
            [
                ("causes", "PCN", "hives", "causes.allergy"),
                ("causes", "sulfa", "rash", "causes.allergy"),
            ],
        ),
        (
            "Allergies:\n[[P:Hives]] to [[M:codeine]]",
            [("causes", "codeine", "Hives", "causes.allergy-reverse")],
        ),
        # reveals
        ("[[T:CT]] showed [[P:PE]]", [("reveals", "CT", "PE", "reveals.showed")]),
        (
            "[[T:CXR]] revealed [[P:pneumonia]]",
            [("reveals", "CXR", "pneumonia", "reveals.showed")],
        ),
        (
            "[[T:echo]] demonstrated [[P:reduced EF]]",
            [("reveals", "echo", "reduced EF", "reveals.showed")],
        ),
        ("[[T:EKG]] with [[P:afib]]", [("reveals", "EKG", "afib", "reveals.showed")]),
        (
            "[[T:biopsy]] consistent with [[P:adenocarcinoma]]",
            [("reveals", "biopsy", "adenocarcinoma", "reveals.showed")],
        ),
        ("[[P:PE]] seen on [[T:CT]]", [("reveals", "CT", "PE", "reveals.seen-on")]),
        (
            "[[T:CT]] showed [[P:PE]] and [[T:CXR]] showed [[P:pneumonia]]",
            [
                ("reveals", "CT", "PE", "reveals.showed"),
                ("reveals", "CXR", "pneumonia", "reveals.showed"),
            ],
        ),
    ],
)
def test_relations(relate: Relate, marked: str, expected: list[tuple[str, ...]]) -> None:
    assert relate(marked) == expected


@pytest.mark.parametrize(
    "marked",
    [
        "[[T:CXR]] showed no [[P:pneumonia]]",
        "[[T:CT]] negative for [[P:PE]]",
        "[[T:CT]] ordered to evaluate for [[P:PE]]",
        "held [[M:metformin]] for [[P:AKI]]",
        "d/c'd [[M:lisinopril]] for [[P:cough]]",
        "[[P:rash]] on [[M:amoxicillin]]",
        "[[M:aspirin]] given. [[P:chest pain]] resolved",
        "[[M:lisinopril]]; [[P:HTN]]",
        "[[P:DKA]] from [[M:insulin]] noncompliance",
        "[[P:seizure]] 2/2 [[M:benzo]] withdrawal",
        "[[P:HTN]] - continue [[M:lisinopril]]\n[[P:DM]]",
    ],
)
def test_no_relation(relate: Relate, marked: str) -> None:
    found = relate(marked)
    if "\n[[P:DM]]" in marked:  # a later heading does not take the earlier item's drug
        assert all(target != "DM" for _, _, target, _ in found)
    else:
        assert found == []


def test_improvement_is_treatment_not_harm(relate: Relate) -> None:
    assert relate("[[P:edema]] improved after [[M:lasix]]") == [
        ("treats", "lasix", "edema", "treats.treated-with")
    ]


def test_only_the_drug_next_to_the_trigger_is_linked(relate: Relate) -> None:
    found = relate("[[M:isoproterenol]] on [[M:bromocriptine]]-induced [[P:tachycardia]]")
    assert found == [("causes", "bromocriptine", "tachycardia", "causes.induced")]


def test_a_drug_inside_its_adverse_effect(mark: Mark) -> None:
    doc = mark("hx of [[P:heparin-induced thrombocytopenia]]")
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences", "targets"])).run(doc)
    start = doc.text.index("heparin")
    doc.entities.append(Entity("M1", start, start + 7, "heparin", EntityType.MEDICATION))
    doc.entities.sort(key=lambda e: (e.start, -e.end))
    RelationsStage(RelationsStage.Options(), load_settings()).process(doc)
    assert doc.relations == [Relation("causes", "M1", "T1", "causes.induced")]


def test_a_normal_state_is_no_reason_for_a_drug(mark: Mark) -> None:
    """ "afebrile, started on cipro": afebrile names no problem cipro could treat."""
    doc = mark("ID: afebrile, started on cipro for [[P:UTI]].")
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences", "extract"])).run(doc)
    state = next(e for e in doc.entities if e.text == "afebrile")
    assert state.source == NORMAL_STATE_SOURCE
    RelationsStage(RelationsStage.Options(), load_settings()).process(doc)
    assert all(state.id not in (r.source, r.target) for r in doc.relations)


def test_a_drug_with_its_own_sig_keeps_its_own_indication(relate: Relate) -> None:
    found = relate("[[M:aspirin]] 81 mg daily, [[M:metoprolol]] 25 mg bid for [[P:afib]]")
    assert found == [("treats", "metoprolol", "afib", "treats.for")]


def test_problem_items_of_an_assessment_and_plan(relate: Relate) -> None:
    note = (
        "ASSESSMENT AND PLAN:\n"
        "# [[P:DM2]]:\n- A1c 9.1\n- increase [[M:metformin]] to 1000 mg BID\n"
        "- hold [[M:glipizide]]\n"
        "\n"
        "# [[P:CKD]]\n- avoid nephrotoxins, renally dose [[M:gabapentin]]\n"
        "3. [[P:HTN]]/[[P:HLD]]: BP at goal.\nContinue [[M:amlodipine]]; [[M:atorvastatin]] for "
        "[[P:HLD]].\n"
        "4. [[P:Anemia]]\nFollow up CBC.\n"
        "Plan [[M:iron]] if low"
    )
    found = {(t, s, g, r) for t, s, g, r in relate(note)}
    assert ("treats", "metformin", "DM2", "treats.problem-item") in found
    assert not any(s == "glipizide" for _, s, _, _ in found)  # held
    assert ("treats", "gabapentin", "CKD", "treats.problem-item") in found
    assert ("treats", "amlodipine", "HTN", "treats.problem-item") in found
    assert ("treats", "amlodipine", "HLD", "treats.problem-item") in found
    # atorvastatin's own "for HLD" wins over the heading
    assert ("treats", "atorvastatin", "HLD", "treats.for") in found
    assert not any(s == "atorvastatin" and g == "HTN" for _, s, g, _ in found)
    assert ("treats", "iron", "Anemia", "treats.problem-item") in found


def test_problem_items_only_in_a_plan(relate: Relate) -> None:
    # outside an assessment/plan section, a heading-like line links nothing
    note = "HPI:\n1. [[P:HTN]] - [[M:lisinopril]]"
    assert relate(note) == []
    assert relate(note.replace("HPI:", "PLAN:")) == [
        ("treats", "lisinopril", "HTN", "treats.problem-item")
    ]


def test_relations_respect_their_types(relate: Relate) -> None:
    found = relate(
        "[[T:CT]] for [[P:PE]]; [[P:rash]] after [[T:CT]]; [[M:aspirin]] showed [[P:bleeding]]"
    )
    assert found == []


def test_rules_declare_valid_types() -> None:
    table = load_data_file(RULES_FILE, RuleTable)
    for rule in table.rules:
        assert (rule.source, rule.target) == RELATION_TYPES[rule.type]
    assert RELATION_TYPES["treats"] == (EntityType.MEDICATION, EntityType.PROBLEM)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(colour="blue"), "colour"),
        (lambda t: t["rules"][0].update(source="test"), "causes links"),
        (lambda t: t["rules"][0].update(id="treats.oops"), "must start with"),
        (lambda t: t["rules"][4].update(exclude_status=["paused"]), "unknown statuses"),
        (lambda t: t["rules"].append(dict(t["rules"][0])), "unique"),
    ],
)
def test_bad_rule_tables_are_rejected(change: Any, message: str) -> None:
    path = Path(__file__).resolve().parents[2] / "src/note2fhir/resources" / RULES_FILE
    table = yaml.safe_load(path.read_text("utf-8"))
    change(table)
    with pytest.raises(ValueError, match=message):
        RelationRules(RuleTable.model_validate(table))


def test_stage_pickles_and_declares_layers() -> None:
    stage = RelationsStage(RelationsStage.Options(), load_settings())
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.name == "relations"
    assert RelationsStage.requires == {"entities", "tokens", "sentences"}
    assert RelationsStage.assigns == {"relations"}


def test_runs_without_the_medication_stage(mark: Mark) -> None:
    doc = mark("[[M:lisinopril]] 10 mg for [[P:HTN]]; [[T:CT]] showed [[P:PE]]")
    Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "relations"])
    ).run(doc)
    assert [(r.type, r.rule) for r in doc.relations] == [
        ("treats", "treats.for"),
        ("reveals", "reveals.showed"),
    ]


def test_existing_relations_are_kept(mark: Mark) -> None:
    doc = mark("[[M:metoprolol]] for [[P:afib]]")
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences", "targets"])).run(doc)
    doc.relations = [Relation("treats", "T1", "T2", "by hand")]
    RelationsStage(RelationsStage.Options(), load_settings()).process(doc)
    assert doc.relations == [Relation("treats", "T1", "T2", "by hand")]


def test_garbage_does_not_hang(mark: Mark) -> None:
    junk = "\x00 for with showed due to ÿ\u202e " * 20000
    doc = ClinicalDocument(id="g", source=mark("").source, original_text=junk)
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences"])).run(doc)
    kinds = [EntityType.MEDICATION, EntityType.PROBLEM, EntityType.TEST]
    doc.entities = [
        Entity(f"E{i}", start, start + 3, junk[start : start + 3], kinds[i % 3])
        for i, start in enumerate(range(0, len(junk) - 10, 211))
    ]
    RelationsStage(RelationsStage.Options(), load_settings()).process(doc)
    assert all(r.rule for r in doc.relations)


def test_fhir_builders_read_what_the_stages_write(mark: Mark) -> None:
    doc = mark(
        "MEDICATIONS:\n[[M:lisinopril]] 10 mg PO daily for [[P:HTN]]\n"
        "[[M:amoxicillin]] 500 mg PO TID - stopped\n"
        "ASSESSMENT:\n[[P:rash]] after [[M:amoxicillin]]. [[T:CXR]] showed [[P:pneumonia]]."
    )
    Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "medication", "relations"])
    ).run(doc)
    bundle = build_bundle(
        doc,
        bundle_type="collection",
        settings=load_settings(),
        now=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
        tool_version="test",
    )
    resources = [e["resource"] for e in bundle["entry"]]
    statements = [r for r in resources if r["resourceType"] == "MedicationStatement"]
    lisinopril = next(r for r in statements if "lisinopril" in str(r["medicationCodeableConcept"]))
    dosage = lisinopril["dosage"][0]
    assert dosage["route"]["coding"][0]["code"] == "PO"
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert lisinopril["status"] == "active"
    assert "reasonReference" in lisinopril
    amoxicillin = [r for r in statements if "amoxicillin" in str(r["medicationCodeableConcept"])]
    assert "stopped" in {r["status"] for r in amoxicillin}
    assert [r for r in resources if r["resourceType"] == "AdverseEvent"]


def test_every_sig_shape_makes_valid_fhir(mark: Mark) -> None:
    # build_bundle validates every resource (fhir.resources) and raises on an invalid one
    doc = mark(
        "MEDS:\n"
        "[[M:amoxicillin]] 500 mg PO TID x 10 days\n"
        "[[M:nitroglycerin]] 0.4 mg SL q5min x3 prn [[P:chest pain]]\n"
        "[[M:Zofran]] 4 mg IV q6-8h as needed for [[P:nausea]]\n"
        "[[M:insulin lispro]] 5 units SQ tid ac and hs\n"
        "[[M:vancomycin]] 1 g IV q12h, infuse over 60 min\n"
        "[[M:prednisone]] 40 mg daily for 5-7 days\n"
        "[[M:timolol]] 0.5% 1 gtt OU bid\n"
        "[[M:Norco]] 5-325 mg 1-2 tabs q4-6h prn\n"
        "[[M:levothyroxine]] 50 mcg PO qAM; [[M:KCl]] 20 mEq PO x1\n"
        "will restart [[M:aspirin]] 81 mg daily; held [[M:metformin]]\n"
    )
    Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "medication", "relations"])
    ).run(doc)
    bundle = build_bundle(
        doc,
        bundle_type="collection",
        settings=load_settings(),
        now=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
        tool_version="test",
    )
    statements = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    assert len(statements) == 12
    repeats = [
        d["timing"]["repeat"] for r in statements for d in r.get("dosage", []) if "timing" in d
    ]
    assert {"when": ["AC", "HS"], "frequency": 3, "period": 1, "periodUnit": "d"} in repeats
    assert any("boundsRange" in r for r in repeats)
    assert {r["status"] for r in statements} >= {"active", "on-hold"}


def test_numbered_problem_sentences_head_their_item(relate: Relate) -> None:
    note = (
        "Assessment and Plan:\n"
        "1. [[P:Hypertension]]. BP 150/90. Increase [[M:lisinopril]] to 20 mg."
    )
    assert relate(note) == [("treats", "lisinopril", "Hypertension", "treats.problem-item")]
