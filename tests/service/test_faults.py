"""Fault tests: the real service under gunicorn, a fake FHIR server that fails, hangs and
goes away, and the promises the service makes about the notes it acknowledged.

Backoff, lease and timeout settings are short so the whole module runs in seconds; waits are
bounded polls, never fixed sleeps that a slow machine could outrun.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.service.fake_fhir import FakeFhirServer

TOKEN = "test-token-3f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 45.0
FAST = {
    "writeback_backoff_base_s": 0.2,
    "writeback_backoff_max_s": 1.0,
    "writeback_poll_s": 0.1,
    "writeback_max_attempts": 50,
    "writeback_lease_s": 3,
    "fhir_timeout_s": 1,
}


def docref(doc_id: str) -> dict[str, Any]:
    text = f"Assessment: hypertension ({doc_id}). Plan: lisinopril 10 mg daily."
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


@pytest.fixture
def fake() -> Iterator[FakeFhirServer]:
    server = FakeFhirServer().start()
    yield server
    server.stop()


def notify(base_url: str, doc_id: str) -> None:
    response = requests.put(
        f"{base_url}/subscription/DocumentReference/{doc_id}",
        json=docref(doc_id),
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 202, response.text


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def queue_status(base_url: str) -> dict[str, int]:
    body: dict[str, int] = requests.get(f"{base_url}/admin/queue", headers=AUTH, timeout=5).json()
    return body


def written_exactly_once(fake: FakeFhirServer, notes: int) -> None:
    assert len(fake.of_type("Composition")) == notes
    assert fake.create_counts and set(fake.create_counts.values()) == {1}


def test_target_down_then_up_writes_every_note_exactly_once(
    service_runner: Callable[..., Any], fake: FakeFhirServer
) -> None:
    fake.down()
    service = service_runner(workers=2, fhir_base_url=fake.base_url, **FAST)
    ids = [f"down{n}" for n in range(6)]
    for doc_id in ids:
        notify(service.base_url, doc_id)
    wait_for(lambda: "retry in" in service.logs(), "a failed attempt")
    assert queue_status(service.base_url)["depth"] == len(ids)
    fake.up()
    wait_for(lambda: len(fake.of_type("Composition")) == len(ids), "every note written")
    wait_for(lambda: queue_status(service.base_url)["depth"] == 0, "the queue to drain")
    written_exactly_once(fake, len(ids))


def test_sigkill_with_queued_work_loses_nothing(
    service_runner: Callable[..., Any], fake: FakeFhirServer
) -> None:
    settings = {"fhir_base_url": fake.base_url, **FAST}
    fake.hang(1, 30)  # the first write hangs: the worker is mid-job when it is killed
    fake.fail(1000, 503)
    first = service_runner(**settings)
    ids = [f"kill{n}" for n in range(5)]
    for doc_id in ids:
        notify(first.base_url, doc_id)
    assert queue_status(first.base_url)["depth"] == len(ids)
    wait_for(lambda: len(fake.seen("POST")) >= 1, "the worker to be mid-job")
    first.kill()  # SIGKILL: the claimed job is left to its lease (3 s), the rest wait
    fake.faults.clear()
    second = service_runner(**settings)  # same data folder, so the same queue
    wait_for(lambda: len(fake.of_type("Composition")) == len(ids), "every note written")
    wait_for(lambda: queue_status(second.base_url)["depth"] == 0, "the queue to drain")
    written_exactly_once(fake, len(ids))


def test_faults_on_one_service(service_runner: Callable[..., Any], fake: FakeFhirServer) -> None:
    """Repeated notifications, Retry-After, a hanging target, dead letters and replay."""
    service = service_runner(
        fhir_base_url=fake.base_url,
        **(FAST | {"writeback_max_attempts": 2, "writeback_backoff_max_s": 5}),
    )
    base = service.base_url

    # A repeated notification creates nothing twice.
    for _ in range(3):
        notify(base, "same")
        wait_for(lambda: queue_status(base)["depth"] == 0, "the note to be processed")
    written_exactly_once(fake, 1)
    assert len(fake.transactions()) == 3

    # 429 with Retry-After: the next try waits at least that long (the backoff alone is
    # 0.1-0.2 s; Retry-After is honoured up to writeback_backoff_max_s).
    fake.fail(1, 429, retry_after="2")
    notify(base, "busy")
    wait_for(lambda: len(fake.of_type("Composition")) == 2, "the 429 note written")
    refused, accepted = fake.seen("POST")[-2:]
    assert refused.answered == 429 and accepted.answered == 200
    assert accepted.at - refused.at >= 2.0

    # A hanging target times out (fhir_timeout_s=1) and the job is tried again.
    fake.hang(1, 20)
    notify(base, "hang")
    wait_for(lambda: len(fake.of_type("Composition")) == 3, "the hung note written")

    # Failing on every attempt: a dead letter, which a replay brings back.
    fake.fail(2, 500)
    notify(base, "dead")
    wait_for(
        lambda: queue_status(base)["deadLetters"] == 1 and queue_status(base)["depth"] == 0,
        "the dead letter",
    )
    listing = requests.get(f"{base}/admin/dead-letters", headers=AUTH, timeout=5).json()
    [letter] = listing["deadLetters"]
    assert letter["attempts"] == 2 and letter["lastError"] == "target server: POST: HTTP 500"
    replay = requests.post(
        f"{base}/admin/dead-letters/{letter['id']}/replay", headers=AUTH, timeout=5
    )
    assert replay.status_code == 202
    wait_for(lambda: len(fake.of_type("Composition")) == 4, "the replayed note written")
    written_exactly_once(fake, 4)
    assert "hypertension" not in service.logs(), "note text never reaches the logs"
