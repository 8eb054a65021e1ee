"""The MedicationRequest output (``medication_resource = "MedicationRequest"``): the same
medications as the default MedicationStatements, as reported plan requests."""

from __future__ import annotations

from typing import Any

import pytest

from note2fhir.document import EntityType, MedicationAttributes
from note2fhir.fhir.build.medication_request import REQUEST_STATUS, request_status
from note2fhir.settings import Settings


@pytest.fixture
def request_bundle(build: Any, helpers: Any) -> dict[str, Any]:
    """The clinic note's Bundle with medications as MedicationRequests."""
    settings = Settings(medication_resource="MedicationRequest")
    return build(helpers.clinic_note().doc, settings=settings)


def one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]


def test_medications_become_requests_and_statements_go(
    request_bundle: dict[str, Any], clinic_bundle: dict[str, Any], helpers: Any
) -> None:
    assert not helpers.resources(request_bundle, "MedicationStatement")
    requests = helpers.resources(request_bundle, "MedicationRequest")
    statements = helpers.resources(clinic_bundle, "MedicationStatement")
    # "Not taking aspirin" has no request status: it makes no request
    assert len(requests) == len(statements) - 1
    assert not helpers.by_text(request_bundle, "MedicationRequest", "aspirin")


def test_request_fields(request_bundle: dict[str, Any], helpers: Any) -> None:
    res = one(helpers.by_text(request_bundle, "MedicationRequest", "Metoprolol"))
    assert res["status"] == "active"
    assert res["intent"] == "plan"
    assert res["reportedBoolean"] is True
    assert "requester" not in res  # the note does not say who prescribed it
    assert res["subject"] == {"reference": "Patient/p1"}
    assert res["encounter"] == {"reference": "Encounter/enc-1"}
    assert res["authoredOn"] == "2026-02-27T14:05:00-05:00"
    (dosage,) = res["dosageInstruction"]
    assert dosage["text"] == "25 mg PO BID"
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    htn = helpers.by_text(request_bundle, "Condition", "Hypertension")
    assert {"reference": f"urn:uuid:{htn[0]['id']}"} in res["reasonReference"]


def test_request_statuses(request_bundle: dict[str, Any], helpers: Any) -> None:
    status = {
        text: one(helpers.by_text(request_bundle, "MedicationRequest", text))["status"]
        for text in ("Lisinopril", "atorvastatin", "Albuterol")
    }
    assert status == {"Lisinopril": "stopped", "atorvastatin": "draft", "Albuterol": "active"}
    assert request_status("not-taken") is None
    assert set(REQUEST_STATUS.values()) <= {
        "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
        "unknown",
    }  # fmt: skip


def test_adverse_event_names_the_drug_in_a_contained_medication(
    request_bundle: dict[str, Any], helpers: Any
) -> None:
    # R4 AdverseEvent.suspectEntity.instance may not reference a MedicationRequest
    event = one(helpers.resources(request_bundle, "AdverseEvent"))
    assert event["suspectEntity"] == [{"instance": {"reference": "#suspect"}}]
    (medication,) = event["contained"]
    assert medication["resourceType"] == "Medication"
    assert medication["code"]["text"] == "Lisinopril"
    cough = one(helpers.by_text(request_bundle, "Condition", "cough"))
    drug = one(helpers.by_text(request_bundle, "MedicationRequest", "Lisinopril"))
    assert {"reference": f"urn:uuid:{drug['id']}"} in cough["evidence"][0]["detail"]


def test_composition_lists_requests_as_medications(
    request_bundle: dict[str, Any], helpers: Any
) -> None:
    composition = one(helpers.resources(request_bundle, "Composition"))
    section = next(
        s
        for s in composition["section"]
        if s.get("code", {}).get("coding", [{}])[0].get("code") == "10160-0"
    )
    ids = {f"urn:uuid:{r['id']}" for r in helpers.resources(request_bundle, "MedicationRequest")}
    assert {e["reference"] for e in section["entry"]} == ids


def test_requests_are_deterministic_and_transactions_create_once(build: Any, helpers: Any) -> None:
    settings = Settings(medication_resource="MedicationRequest")
    note = helpers.make_note("<p>warfarin 5 mg daily</p>")
    note.mention(
        "warfarin",
        EntityType.MEDICATION,
        medication=MedicationAttributes(dose_value=5, dose_unit="mg"),
    )
    first = build(note.doc, "transaction", settings=settings)
    assert first == build(note.doc, "transaction", settings=settings)
    entry = next(e for e in first["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
    assert entry["request"]["method"] == "POST"
    assert entry["request"]["url"] == "MedicationRequest"
    assert entry["request"]["ifNoneExist"].startswith("identifier=")


def test_unknown_medication_resource_is_refused() -> None:
    with pytest.raises(ValueError, match="medication_resource"):
        Settings(medication_resource="MedicationAdministration")
