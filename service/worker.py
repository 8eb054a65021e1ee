"""The background loop that drains the durable queue, one job at a time per process.

Each gunicorn worker process runs one :class:`Worker` thread, started after the fork
(``ServiceState.worker_start``).  A job is claimed with a lease, handed to the handler
(:class:`service.writeback.WriteBack`), then completed, retried after an exponential backoff
with jitter (at least as long as a server's ``Retry-After``), or moved to the dead-letter
table after ``writeback_max_attempts`` claims.  A process killed mid-job leaves its claim to
expire, and the job is done again by whichever worker claims it next.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from service.queue import Job, JobQueue, QueueError
from service.writeback import JobError

log = logging.getLogger(__name__)

Handler = Callable[[Job], str]
OutcomeHook = Callable[[str, str], None]
"""Called with (job kind, outcome) after each job: written, skipped, retry, dead-letter..."""


class Worker:
    """Claims due jobs from ``queue`` and runs ``handler`` on them."""

    def __init__(
        self,
        queue: JobQueue,
        handler: Handler,
        *,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        lease_s: float = 300.0,
        poll_s: float = 1.0,
        rng: random.Random | None = None,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.rng = rng or random.Random()
        self.on_outcome = on_outcome
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backoff(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Delay before the next try after ``attempts`` failed ones: base·2^(n-1), capped,
        with "equal jitter" (half fixed, half random), and never shorter than a server's
        Retry-After (itself capped at the maximum)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** max(0, attempts - 1))
        delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.backoff_max_s))
        return delay

    def run_once(self) -> bool:
        """Claim and run one due job; False when none was due."""
        job = self.queue.claim(self.lease_s)
        if job is None:
            return False
        if job.attempts > self.max_attempts:
            # Its earlier claims ran out without an answer: the process died on it each time.
            self._dead_letter(job, "the worker stopped during each attempt")
            return True
        try:
            outcome = self.handler(job)
        except JobError as exc:
            self._failed(job, exc.reason, exc.retryable, exc.retry_after_s)
        except QueueError:
            raise
        except Exception as exc:
            # The class name only: exception text can quote the note.
            log.error("job %d (%s) raised %s", job.id, job.kind, type(exc).__name__)
            self._failed(job, f"internal error ({type(exc).__name__})", True, None)
        else:
            if not self.queue.complete(job):
                log.warning("job %d finished after its lease ran out", job.id)
            log.info("job %d (%s): %s after %d attempt(s)", job.id, job.kind, outcome, job.attempts)
            self._report(job, outcome)
        return True

    def _failed(self, job: Job, reason: str, retryable: bool, retry_after_s: float | None) -> None:
        if not retryable or job.attempts >= self.max_attempts:
            self._dead_letter(job, reason)
            return
        delay = self.backoff(job.attempts, retry_after_s)
        self.queue.retry(job, delay_s=delay, error=reason)
        log.warning(
            "job %d (%s) attempt %d failed (%s); retry in %.1f s",
            job.id,
            job.kind,
            job.attempts,
            reason,
            delay,
        )
        self._report(job, "retry")

    def _dead_letter(self, job: Job, reason: str) -> None:
        dead_id = self.queue.dead_letter(job, error=reason)
        log.error(
            "job %d (%s) moved to dead letter %s after %d attempt(s): %s",
            job.id,
            job.kind,
            dead_id,
            job.attempts,
            reason,
        )
        self._report(job, "dead-letter")

    def _report(self, job: Job, outcome: str) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(job.kind, outcome)
            except Exception as exc:
                log.warning("outcome hook raised %s", type(exc).__name__)

    def wake(self) -> None:
        """Look for work now instead of at the next poll (a job was just queued)."""
        self._wake.set()

    def run(self) -> None:
        """Drain due jobs until :meth:`stop`; sleeps ``poll_s`` (or until woken) when idle."""
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except QueueError as exc:
                log.error("queue unavailable: %s", exc)
                busy = False
            if not busy:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def start(self) -> None:
        """Start the loop in a daemon thread (once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="note2fhir-writeback", daemon=True)
        self._thread.start()
        log.info("write-back worker started")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to stop after the current job and wait up to ``timeout_s``; a job
        still running then is abandoned to its lease."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
