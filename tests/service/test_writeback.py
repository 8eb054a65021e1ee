"""Write-back: the FHIR client and its auth, the job handler and the worker loop, against
the fake FHIR server."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from note2fhir.engine import Engine
from note2fhir.settings import load_settings
from service.fhir_client import (
    FhirClient,
    FhirRequestError,
    SmartBackendAuth,
    StaticBearer,
    clients_from_settings,
    parse_retry_after,
)
from service.queue import SQLiteQueue
from service.worker import Worker
from service.writeback import NOTE_JOB, SYNC_JOB, WATERMARK_KEY, JobError, WriteBack, note_job
from tests.service.fake_fhir import FakeFhirServer

FROZEN = "2026-03-01T09:30:00-05:00"
NOTE = "Assessment: hypertension. Plan: lisinopril 10 mg daily."


def docref(doc_id: str, text: str = NOTE, *, url: str | None = None) -> dict[str, Any]:
    attachment: dict[str, Any] = {"contentType": "text/plain"}
    if url:
        attachment["url"] = url
    else:
        attachment["data"] = base64.b64encode(text.encode()).decode()
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": attachment}],
    }


@pytest.fixture
def fake() -> Iterator[FakeFhirServer]:
    server = FakeFhirServer().start()
    yield server
    server.stop()


@pytest.fixture
def engine(tmp_path: Path, fake: FakeFhirServer) -> Engine:
    return Engine(load_settings(data_dir=tmp_path, fhir_base_url=fake.base_url, clock=FROZEN))


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SQLiteQueue]:
    q = SQLiteQueue(tmp_path / "queue.sqlite3")
    yield q
    q.close()


def handler(engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue) -> WriteBack:
    client = FhirClient(fake.base_url, timeout_s=5)
    return WriteBack(lambda: engine, target=client, source=client, queue=queue)


def worker(wb: WriteBack, queue: SQLiteQueue, **options: Any) -> Worker:
    defaults: dict[str, Any] = {
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 60,
        "lease_s": 30,
    }
    return Worker(queue, wb, **(defaults | options))


def drain(w: Worker, queue: SQLiteQueue, *, rounds: int = 200) -> None:
    """Run the worker until the queue is empty (bounded)."""
    for _ in range(rounds):
        if queue.depth() == 0:
            return
        if not w.run_once():
            time.sleep(0.02)
    raise AssertionError("the queue did not drain")


# -- the client --------------------------------------------------------------------------


def test_transaction_is_written_once_however_often_it_is_sent(
    engine: Engine, fake: FakeFhirServer
) -> None:
    [doc] = list(engine.run(engine.read_resource(docref("d1"), location="test")))
    bundle = engine.bundle(doc, "transaction")
    client = FhirClient(fake.base_url)
    client.transaction(bundle)
    client.transaction(bundle)
    assert fake.create_counts and set(fake.create_counts.values()) == {1}
    assert len(fake.transactions()) == 2


def test_static_bearer_token_is_sent_and_a_wrong_one_is_refused(fake: FakeFhirServer) -> None:
    fake.required_token = "s3cret"
    fake.add({"resourceType": "DocumentReference", "id": "d1"})
    assert FhirClient(fake.base_url, auth=StaticBearer("s3cret")).read("DocumentReference/d1")
    with pytest.raises(FhirRequestError) as info:
        FhirClient(fake.base_url, auth=StaticBearer("wrong")).read("DocumentReference/d1")
    assert info.value.status == 401 and not info.value.retryable
    assert "s3cret" not in str(info.value) and "wrong" not in str(info.value)


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_smart_backend_services_token_is_fetched_once_and_refreshed(
    fake: FakeFhirServer, algorithm: str
) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    fake.smart_public_key = key.public_key()
    fake.token_lifetime_s = 300
    fake.add({"resourceType": "DocumentReference", "id": "d1"})
    now = [time.time()]
    auth = SmartBackendAuth(
        client_id="note2fhir",
        token_url=fake.token_url,
        private_key=_pem(key),
        algorithm=algorithm,
        key_id="k1",
        scope="system/DocumentReference.read",
        clock=lambda: now[0],
    )
    client = FhirClient(fake.base_url, auth=auth)
    client.read("DocumentReference/d1")
    client.read("DocumentReference/d1")
    assert fake.token_requests == 1, "the access token is cached"
    now[0] += 300  # past expires_in (less the safety margin)
    client.read("DocumentReference/d1")
    assert fake.token_requests == 2
    fake.issued_tokens.clear()  # the server revoked it: a 401 gets a fresh token once
    client.read("DocumentReference/d1")
    assert fake.token_requests == 3


def test_smart_rejected_assertion_is_an_error(fake: FakeFhirServer) -> None:
    fake.smart_public_key = rsa.generate_private_key(65537, 2048).public_key()
    other = rsa.generate_private_key(65537, 2048)
    auth = SmartBackendAuth(client_id="x", token_url=fake.token_url, private_key=_pem(other))
    with pytest.raises(FhirRequestError, match="token endpoint: HTTP 401"):
        FhirClient(fake.base_url, auth=auth).read("DocumentReference/d1")


def test_clients_from_settings(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        fhir_base_url="http://src.example/fhir/",
        target_fhir_base_url="http://dst.example/fhir",
        fhir_bearer_token="t0",
        target_fhir_bearer_token="t1",
        fhir_timeout_s=3,
    )
    source, target = clients_from_settings(settings)
    assert source is not None and source.base_url == "http://src.example/fhir"
    assert target is not None and target.base_url == "http://dst.example/fhir"
    assert source.auth.header() == "Bearer t0" and target.auth.header() == "Bearer t1"
    assert target.timeout_s == 3
    assert clients_from_settings(load_settings(data_dir=tmp_path)) == (None, None)


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(formatdate(1_000_060, usegmt=True), now=1_000_000) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_5xx_and_429_are_retryable_with_retry_after(fake: FakeFhirServer) -> None:
    client = FhirClient(fake.base_url)
    fake.fail(1, 429, retry_after="2")
    with pytest.raises(FhirRequestError) as info:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert info.value.retryable and info.value.retry_after_s == 2.0
    fake.fail(1, 400)
    with pytest.raises(FhirRequestError) as info:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert not info.value.retryable


def test_hanging_server_times_out_and_down_server_is_refused(fake: FakeFhirServer) -> None:
    client = FhirClient(fake.base_url, timeout_s=0.3)
    fake.hang(1, 10)
    with pytest.raises(FhirRequestError) as info:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert info.value.retryable and info.value.reason == "timeout"
    fake.down()
    with pytest.raises(FhirRequestError) as info:
        client.read("DocumentReference/d1")
    assert info.value.retryable and info.value.reason == "connection refused"
    fake.up()
    with pytest.raises(FhirRequestError) as info:
        client.read("DocumentReference/d1")
    assert info.value.status == 404


def test_reference_on_another_server_is_refused(fake: FakeFhirServer) -> None:
    with pytest.raises(FhirRequestError, match="not on the configured server"):
        FhirClient(fake.base_url).read("http://elsewhere.example/fhir/DocumentReference/1")


# -- the job handler -----------------------------------------------------------------------


def test_full_resource_job_writes_the_result(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    wb = handler(engine, fake, queue)
    assert wb.process_note(note_job(resource=docref("d1")), location="job 1") == "written"
    assert wb.process_note(note_job(resource=docref("d1")), location="job 2") == "written"
    assert fake.of_type("Composition") and set(fake.create_counts.values()) == {1}
    assert fake.of_type("Provenance")


def test_id_only_job_reads_the_note_and_its_binary_from_the_source(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    fake.add(
        {
            "resourceType": "Binary",
            "id": "b1",
            "contentType": "text/plain",
            "data": base64.b64encode(NOTE.encode()).decode(),
        }
    )
    fake.add(docref("d2", url="Binary/b1"))
    wb = handler(engine, fake, queue)
    assert wb.process_note(note_job(reference="DocumentReference/d2"), location="j") == "written"
    assert len(fake.of_type("Composition")) == 1
    assert wb.process_note(note_job(reference="DocumentReference/gone"), location="j") == "gone"


def test_unprocessable_note_is_a_permanent_failure(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    bad = docref("d3")
    del bad["content"]
    with pytest.raises(JobError) as info:
        handler(engine, fake, queue).process_note(note_job(resource=bad), location="j")
    assert not info.value.retryable and "NO_ATTACHMENT" in info.value.reason


def test_sync_queues_what_changed_since_the_last_one(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    for n, stamp in enumerate(["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"]):
        fake.add(docref(f"s{n}") | {"meta": {"lastUpdated": stamp}})
    wb = handler(engine, fake, queue)
    assert wb.sync() == "synced"
    assert queue.depth() == 2
    assert queue.get_state(WATERMARK_KEY) == "2026-01-01T00:00:02+00:00"
    fake.add(docref("s9") | {"meta": {"lastUpdated": "2026-01-01T00:00:03+00:00"}})
    wb.sync()
    # s0 and s1 are still waiting (refreshed, not duplicated); s9 is new.
    assert queue.depth() == 3


# -- the worker loop -----------------------------------------------------------------------


def test_worker_retries_until_the_target_answers(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    fake.fail(2, 503)
    queue.enqueue(NOTE_JOB, note_job(resource=docref("d1")), dedupe_key="DocumentReference/d1")
    drain(worker(handler(engine, fake, queue), queue), queue)
    assert set(fake.create_counts.values()) == {1} and len(fake.transactions()) == 1
    assert queue.dead_letter_count() == 0


def test_worker_dead_letters_after_max_attempts_and_replay_works(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    outcomes: list[tuple[str, str]] = []
    fake.fail(3, 500)
    queue.enqueue(NOTE_JOB, note_job(resource=docref("d1")))
    w = worker(handler(engine, fake, queue), queue, on_outcome=lambda *o: outcomes.append(o))
    drain(w, queue)
    [letter] = queue.dead_letters()
    assert letter.attempts == 3 and letter.last_error == "target server: POST: HTTP 500"
    assert outcomes == [("note", "retry"), ("note", "retry"), ("note", "dead-letter")]
    assert not fake.create_counts
    queue.replay(letter.id)
    drain(w, queue)
    assert set(fake.create_counts.values()) == {1} and queue.dead_letter_count() == 0


def test_worker_honours_retry_after(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    fake.fail(1, 429, retry_after="30")
    queue.enqueue(NOTE_JOB, note_job(resource=docref("d1")))
    w = worker(handler(engine, fake, queue), queue)
    assert w.run_once()
    assert queue.depth() == 1
    assert not w.run_once(), "the job waits for Retry-After, not the 10 ms backoff"


def test_permanent_failure_goes_straight_to_dead_letters(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    fake.fail(1, 422)
    queue.enqueue(NOTE_JOB, note_job(resource=docref("d1")))
    w = worker(handler(engine, fake, queue), queue)
    assert w.run_once()
    [letter] = queue.dead_letters()
    assert letter.attempts == 1


def test_job_whose_worker_died_every_time_is_dead_lettered(
    engine: Engine, fake: FakeFhirServer, tmp_path: Path
) -> None:
    now = [1_000_000.0]
    queue = SQLiteQueue(tmp_path / "q2.sqlite3", clock=lambda: now[0])
    queue.enqueue(SYNC_JOB, {})
    for _ in range(3):  # claimed, then the process "dies" and the lease runs out
        assert queue.claim(30) is not None
        now[0] += 31
    w = worker(handler(engine, fake, queue), queue)
    assert w.run_once()
    assert queue.depth() == 0 and queue.dead_letter_count() == 1


def test_a_bug_in_the_handler_is_retried_not_fatal(queue: SQLiteQueue) -> None:
    def broken(job: Any) -> str:
        raise KeyError("Jane Doe")  # exception text may hold PHI: it must not be stored

    queue.enqueue(NOTE_JOB, {})
    w = Worker(queue, broken, max_attempts=1)
    assert w.run_once()
    [letter] = queue.dead_letters()
    assert letter.last_error == "internal error (KeyError)"


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    w = Worker(
        SQLiteQueue.__new__(SQLiteQueue),
        lambda job: "",
        backoff_base_s=2,
        backoff_max_s=60,
        rng=random.Random(1),
    )
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (10, 60)]:
        delay = w.backoff(attempts)
        assert ceiling / 2 <= delay <= ceiling
    assert w.backoff(1, retry_after_s=30) >= 30
    assert w.backoff(1, retry_after_s=10_000) == 60


def test_wrong_job_kind_is_permanent(
    engine: Engine, fake: FakeFhirServer, queue: SQLiteQueue
) -> None:
    queue.enqueue("mystery", {})
    job = queue.claim(30)
    assert job is not None
    with pytest.raises(JobError) as info:
        handler(engine, fake, queue)(job)
    assert not info.value.retryable


def test_smart_settings_give_both_servers_client_credentials(
    tmp_path: Path, fake: FakeFhirServer
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    key_path = tmp_path / "key.pem"
    key_path.write_text(_pem(key))
    fake.smart_public_key = key.public_key()
    fake.add({"resourceType": "DocumentReference", "id": "d1"})
    settings = load_settings(
        data_dir=tmp_path,
        fhir_base_url=fake.base_url,
        smart_client_id="note2fhir",
        smart_token_url=fake.token_url,
        smart_private_key_path=key_path,
        smart_algorithm="ES384",
    )
    source, target = clients_from_settings(settings)
    assert isinstance(source.auth, SmartBackendAuth) and source.auth is target.auth
    assert source.read("DocumentReference/d1")["id"] == "d1"
    target.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert fake.token_requests == 1
