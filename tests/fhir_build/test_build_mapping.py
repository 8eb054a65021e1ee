"""The FHIR mapping rules, one by one, on the clinic note (see conftest.clinic_note)."""

from __future__ import annotations

from typing import Any

import pytest

from note2fhir.document import (
    NORMAL_STATE_SOURCE,
    CodeCandidate,
    DocumentContext,
    EntityType,
    MedicationAttributes,
)
from note2fhir.terminology.schema import ICD10CM

VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CAT = "http://terminology.hl7.org/CodeSystem/condition-category"


def codes_of(concept: dict[str, Any] | None) -> list[str]:
    """The codes of a CodeableConcept."""
    return [c["code"] for c in (concept or {}).get("coding", [])]


def one(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The single item of ``found``."""
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def condition(clinic_bundle: dict[str, Any], helpers: Any) -> Any:
    """``condition(text)``: the one Condition of the clinic note with that code text."""
    return lambda text: one(helpers.by_text(clinic_bundle, "Condition", text))


@pytest.fixture
def statement(clinic_bundle: dict[str, Any], helpers: Any) -> Any:
    """``statement(text)``: the one MedicationStatement with that medication text."""
    return lambda text: one(helpers.by_text(clinic_bundle, "MedicationStatement", text))


# --- Condition ------------------------------------------------------------------------------


def test_negated_problem_is_refuted_and_not_active(condition: Any) -> None:
    res = condition("chest pain")
    assert res["verificationStatus"]["coding"][0] == {
        "system": VER,
        "code": "refuted",
        "display": "Refuted",
    }
    assert codes_of(res["clinicalStatus"]) == ["inactive"]


def test_uncertain_problem_is_unconfirmed(condition: Any) -> None:
    res = condition("pulmonary embolism")
    assert codes_of(res["verificationStatus"]) == ["unconfirmed"]
    assert codes_of(res["clinicalStatus"]) == ["active"]


def test_differential_problem_is_differential(condition: Any) -> None:
    assert codes_of(condition("pneumonia")["verificationStatus"]) == ["differential"]
    assert codes_of(condition("bronchitis")["verificationStatus"]) == ["differential"]


def test_historical_problem_is_inactive(condition: Any) -> None:
    res = condition("myocardial infarction")
    assert res["clinicalStatus"]["coding"][0]["system"] == CLIN
    assert codes_of(res["clinicalStatus"]) == ["inactive"]
    assert "verificationStatus" not in res


def test_affirmed_problem_is_active_without_verification(condition: Any) -> None:
    res = condition("Type 2 diabetes")
    assert codes_of(res["clinicalStatus"]) == ["active"]
    assert "verificationStatus" not in res


def test_category_follows_the_section(condition: Any) -> None:
    assert codes_of(condition("myocardial infarction")["category"][0]) == ["problem-list-item"]
    assert codes_of(condition("pneumonia")["category"][0]) == ["encounter-diagnosis"]
    both = condition("Hypertension")["category"]
    assert [codes_of(c)[0] for c in both] == ["problem-list-item", "encounter-diagnosis"]
    assert both[0]["coding"][0]["system"] == CAT


def test_condition_code_subject_encounter_date(condition: Any, helpers: Any) -> None:
    res = condition("Hypertension")
    assert res["code"]["coding"] == [
        {"system": helpers.ICD10, "code": "I10", "display": "Essential (primary) hypertension"},
        {"system": helpers.SNOMED, "code": "59621000", "display": "Essential hypertension"},
    ]
    assert res["code"]["text"] == "Hypertension"
    assert res["subject"] == {"reference": "Patient/p1"}  # the name in display is dropped
    assert res["encounter"] == {"reference": "Encounter/enc-1"}
    assert res["recordedDate"] == "2026-02-27T14:05:00-05:00"


def test_unselected_codes_stay_off(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>HTN</p>")
    alt = helpers.code(helpers.SNOMED, "38341003", "Hypertensive disorder", selected=False)
    note.mention("HTN", EntityType.PROBLEM, codes=(helpers.HTN, alt))
    res = one(helpers.resources(build(note.doc), "Condition"))
    assert codes_of(res["code"]) == ["I10"]


def test_family_problem_is_family_member_history(clinic_bundle: Any, helpers: Any) -> None:
    assert not helpers.by_text(clinic_bundle, "Condition", "breast cancer")
    histories = helpers.resources(clinic_bundle, "FamilyMemberHistory")
    assert [h["relationship"]["coding"][0]["code"] for h in histories] == ["MTH", "FTH"]
    mother = histories[0]
    assert mother["status"] == "partial"
    assert mother["patient"] == {"reference": "Patient/p1"}
    assert mother["relationship"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
        "code": "MTH",
        "display": "mother",
    }
    assert [c["code"]["text"] for c in mother["condition"]] == ["breast cancer", "diabetes"]
    assert codes_of(mother["condition"][1]["code"]) == ["E11.9"]
    assert len(mother["extension"]) == 2


def test_negated_family_and_hypothetical_mentions_make_nothing(
    clinic_bundle: Any, helpers: Any
) -> None:
    text = str(clinic_bundle)
    for absent in ("colon cancer", "fever", "chest x-ray", "CT chest"):
        assert absent not in text


def test_a_normal_state_makes_no_condition(build: Any, helpers: Any) -> None:
    """ "afebrile" is a sign the corpora annotate, not a problem of the patient."""
    note = helpers.make_note("<p>ID: afebrile. HTN.</p>")
    state = note.mention("afebrile", EntityType.PROBLEM)
    state.source = NORMAL_STATE_SOURCE
    note.mention("HTN", EntityType.PROBLEM, codes=(helpers.HTN,))
    conditions = helpers.resources(build(note.doc), "Condition")
    assert [c["code"]["text"] for c in conditions] == ["HTN"]


def test_unknown_relative_is_family_member(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Cousin and someone else had asthma.</p>")
    note.mention("asthma", EntityType.PROBLEM, family=True, relative="XYZ")
    res = one(helpers.resources(build(note.doc), "FamilyMemberHistory"))
    assert res["relationship"]["coding"][0]["code"] == "FAMMEMB"
    assert res["relationship"]["coding"][0]["display"] == "family member"


def test_uncertain_family_condition_says_so(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Father may have had gout.</p>")
    note.mention("gout", EntityType.PROBLEM, family=True, relative="FTH", uncertain=True)
    res = one(helpers.resources(build(note.doc), "FamilyMemberHistory"))
    assert res["condition"][0]["note"][0]["text"] == "uncertain in the source note"


# --- MedicationStatement --------------------------------------------------------------------


def test_medication_statuses(statement: Any) -> None:
    assert statement("Metoprolol")["status"] == "active"
    assert statement("aspirin")["status"] == "not-taken"
    assert statement("Lisinopril")["status"] == "stopped"
    assert statement("atorvastatin")["status"] == "intended"


@pytest.mark.parametrize(
    ("flags", "word", "status"),
    [
        ({"historical": True}, None, "completed"),
        ({"hypothetical": True}, None, "intended"),
        ({"uncertain": True}, None, "unknown"),
        ({}, "held", "on-hold"),
        ({}, "Stopped", "stopped"),
        ({}, "planned", "intended"),
        ({}, "started", "active"),
    ],
)
def test_medication_status_rules(
    build: Any, helpers: Any, flags: dict[str, bool], word: str | None, status: str
) -> None:
    note = helpers.make_note("<p>warfarin</p>")
    note.mention(
        "warfarin", EntityType.MEDICATION, medication=MedicationAttributes(status=word), **flags
    )
    assert one(helpers.resources(build(note.doc), "MedicationStatement"))["status"] == status


def test_family_medication_makes_nothing(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Her mother takes warfarin.</p>")
    note.mention("warfarin", EntityType.MEDICATION, family=True, relative="MTH")
    assert not helpers.resources(build(note.doc), "MedicationStatement")


def test_medication_context(statement: Any) -> None:
    res = statement("Metoprolol")
    assert res["subject"] == {"reference": "Patient/p1"}
    assert res["context"] == {"reference": "Encounter/enc-1"}
    assert res["dateAsserted"] == "2026-02-27T14:05:00-05:00"
    assert res["derivedFrom"] == [{"reference": "DocumentReference/note-1"}]
    assert codes_of(res["medicationCodeableConcept"]) == ["6918"]


def test_dosage_fields(statement: Any, helpers: Any) -> None:
    (dosage,) = statement("Metoprolol")["dosage"]
    assert dosage["text"] == "25 mg PO BID"
    assert dosage["route"] == {
        "coding": [{"system": helpers.SNOMED, "code": "26643006", "display": "Oral route"}],
        "text": "PO",
    }
    assert dosage["timing"] == {
        "repeat": {"frequency": 2, "period": 1, "periodUnit": "d"},
        "code": {"text": "BID"},
    }
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 25.0,
        "unit": "mg",
        "system": helpers.UCUM,
        "code": "mg",
    }
    assert "asNeededBoolean" not in dosage


def test_dosage_as_needed_and_non_ucum_unit(statement: Any) -> None:
    (dosage,) = statement("Albuterol")["dosage"]
    assert dosage["asNeededCodeableConcept"] == {"text": "wheezing"}
    assert "asNeededBoolean" not in dosage
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 2, "unit": "puffs"}
    assert dosage["text"] == "2 puffs as needed for wheezing"


def test_dosage_as_needed_boolean(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>tylenol prn</p>")
    note.mention("tylenol", EntityType.MEDICATION, medication=MedicationAttributes(as_needed=True))
    (dosage,) = one(helpers.resources(build(note.doc), "MedicationStatement"))["dosage"]
    assert dosage == {"text": "as needed", "asNeededBoolean": True}


def test_no_attributes_no_dosage(statement: Any) -> None:
    assert "dosage" not in statement("aspirin")


def test_reason_reference_to_treated_condition(statement: Any, condition: Any) -> None:
    htn = condition("Hypertension")
    assert statement("Metoprolol")["reasonReference"] == [{"reference": f"urn:uuid:{htn['id']}"}]
    assert "reasonCode" not in statement("Metoprolol")


def test_reason_code_when_the_condition_was_not_emitted(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Aspirin to prevent stroke.</p>")
    drug = note.mention("Aspirin", EntityType.MEDICATION)
    stroke = note.mention("stroke", EntityType.PROBLEM, hypothetical=True)
    note.relate("treats", drug, stroke)
    bundle = build(note.doc)
    res = one(helpers.resources(bundle, "MedicationStatement"))
    assert res["reasonCode"] == [{"text": "stroke"}]
    assert "reasonReference" not in res
    assert not helpers.resources(bundle, "Condition")


# --- relations: evidence and adverse effects ------------------------------------------------


def test_reveals_adds_observation_evidence(
    condition: Any, clinic_bundle: Any, helpers: Any
) -> None:
    a1c = one(helpers.by_text(clinic_bundle, "Observation", "Hemoglobin A1c"))
    assert condition("Type 2 diabetes")["evidence"] == [
        {
            "detail": [
                {"reference": "DocumentReference/note-1"},
                {"reference": f"urn:uuid:{a1c['id']}"},
            ]
        }
    ]
    assert condition("chest pain")["evidence"] == [
        {"detail": [{"reference": "DocumentReference/note-1"}]}
    ]


def test_adverse_effect(condition: Any, statement: Any, clinic_bundle: Any, helpers: Any) -> None:
    cough, drug = condition("cough"), statement("Lisinopril")
    assert {"reference": f"urn:uuid:{drug['id']}"} in cough["evidence"][0]["detail"]
    event = one(helpers.resources(clinic_bundle, "AdverseEvent"))
    assert event["actuality"] == "actual"
    assert event["resultingCondition"] == [{"reference": f"urn:uuid:{cough['id']}"}]
    assert event["suspectEntity"] == [{"instance": {"reference": f"urn:uuid:{drug['id']}"}}]
    assert event["event"]["text"] == "cough"
    assert event["subject"] == {"reference": "Patient/p1"}
    assert event["referenceDocument"] == [{"reference": "DocumentReference/note-1"}]
    assert len(event["extension"]) == 2  # the drug mention and the problem mention


def test_no_adverse_event_for_a_refuted_problem(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>No rash on penicillin.</p>")
    rash = note.mention("rash", EntityType.PROBLEM, negated=True)
    note.relate("causes", note.mention("penicillin", EntityType.MEDICATION), rash)
    assert not helpers.resources(build(note.doc), "AdverseEvent")


# --- Procedure and Observation --------------------------------------------------------------


def test_procedure_statuses(clinic_bundle: Any, helpers: Any) -> None:
    statuses = [p["status"] for p in helpers.by_text(clinic_bundle, "Procedure", "colonoscopy")]
    assert statuses == ["not-done", "preparation"]
    res = one(helpers.by_text(clinic_bundle, "Procedure", "appendectomy"))
    assert res["status"] == "completed"
    assert res["subject"] == {"reference": "Patient/p1"}
    assert res["encounter"] == {"reference": "Encounter/enc-1"}


def test_observation_values(clinic_bundle: Any, helpers: Any) -> None:
    bp = one(helpers.by_text(clinic_bundle, "Observation", "Blood pressure"))
    assert bp["status"] == "final"
    assert bp["valueString"] == "150/95"
    assert bp["effectiveDateTime"] == "2026-02-27T14:05:00-05:00"
    assert bp["derivedFrom"] == [{"reference": "DocumentReference/note-1"}]
    a1c = one(helpers.by_text(clinic_bundle, "Observation", "Hemoglobin A1c"))
    assert a1c["valueQuantity"] == {"value": 8.2, "unit": "%", "system": helpers.UCUM, "code": "%"}
    assert codes_of(a1c["code"]) == ["4548-4"]


def test_observations_with_different_values_stay_apart(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>BP 150/95, repeat BP 130/80, BP 130/80.</p>")
    for nth, value in enumerate(["150/95", "130/80", "130/80"]):
        note.mention("BP", EntityType.TEST, nth=nth, value={"string": value})
    found = helpers.resources(build(note.doc), "Observation")
    assert [o["valueString"] for o in found] == ["150/95", "130/80"]
    assert [len(o["extension"]) for o in found] == [1, 2]


def test_diagnostic_report_source_has_no_observation_derived_from(build: Any, helpers: Any) -> None:
    source = helpers.source_ref("r1", resource_type="DiagnosticReport")
    note = helpers.make_note("<p>WBC 12</p>", source=source)
    note.mention("WBC", EntityType.TEST, value={"value": 12, "unit": "10*3/uL"})
    res = one(helpers.resources(build(note.doc), "Observation"))
    assert "derivedFrom" not in res
    assert res["valueQuantity"] == {"value": 12, "unit": "10*3/uL"}
    ext = res["extension"][0]["extension"]
    assert ext[0]["valueReference"] == {"reference": "DiagnosticReport/r1"}
    assert ext[1]["valueString"] == "DiagnosticReport.content[0].attachment"


# --- context fallbacks ----------------------------------------------------------------------


def test_subject_fallback_when_the_source_has_none(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>asthma</p>")
    note.mention("asthma", EntityType.PROBLEM)
    note.mention("asthma", EntityType.TEST)
    bundle = build(note.doc)
    condition = one(helpers.resources(bundle, "Condition"))
    assert condition["subject"] == {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }
        ],
        "display": "unknown subject",
    }
    assert "encounter" not in condition
    assert "recordedDate" not in condition
    assert "subject" not in one(helpers.resources(bundle, "Observation"))  # optional there


def test_date_that_is_not_a_date_time_is_left_out(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>asthma</p>", context=DocumentContext(date="yesterday"))
    note.mention("asthma", EntityType.PROBLEM)
    assert "recordedDate" not in one(helpers.resources(build(note.doc), "Condition"))


@pytest.mark.parametrize(
    ("source_kw", "expected"),
    [
        ({}, {"reference": "DocumentReference/note-1"}),
        (
            {"resource_id": None, "identifier": {"system": "urn:x", "value": "42"}},
            {"type": "DocumentReference", "identifier": {"system": "urn:x", "value": "42"}},
        ),
        ({"resource_id": None}, {"type": "DocumentReference", "display": "source document"}),
    ],
)
def test_source_reference_fallbacks(
    build: Any, helpers: Any, source_kw: dict[str, Any], expected: dict[str, Any]
) -> None:
    note = helpers.make_note("<p>asthma</p>", source=helpers.source_ref(**source_kw))
    note.mention("asthma", EntityType.PROBLEM)
    bundle = build(note.doc)
    condition = one(helpers.resources(bundle, "Condition"))
    assert condition["extension"][0]["extension"][0]["valueReference"] == expected
    assert condition["evidence"][0]["detail"] == [expected]
    provenance = one(helpers.resources(bundle, "Provenance"))
    assert provenance["entity"] == [{"role": "source", "what": expected}]
    relates = one(helpers.resources(bundle, "Composition")).get("relatesTo")
    if "identifier" in source_kw:
        assert relates == [{"code": "transforms", "targetIdentifier": source_kw["identifier"]}]
    else:
        assert relates is None  # R4 allows only Reference(Composition) in targetReference


def test_an_allergy_is_never_a_medication_statement(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: penicillin (rash)</p><p>Meds: aspirin</p>")
    for ent in (
        note.mention("penicillin", EntityType.MEDICATION),
        note.mention("aspirin", EntityType.MEDICATION),
    ):
        ent.section = "allergies" if ent.text == "penicillin" else "medications"
    statements = helpers.resources(build(note.doc), "MedicationStatement")
    assert [s["medicationCodeableConcept"]["text"] for s in statements] == ["aspirin"]


def test_a_planned_test_without_a_value_is_no_observation(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Plan: echo. Labs: BNP 1250</p>")
    echo = note.mention("echo", EntityType.TEST)
    echo.section = "plan"
    bnp = note.mention("BNP", EntityType.TEST, value={"value": 1250})
    bnp.section = "labs"
    observations = helpers.resources(build(note.doc), "Observation")
    assert [o["code"]["text"] for o in observations] == ["BNP"]


def test_a_family_history_code_gives_way_to_the_relative_s_own(build: Any, helpers: Any) -> None:
    """The coding stage selects Z80.3 for the patient; the relative has breast cancer."""
    own = CodeCandidate(
        system=ICD10CM,
        code="C50.919",
        display="Malignant neoplasm of unspecified site of unspecified female breast",
        score=1.0,
        reason="curated [icd10cm:C50.919]",
        selected=False,
    )
    family = CodeCandidate(
        system=ICD10CM,
        code="Z80.3",
        display="Family history of malignant neoplasm of breast",
        score=1.0,
        reason="family history of C50.919: ... [icd10cm:Z80.3]",
    )
    note = helpers.make_note("<p>Mother had breast cancer.</p>")
    note.mention(
        "breast cancer", EntityType.PROBLEM, family=True, relative="MTH", codes=(family, own)
    )
    res = one(helpers.resources(build(note.doc), "FamilyMemberHistory"))
    assert codes_of(res["condition"][0]["code"]) == ["C50.919"]
