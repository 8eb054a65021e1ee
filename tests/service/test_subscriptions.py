"""The subscription receiver and the queue admin endpoints, through the app's test client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from note2fhir.settings import Settings
from service.app import create_app
from service.state import get_state
from service.subscriptions import EXTENSION_KEY, WritebackState
from tests.service.fake_fhir import FakeFhirServer

TOKEN = "test-token-3f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FHIR = {**AUTH, "Content-Type": "application/fhir+json"}
NOTE = "Assessment: hypertension. Plan: lisinopril 10 mg daily."


def docref(doc_id: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(NOTE.encode()).decode(),
                }
            }
        ],
    }


def backport(kind: str, focuses: list[str], resources: list[dict[str, Any]] = ()) -> dict:
    """An R4 backport notification Bundle (the status is a Parameters)."""
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": "Subscription/s1"}},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
    ]
    for n, focus in enumerate(focuses, 1):
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(n)},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "urn:uuid:1",
            "resource": {"resourceType": "Parameters", "parameter": parameters},
        }
    ]
    entries += [
        {"fullUrl": f"http://src/fhir/DocumentReference/{r['id']}", "resource": r}
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "history", "entry": entries}


@pytest.fixture
def fake() -> Iterator[FakeFhirServer]:
    server = FakeFhirServer().start()
    yield server
    server.stop()


@pytest.fixture
def wb_app(service_settings: Callable[..., Settings], fake: FakeFhirServer) -> Iterator[Flask]:
    app = create_app(
        service_settings(
            fhir_base_url=fake.base_url,
            writeback_backoff_base_s=0.01,
            writeback_poll_s=0.05,
        )
    )
    yield app
    get_state(app).stop_workers()


@pytest.fixture
def wb_client(wb_app: Flask) -> FlaskClient:
    return wb_app.test_client()


def writeback(app: Flask) -> WritebackState:
    state: WritebackState = app.extensions[EXTENSION_KEY]
    return state


def jobs(app: Flask) -> list[dict[str, Any]]:
    """The payloads of the waiting jobs (claimed and put straight back)."""
    queue = writeback(app).queue
    found = []
    claimed = []
    while (job := queue.claim(60)) is not None:
        claimed.append(job)
        found.append({"kind": job.kind, **job.payload})
    for job in claimed:
        queue.retry(job, delay_s=0, error="peeked")
    return found


def test_full_resource_put_is_queued_and_acknowledged(
    wb_app: Flask, wb_client: FlaskClient
) -> None:
    response = wb_client.put("/subscription/DocumentReference/d1", json=docref("d1"), headers=AUTH)
    assert response.status_code == 202
    assert response.get_json()["resourceType"] == "OperationOutcome"
    again = wb_client.put("/subscription/DocumentReference/d1", json=docref("d1"), headers=AUTH)
    assert again.status_code == 202
    [job] = jobs(wb_app)  # the repeat refreshed the waiting job
    assert job["kind"] == "note" and job["resource"]["id"] == "d1"


def test_put_without_body_is_id_only(wb_app: Flask, wb_client: FlaskClient) -> None:
    response = wb_client.put("/subscription/DiagnosticReport/r7", headers=AUTH)
    assert response.status_code == 202
    assert jobs(wb_app) == [{"kind": "note", "reference": "DiagnosticReport/r7"}]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("/subscription/Patient/p1", "{}", FHIR, 422, "RESOURCE_TYPE_UNSUPPORTED"),
        ("/subscription/DocumentReference/d1", "{nope", FHIR, 400, "INPUT_NOT_JSON"),
        (
            "/subscription/DocumentReference/d1",
            json.dumps(docref("other")),
            FHIR,
            422,
            "NOTIFICATION_INVALID",
        ),
        (
            "/subscription/DocumentReference/d1",
            json.dumps({"resourceType": "Observation"}),
            FHIR,
            422,
            "NOTIFICATION_INVALID",
        ),
        (
            "/subscription/DocumentReference/d1",
            "<DocumentReference/>",
            {**AUTH, "Content-Type": "application/fhir+xml"},
            415,
            "REQUEST_MEDIA_TYPE",
        ),
        ("/subscription/DocumentReference/d1", "{}", {}, 401, "REQUEST_UNAUTHORIZED"),
    ],
)
def test_bad_notifications_get_an_operation_outcome(
    wb_app: Flask,
    wb_client: FlaskClient,
    path: str,
    body: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = wb_client.put(path, data=body, headers=headers)
    assert response.status_code == status
    outcome = response.get_json()
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == code
    assert jobs(wb_app) == []


@pytest.mark.parametrize("bad_id", ["..", "a%2Fb", "x" * 65])
def test_id_only_notification_needs_a_valid_id(
    wb_app: Flask, wb_client: FlaskClient, bad_id: str
) -> None:
    response = wb_client.put(f"/subscription/DocumentReference/{bad_id}", headers=AUTH)
    assert response.status_code in {404, 422}
    assert jobs(wb_app) == []


def test_empty_post_queues_one_search(wb_app: Flask, wb_client: FlaskClient) -> None:
    assert wb_client.post("/subscription", headers=AUTH).status_code == 202
    assert wb_client.post("/subscription", headers=AUTH).status_code == 202
    assert jobs(wb_app) == [{"kind": "sync"}]


@pytest.mark.parametrize("kind", ["handshake", "heartbeat", "query-status"])
def test_handshake_and_heartbeat_are_acknowledged_without_work(
    wb_app: Flask, wb_client: FlaskClient, kind: str
) -> None:
    response = wb_client.post("/subscription", json=backport(kind, []), headers=AUTH)
    assert response.status_code == 200
    assert jobs(wb_app) == []


def test_backport_id_only_event_reads_the_focus(wb_app: Flask, wb_client: FlaskClient) -> None:
    bundle = backport(
        "event-notification",
        ["http://src/fhir/DocumentReference/d9/_history/3", "Patient/p1"],
    )
    response = wb_client.post("/subscription", json=bundle, headers=AUTH)
    assert response.status_code == 202
    assert jobs(wb_app) == [{"kind": "note", "reference": "DocumentReference/d9"}]


def test_backport_full_resource_event_uses_the_carried_resource(
    wb_app: Flask, wb_client: FlaskClient
) -> None:
    bundle = backport(
        "event-notification", ["http://src/fhir/DocumentReference/d4"], [docref("d4")]
    )
    assert wb_client.post("/subscription", json=bundle, headers=AUTH).status_code == 202
    [job] = jobs(wb_app)
    assert job["resource"]["id"] == "d4"


def test_r4b_subscription_status_notification(wb_app: Flask, wb_client: FlaskClient) -> None:
    status = {
        "resourceType": "SubscriptionStatus",
        "type": "event-notification",
        "notificationEvent": [{"eventNumber": "1", "focus": {"reference": "DocumentReference/d5"}}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {"resource": status},
            {"fullUrl": "DocumentReference/d5", "resource": docref("d5")},
        ],
    }
    assert wb_client.post("/subscription", json=bundle, headers=AUTH).status_code == 202
    [job] = jobs(wb_app)
    assert job["resource"]["id"] == "d5"
    heartbeat = {**bundle, "entry": [{"resource": {**status, "type": "heartbeat"}}]}
    assert wb_client.post("/subscription", json=heartbeat, headers=AUTH).status_code == 200


def test_dead_letters_are_listed_and_replayed(wb_app: Flask, wb_client: FlaskClient) -> None:
    queue = writeback(wb_app).queue
    queue.enqueue("note", {"reference": "DocumentReference/x"}, dedupe_key="DocumentReference/x")
    job = queue.claim(60)
    assert job is not None
    queue.dead_letter(job, error="target server: POST: HTTP 400")
    listing = wb_client.get("/admin/dead-letters", headers=AUTH)
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["total"] == 1
    [letter] = body["deadLetters"]
    assert letter["lastError"] == "target server: POST: HTTP 400" and "payload" not in letter
    assert wb_client.get("/admin/dead-letters", headers={}).status_code == 401
    replay = wb_client.post(f"/admin/dead-letters/{letter['id']}/replay", headers=AUTH)
    assert replay.status_code == 202
    assert wb_client.get("/admin/queue", headers=AUTH).get_json() == {"depth": 1, "deadLetters": 0}
    missing = wb_client.post(f"/admin/dead-letters/{letter['id']}/replay", headers=AUTH)
    assert missing.status_code == 404
    assert missing.get_json()["issue"][0]["details"]["coding"][0]["code"] == "DEAD_LETTER_NOT_FOUND"


def test_readiness_checks_the_queue(wb_client: FlaskClient) -> None:
    body = wb_client.get("/readyz").get_json()
    assert body["checks"]["queue"] == "ok"


def test_without_a_fhir_server_notifications_are_refused(client: FlaskClient) -> None:
    response = client.put("/subscription/DocumentReference/d1", json=docref("d1"), headers=AUTH)
    assert response.status_code == 503
    code = response.get_json()["issue"][0]["details"]["coding"][0]["code"]
    assert code == "WRITEBACK_NOT_CONFIGURED"


def test_worker_in_the_app_writes_a_notified_note(
    wb_app: Flask, wb_client: FlaskClient, fake: FakeFhirServer
) -> None:
    get_state(wb_app).start_workers()
    response = wb_client.put("/subscription/DocumentReference/d1", json=docref("d1"), headers=AUTH)
    assert response.status_code == 202
    deadline = time.monotonic() + 20
    while not fake.of_type("Composition") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.of_type("Composition")) == 1
    while writeback(wb_app).queue.depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writeback(wb_app).queue.depth() == 0
