"""The durable queue: claims, leases, retries, dead letters, replay and restarts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from note2fhir.settings import load_settings
from service.queue import QueueError, SQLiteQueue, open_queue


class Clock:
    """A settable clock for lease and backoff arithmetic."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> SQLiteQueue:
    q = SQLiteQueue(tmp_path / "q.sqlite3", clock=clock)
    yield q
    q.close()


def test_enqueue_claim_complete(queue: SQLiteQueue) -> None:
    job_id = queue.enqueue("note", {"reference": "DocumentReference/1"})
    assert queue.depth() == 1
    job = queue.claim(60)
    assert job is not None and job.id == job_id and job.attempts == 1
    assert job.payload == {"reference": "DocumentReference/1"}
    assert queue.claim(60) is None, "a claimed job is invisible to other workers"
    assert queue.complete(job)
    assert queue.depth() == 0


def test_jobs_come_out_oldest_first(queue: SQLiteQueue) -> None:
    ids = [queue.enqueue("note", {"n": n}) for n in range(3)]
    claimed = [queue.claim(60) for _ in ids]
    assert [job.id for job in claimed if job] == ids


def test_expired_lease_makes_the_job_claimable_again(queue: SQLiteQueue, clock: Clock) -> None:
    queue.enqueue("note", {"n": 1})
    first = queue.claim(30)
    assert first is not None
    clock.now += 29
    assert queue.claim(30) is None
    clock.now += 2  # the worker holding it died: its lease ran out
    second = queue.claim(30)
    assert second is not None and second.id == first.id and second.attempts == 2
    assert not queue.complete(first), "a stale claim cannot complete the job"
    assert queue.complete(second)


def test_retry_delays_the_job(queue: SQLiteQueue, clock: Clock) -> None:
    queue.enqueue("note", {})
    job = queue.claim(30)
    assert job is not None
    assert queue.retry(job, delay_s=10, error="target server: HTTP 503")
    clock.now += 9
    assert queue.claim(30) is None
    clock.now += 1
    again = queue.claim(30)
    assert again is not None and again.attempts == 2


def test_dead_letter_and_replay(queue: SQLiteQueue) -> None:
    queue.enqueue("note", {"resource": {"resourceType": "DocumentReference"}}, dedupe_key="k")
    job = queue.claim(30)
    assert job is not None
    dead_id = queue.dead_letter(job, error="target server: HTTP 400")
    assert dead_id is not None
    assert queue.depth() == 0 and queue.dead_letter_count() == 1
    [letter] = queue.dead_letters()
    summary = letter.summary()
    assert summary["lastError"] == "target server: HTTP 400" and summary["attempts"] == 1
    assert "payload" not in summary
    new_id = queue.replay(dead_id)
    assert new_id is not None and queue.dead_letter_count() == 0
    replayed = queue.claim(30)
    assert replayed is not None and replayed.attempts == 1
    assert replayed.payload == {"resource": {"resourceType": "DocumentReference"}}
    assert queue.replay(dead_id) is None


def test_waiting_job_with_the_same_key_is_refreshed_not_duplicated(queue: SQLiteQueue) -> None:
    first = queue.enqueue("note", {"v": 1}, dedupe_key="DocumentReference/1")
    second = queue.enqueue("note", {"v": 2}, dedupe_key="DocumentReference/1")
    assert first == second and queue.depth() == 1
    job = queue.claim(30)
    assert job is not None and job.payload == {"v": 2}
    # While it runs, a new notification queues a new job (the note may have changed again).
    third = queue.enqueue("note", {"v": 3}, dedupe_key="DocumentReference/1")
    assert third != first and queue.depth() == 2


def test_queue_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "q.sqlite3"
    q1 = SQLiteQueue(path, clock=clock)
    q1.enqueue("note", {"n": 1})
    q1.set_state("watermark", "2026-01-01T00:00:00Z")
    q1.close()
    q2 = SQLiteQueue(path, clock=clock)
    job = q2.claim(30)
    assert job is not None and job.payload == {"n": 1}
    assert q2.get_state("watermark") == "2026-01-01T00:00:00Z"
    q2.close()


def test_concurrent_claims_never_share_a_job(queue: SQLiteQueue) -> None:
    for n in range(40):
        queue.enqueue("note", {"n": n})
    taken: list[int] = []
    lock = threading.Lock()

    def drain() -> None:
        while (job := queue.claim(60)) is not None:
            with lock:
                taken.append(job.id)
            queue.complete(job)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 40


def test_ping_and_state(queue: SQLiteQueue) -> None:
    queue.ping()
    assert queue.get_state("missing") is None
    queue.set_state("k", "1")
    queue.set_state("k", "2")
    assert queue.get_state("k") == "2"


def test_open_queue_from_settings(tmp_path: Path) -> None:
    default = open_queue(load_settings(data_dir=tmp_path))
    assert isinstance(default, SQLiteQueue) and default.path == tmp_path / "queue.sqlite3"
    by_url = open_queue(load_settings(data_dir=tmp_path, queue_url=f"sqlite:///{tmp_path}/x.db"))
    assert isinstance(by_url, SQLiteQueue) and by_url.path == tmp_path / "x.db"
    with pytest.raises(QueueError, match="not supported"):
        open_queue(load_settings(data_dir=tmp_path, queue_url="postgresql://db/queue"))


def test_unusable_path_is_a_queue_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(QueueError):
        SQLiteQueue(blocker / "q.sqlite3")
