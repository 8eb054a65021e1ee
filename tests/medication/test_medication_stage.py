"""The medication stage on realistic sig text: med lists, nursing notes, plans."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.document import ClinicalDocument, Entity, EntityType, MedicationAttributes
from note2fhir.medication import STATUS_WORDS
from note2fhir.medication.stage import MedicationStage
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

Read = Callable[[str], ClinicalDocument]
Mark = Callable[[str], ClinicalDocument]
ORAL = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
    "code": "PO",
    "display": "Swallow, oral",
}
DAILY = {"frequency": 1, "period": 1, "periodUnit": "d"}
BID = {"frequency": 2, "period": 1, "periodUnit": "d"}


def attrs_of(doc: ClinicalDocument, text: str) -> dict[str, Any]:
    ent = next(e for e in doc.entities if e.text == text)
    return ent.medication.as_dict() if ent.medication else {}


@pytest.mark.parametrize(
    ("marked", "drug", "expected"),
    [
        (
            "1. [[M:Metformin]] 500 mg PO BID",
            "Metformin",
            {
                "text": "500 mg PO BID",
                "strength": "500 mg",
                "dose_value": 500.0,
                "dose_unit": "mg",
                "route": ORAL,
                "route_text": "oral",
                "timing": BID,
                "frequency_text": "BID",
            },
        ),
        (
            "[[M:Lisinopril]] 10 mg daily for [[P:HTN]]",
            "Lisinopril",
            {
                "text": "10 mg daily",
                "strength": "10 mg",
                "dose_value": 10.0,
                "dose_unit": "mg",
                "timing": DAILY,
                "frequency_text": "daily",
            },
        ),
        (
            "[[M:furosemide]] 40 mg IV BID",
            "furosemide",
            {
                "text": "40 mg IV BID",
                "strength": "40 mg",
                "dose_value": 40.0,
                "dose_unit": "mg",
                "route_text": "intravenous",
                "timing": BID,
                "frequency_text": "BID",
            },
        ),
        (
            "[[M:Tylenol]] 650mg q6h prn [[P:pain]]",
            "Tylenol",
            {
                "text": "650mg q6h prn pain",
                "strength": "650 mg",
                "dose_value": 650.0,
                "dose_unit": "mg",
                "timing": {"frequency": 1, "period": 6, "periodUnit": "h"},
                "frequency_text": "q6h",
                "as_needed": True,
                "as_needed_reason": "pain",
            },
        ),
        (
            "[[M:ASPIRIN]] 81MG DAILY",
            "ASPIRIN",
            {
                "text": "81MG DAILY",
                "strength": "81 mg",
                "dose_value": 81.0,
                "dose_unit": "mg",
                "timing": DAILY,
                "frequency_text": "DAILY",
            },
        ),
        (
            "[[M:albuterol]] 2 puffs q4h prn [[P:SOB]]",
            "albuterol",
            {
                "text": "2 puffs q4h prn SOB",
                "dose_value": 2.0,
                "dose_unit": "puff",
                "timing": {"frequency": 1, "period": 4, "periodUnit": "h"},
                "frequency_text": "q4h",
                "as_needed": True,
                "as_needed_reason": "SOB",
            },
        ),
        ("held [[M:metformin]]", "metformin", {"status": "held"}),
        ("d/c'd [[M:lisinopril]]", "lisinopril", {"status": "stopped"}),
        ("DC'D [[M:LISINOPRIL]] 2/2 COUGH", "LISINOPRIL", {"status": "stopped"}),
        (
            "[[M:digoxin]] 0.125 mg p.o. q.d.",
            "digoxin",
            {
                "text": "0.125 mg p.o. q.d.",
                "strength": "0.125 mg",
                "dose_value": 0.125,
                "dose_unit": "mg",
                "route": ORAL,
                "route_text": "oral",
                "timing": DAILY,
                "frequency_text": "q.d.",
            },
        ),
        (
            "[[M:insulin glargine]] 10 units SC qhs",
            "insulin glargine",
            {
                "text": "10 units SC qhs",
                "dose_value": 10.0,
                "dose_unit": "[iU]",
                "route_text": "subcutaneous",
                "timing": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]},
                "frequency_text": "qhs",
            },
        ),
        (
            "[[M:amoxicillin]] 500 mg PO TID x 10 days",
            "amoxicillin",
            {
                "text": "500 mg PO TID x 10 days",
                "strength": "500 mg",
                "dose_value": 500.0,
                "dose_unit": "mg",
                "route": ORAL,
                "route_text": "oral",
                "timing": {
                    "frequency": 3,
                    "period": 1,
                    "periodUnit": "d",
                    "boundsDuration": {
                        "value": 10,
                        "unit": "days",
                        "system": "http://unitsofmeasure.org",
                        "code": "d",
                    },
                },
                "frequency_text": "TID",
                "duration": "x 10 days",
            },
        ),
        (
            "[[M:Zofran]] 4 mg IV q6-8h as needed for [[P:nausea]]",
            "Zofran",
            {
                "text": "4 mg IV q6-8h as needed for nausea",
                "strength": "4 mg",
                "dose_value": 4.0,
                "dose_unit": "mg",
                "route_text": "intravenous",
                "timing": {"frequency": 1, "period": 6, "periodMax": 8, "periodUnit": "h"},
                "frequency_text": "q6-8h",
                "as_needed": True,
                "as_needed_reason": "nausea",
            },
        ),
        (
            "[[M:nitroglycerin]] 0.4 mg SL q5min x3 prn [[P:chest pain]]",
            "nitroglycerin",
            {
                "text": "0.4 mg SL q5min x3 prn chest pain",
                "strength": "0.4 mg",
                "dose_value": 0.4,
                "dose_unit": "mg",
                "route_text": "sublingual",
                "timing": {"frequency": 1, "period": 5, "periodUnit": "min", "count": 3},
                "frequency_text": "q5min",
                "duration": "x3",
                "as_needed": True,
                "as_needed_reason": "chest pain",
            },
        ),
        (
            "[[M:timolol]] 0.5% 1 gtt OU bid",
            "timolol",
            {
                "text": "0.5% 1 gtt OU bid",
                "strength": "0.5%",
                "dose_value": 1.0,
                "dose_unit": "[drp]",
                "form": "drops",
                "route_text": "ophthalmic",
                "timing": BID,
                "frequency_text": "bid",
            },
        ),
        (
            "[[M:Norco]] 5-325 mg 1-2 tabs q4-6h prn",
            "Norco",
            {
                "text": "5-325 mg 1-2 tabs q4-6h prn",
                "strength": "5-325 mg",
                "form": "tablet",
                "timing": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"},
                "frequency_text": "q4-6h",
                "as_needed": True,
            },
        ),
    ],
)
def test_sig(read: Read, marked: str, drug: str, expected: dict[str, Any]) -> None:
    assert attrs_of(read(marked), drug) == expected


@pytest.mark.parametrize(
    ("marked", "drug", "field", "value"),
    [
        ("will start [[M:atorvastatin]] 40 mg qpm", "atorvastatin", "status", "will start"),
        ("Plan: start [[M:lisinopril]] 5 mg daily", "lisinopril", "status", "will start"),
        ("was started on [[M:heparin gtt]]", "heparin gtt", "status", "started"),
        ("[[M:Coumadin]] was discontinued", "Coumadin", "status", "stopped"),
        ("restart [[M:aspirin]] tomorrow", "aspirin", "status", "will restart"),
        ("INCREASED [[M:LASIX]] TO 80 MG IV BID", "LASIX", "status", "increased"),
        ("[[M:prednisone]] taper, decrease to 20 mg", "prednisone", "status", "decreased"),
        ("cont [[M:home meds]]", "home meds", "status", "continued"),
        ("pt self-discontinued [[M:metoprolol]]", "metoprolol", "status", "stopped"),
        ("off [[M:coumadin]] x 5 days", "coumadin", "status", "stopped"),
        ("[[M:vancomycin]] 1 g IV q12h, infuse over 60 min", "vancomycin", "timing", {
            "frequency": 1, "period": 12, "periodUnit": "h", "duration": 60, "durationUnit": "min"
        }),
        ("[[M:Lasix]] 20 mg PO every other day", "Lasix", "timing", {
            "frequency": 1, "period": 2, "periodUnit": "d"
        }),
        ("[[M:methotrexate]] 15 mg PO weekly", "methotrexate", "timing", {
            "frequency": 1, "period": 1, "periodUnit": "wk"
        }),
        ("[[M:metoprolol]] 25 mg twice a day", "metoprolol", "timing", BID),
        ("[[M:ibuprofen]] 600 mg three times a day with meals", "ibuprofen", "timing", {
            "frequency": 3, "period": 1, "periodUnit": "d", "when": ["C"]
        }),
        ("[[M:insulin lispro]] 5 units SQ tid ac", "insulin lispro", "timing", {
            "frequency": 3, "period": 1, "periodUnit": "d", "when": ["AC"]
        }),
        ("[[M:omeprazole]] 20 mg before breakfast", "omeprazole", "timing", {"when": ["ACM"]}),
        ("[[M:levothyroxine]] 50 mcg PO qAM", "levothyroxine", "dose_unit", "ug"),
        ("[[M:KCl]] 20 mEq PO x1", "KCl", "dose_unit", "meq"),
        ("[[M:heparin]] 5000 units subcut q8h", "heparin", "route_text", "subcutaneous"),
        ("[[M:ceftriaxone]] 1 g IM once", "ceftriaxone", "route", {
            "system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
            "code": "IM",
            "display": "Injection, intramuscular",
        }),
        ("[[M:fentanyl]] 25 mcg/hr patch q72h", "fentanyl", "route_text", "transdermal"),
        ("[[M:Flonase]] 2 sprays in each nostril daily", "Flonase", "route_text", "intranasal"),
        ("[[M:ciprodex]] 4 drops in affected ear bid", "ciprodex", "route_text", "otic"),
        ("[[M:free water]] 200 mL per NG tube q4h", "free water", "route_text", "nasogastric"),
        ("[[M:hydrocortisone]] 1% cream topically bid", "hydrocortisone", "form", "cream"),
        ("[[M:amoxicillin]] 250 mg/5 mL oral suspension", "amoxicillin", "strength", "250 mg/5 mL"),
        ("[[M:morphine]] 2 mg/mL 1 mL IV q2h prn", "morphine", "strength", "2 mg/mL"),
        ("[[M:prednisone]] 40 mg daily for 5 days", "prednisone", "duration", "for 5 days"),
        ("[[M:Bactrim DS]] 1 tab bid x 7 days", "Bactrim DS", "dose_unit", "tablet"),
        ("[[M:tylenol]] 1 g q8h prn fever or pain", "tylenol", "as_needed_reason", "fever or pain"),
    ],
)  # fmt: skip
def test_attribute(read: Read, marked: str, drug: str, field: str, value: Any) -> None:
    assert attrs_of(read(marked), drug).get(field) == value


def test_a_status_said_once_holds_for_a_list(read: Read) -> None:
    doc = read("Started [[M:lisinopril]] 10 mg and [[M:metoprolol]] 25 mg b.i.d.")
    assert attrs_of(doc, "lisinopril")["status"] == "started"
    assert attrs_of(doc, "lisinopril")["text"] == "10 mg"
    assert attrs_of(doc, "metoprolol") == {
        "text": "25 mg b.i.d.",
        "strength": "25 mg",
        "dose_value": 25.0,
        "dose_unit": "mg",
        "timing": BID,
        "frequency_text": "b.i.d.",
        "status": "started",
    }
    doc = read("[[M:lisinopril]] and [[M:metoprolol]] were held")
    assert attrs_of(doc, "lisinopril")["status"] == attrs_of(doc, "metoprolol")["status"] == "held"


def test_each_drug_keeps_its_own_status(read: Read) -> None:
    doc = read("Stopped [[M:lisinopril]], started [[M:losartan]] 25 mg daily")
    assert attrs_of(doc, "lisinopril")["status"] == "stopped"
    assert attrs_of(doc, "losartan")["status"] == "started"


def test_a_switch_stops_the_old_drug_and_starts_the_new(read: Read) -> None:
    doc = read("After 3 days, [[M:captopril]] was changed to [[M:amlodipine]].")
    assert attrs_of(doc, "captopril")["status"] == "stopped"
    assert attrs_of(doc, "amlodipine")["status"] == "started"
    assert attrs_of(read("He was switched to [[M:insulin]]."), "insulin")["status"] == "started"
    doc = read("[[M:Warfarin]] and [[M:aspirin]] were changed to [[M:apixaban]].")
    assert attrs_of(doc, "Warfarin")["status"] == attrs_of(doc, "aspirin")["status"] == "stopped"
    doc = read("[[M:Metformin]] 500 mg BID and [[M:glipizide]] was changed to [[M:sitagliptin]]")
    assert "status" not in attrs_of(doc, "Metformin")  # "was": the last drug only
    doc = read("Meds: [[M:aspirin]], [[M:lisinopril]] changed to [[M:losartan]]")
    assert "status" not in attrs_of(doc, "aspirin")  # the switch is lisinopril's alone
    doc = read("[[M:lasix]] changed to 40 mg BID.")  # a new dose, not a stop
    assert "status" not in attrs_of(doc, "lasix")


def test_a_whole_sig_closed_by_a_comma_keeps_its_drug_going(read: Read) -> None:
    doc = read(
        "Treated with intravenous [[M:acyclovir]], 10 mg/kg q8h for 14 days, and "
        "[[M:steroids]] were discontinued."
    )
    assert "status" not in attrs_of(doc, "acyclovir")
    assert attrs_of(doc, "steroids")["status"] == "stopped"
    # list items with only a strength or a route share the status said after the list
    doc = read("[[M:Lisinopril]] 10 mg, [[M:metoprolol]] 25 mg and [[M:aspirin]] were held.")
    assert attrs_of(doc, "Lisinopril")["status"] == "held"
    doc = read(
        "[[M:Lisinopril]] 10 mg daily, [[M:metoprolol]] 25 mg BID and [[M:furosemide]] 40 mg "
        "daily were held."
    )
    assert attrs_of(doc, "Lisinopril")["status"] == "held"
    doc = read(
        "[[M:Aspirin]] 81 mg daily, [[M:clopidogrel]] 75 mg daily, and [[M:heparin]] gtt were "
        "held for GI bleed."
    )
    assert attrs_of(doc, "Aspirin")["status"] == attrs_of(doc, "clopidogrel")["status"] == "held"
    doc = read("IV [[M:HEPARIN]], [[M:NTG]], AND [[M:INTEGRELLIN]] DC'D.")
    assert attrs_of(doc, "HEPARIN")["status"] == "stopped"


def test_a_route_or_vital_of_another_statement_stays_there(read: Read) -> None:
    assert "route_text" not in attrs_of(
        read("Treated with oxygen nasally and [[M:antibiotics]]."), "antibiotics"
    )
    attrs = attrs_of(read("[[M:TYLENOL]] X1 AND TEMP DOWN TO 100'S PO"), "TYLENOL")
    assert "route_text" not in attrs
    attrs = attrs_of(read("[[M:tylenol]] 650 mg po q4h prn temp > 101"), "tylenol")
    assert attrs["as_needed_reason"].startswith("temp")


def test_hold_parameters_are_not_a_held_drug(read: Read) -> None:
    doc = read("[[M:metoprolol]] 25 mg PO BID, hold for SBP < 100 or HR < 60")
    attrs = attrs_of(doc, "metoprolol")
    assert "status" not in attrs
    assert attrs["text"] == "25 mg PO BID"


def test_discharge_home_is_not_a_stop(read: Read) -> None:
    assert "status" not in attrs_of(read("d/c home on [[M:lisinopril]] 10 mg"), "lisinopril")


def test_a_sig_stays_in_its_unit(read: Read) -> None:
    doc = read("[[M:aspirin]]\n2 tabs daily for 3 days is what she said about her [[M:tylenol]]")
    assert attrs_of(doc, "aspirin") == {}
    doc = read("[[M:lasix]] given; cough for 3 days")
    assert "duration" not in attrs_of(doc, "lasix")


def test_a_sig_belongs_to_the_drug_before_it(read: Read) -> None:
    doc = read("[[M:aspirin]] 81 mg daily, [[M:metoprolol]] 25 mg bid")
    assert attrs_of(doc, "aspirin")["timing"] == DAILY
    assert attrs_of(doc, "metoprolol")["timing"] == BID
    assert attrs_of(doc, "metoprolol")["dose_value"] == 25.0


def test_amount_before_the_drug(read: Read) -> None:
    attrs = attrs_of(read("81 mg [[M:aspirin]] daily"), "aspirin")
    assert attrs["dose_value"] == 81.0
    assert attrs["text"] == "81 mg aspirin daily"


def test_med_list_of_a_nursing_note(read: Read) -> None:
    doc = read(
        "MEDS: [[M:LOPRESSOR]] 25MG PO BID; [[M:LASIX]] 40MG IV Q12H; [[M:KCL]] 20MEQ PO X1\n"
        "[[M:MORPHINE]] 2MG IV Q2H PRN [[P:PAIN]]"
    )
    assert attrs_of(doc, "LOPRESSOR")["timing"] == BID
    assert attrs_of(doc, "LASIX")["route_text"] == "intravenous"
    assert attrs_of(doc, "KCL")["timing"] == {"count": 1}
    assert attrs_of(doc, "MORPHINE")["as_needed_reason"] == "PAIN"


def test_strength_form_and_route_inside_a_product_name(read: Read) -> None:
    doc = read(
        "# Medications\n[[M:lisinopril 10 mg oral tablet]]; 1 ml [[M:epoetin alfa 4000 unt/ml "
        "injection]] [epogen]; [[M:nitrofurantoin 5 mg/ml oral suspension]]"
    )
    assert attrs_of(doc, "lisinopril 10 mg oral tablet") == {
        "strength": "10 mg",
        "form": "tablet",
        "route": ORAL,
        "route_text": "oral",
    }
    epoetin = attrs_of(doc, "epoetin alfa 4000 unt/ml injection")
    assert epoetin["strength"] == "4000 units/mL"
    assert (epoetin["dose_value"], epoetin["dose_unit"]) == (1.0, "mL")
    assert attrs_of(doc, "nitrofurantoin 5 mg/ml oral suspension")["form"] == "oral suspension"


def test_only_medications_get_attributes(read: Read) -> None:
    doc = read("[[P:pain]] 8/10 q4h; [[T:BMP]] daily")
    assert all(e.medication is None for e in doc.entities)


def test_attributes_already_set_are_kept(mark: Mark) -> None:
    doc = mark("[[M:metformin]] 500 mg PO BID")
    pipeline = Pipeline.from_settings(load_settings(pipeline=["sections", "sentences", "targets"]))
    pipeline.run(doc)
    doc.entities[0].medication = MedicationAttributes(route_text="per feeding tube")
    MedicationStage(MedicationStage.Options(), load_settings()).process(doc)
    attrs = doc.entities[0].medication
    assert attrs is not None
    assert attrs.route_text == "per feeding tube"
    assert attrs.dose_value == 500.0


def test_statuses_are_the_documented_vocabulary(read: Read) -> None:
    doc = read(
        "held [[M:a]]; started [[M:b]]; stop [[M:c]]; resume [[M:d]]; wean [[M:e]]; "
        "continue [[M:f]]; will start [[M:g]]"
    )
    statuses = {e.medication.status for e in doc.entities if e.medication}
    assert statuses <= set(STATUS_WORDS)
    assert len(statuses) == 7


def test_stage_pickles_and_declares_layers() -> None:
    stage = MedicationStage(MedicationStage.Options(), load_settings())
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.name == "medication"
    assert MedicationStage.requires == {"entities", "tokens", "sentences"}
    assert MedicationStage.assigns == {"attributes"}


def test_document_without_medications_is_untouched(read: Read) -> None:
    doc = read("Pt c/o SOB, r/o MI, hx HTN, DM2")
    assert doc.entities == []


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_text_around_a_drug(mark: Mark, medication_pipeline: Pipeline, noise: str) -> None:
    doc = medication_pipeline.run(mark(f"{noise}[[M:aspirin]]{noise}"))
    ent = doc.entities[0]
    if ent.medication is not None and ent.medication.text:
        assert ent.medication.text in doc.text


def test_garbage_and_long_units_do_not_hang(mark: Mark) -> None:
    junk = "\x00\x07q6h 5 mg/ml ÿ\u202e 1-2 tabs prn" * 20000 + "аспирин 10 мг"
    doc = ClinicalDocument(id="g", source=mark("").source, original_text=junk)
    Pipeline.from_settings(load_settings(pipeline=["sections", "sentences"])).run(doc)
    doc.entities = [
        Entity(f"E{i}", start, start + 4, junk[start : start + 4], EntityType.MEDICATION)
        for i, start in enumerate(range(0, len(junk) - 10, 997))
    ]
    MedicationStage(MedicationStage.Options(), load_settings()).process(doc)
    assert any(e.medication is not None for e in doc.entities)


def test_messy_nursing_note_fragments(read: Read) -> None:
    doc = read("CONTINUED [[P:HYPOTENSION]] REQUIRING [[M:DOPAMINE]]")
    assert "status" not in attrs_of(doc, "DOPAMINE")
    doc = read("[[M:LASIX]] 80MG AND CURRENTLY NEGATIVE BY 1500CC")
    assert attrs_of(doc, "LASIX")["text"] == "80MG"
    doc = read("increased [[M:captopril]] from 12.5 to 25 mg")
    assert attrs_of(doc, "captopril")["dose_value"] == 25.0
    doc = read("[[M:milrinone]] .375mcg/kg/min; [[M:heparin]] 850U/HR")
    assert (attrs_of(doc, "milrinone")["dose_value"], attrs_of(doc, "milrinone")["dose_unit"]) == (
        0.375,
        "ug/kg/min",
    )
    assert attrs_of(doc, "heparin")["dose_unit"] == "[iU]/h"


def test_a_status_of_the_next_line_stays_there(read: Read) -> None:
    doc = read("[[M:lisinopril]] 10 mg daily for [[P:HTN]]\n[[M:amoxicillin]] 500 mg TID - stopped")
    assert "status" not in attrs_of(doc, "lisinopril")
    assert attrs_of(doc, "amoxicillin")["status"] == "stopped"


def test_a_product_strength_is_not_a_dose(read: Read) -> None:
    attrs = attrs_of(read("[[M:metformin]] 500 mg extended release oral tablet"), "metformin")
    assert attrs["strength"] == "500 mg"
    assert "dose_value" not in attrs
    assert attrs["route_text"] == "oral"
    assert attrs["form"] == "extended release tablet"


def test_a_changed_dose_is_the_new_one(read: Read) -> None:
    attrs = attrs_of(read("[[M:lisinopril]] decreased from 40 mg to 20 mg daily"), "lisinopril")
    assert (attrs["dose_value"], attrs["status"]) == (20.0, "decreased")
