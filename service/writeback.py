"""What a queued job does: read the note, run the pipeline, write the result back.

Two kinds of job:

- ``note``: the payload holds a DocumentReference/DiagnosticReport (``resource``: the full
  resource a notification carried) or names one (``reference``: ``DocumentReference/123``,
  read from the source server).  Each document made from it is processed by the engine and
  POSTed to the target server as a ``transaction`` Bundle of conditional creates, so doing
  the job twice creates nothing twice.
- ``sync``: an empty notification said only "something changed".  The source server is
  searched with ``subscription_criteria`` for resources updated since the last sync (a
  watermark kept in the queue's state table) and a ``note`` job is queued for each.

Failures raise :class:`JobError`, which tells the worker whether a retry can help.  Its
reason is a catalogue code or an HTTP status, never note content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from note2fhir.engine import Engine
from note2fhir.errors import Note2FhirError
from note2fhir.fhir.readers import DOCUMENT_TYPES
from service.fhir_client import FhirClient, FhirRequestError
from service.queue import Job, JobQueue

log = logging.getLogger(__name__)

NOTE_JOB = "note"
SYNC_JOB = "sync"
WATERMARK_KEY = "subscription.last_updated"
SYNC_PAGE_SIZE = 100
MAX_SYNC_PAGES = 50
"""Pages one sync job reads at most; the watermark lets the next one go on from there."""
_TRANSIENT_STATUSES = frozenset({502, 503, 504})


class JobError(Exception):
    """A job failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, reason: str, *, retryable: bool, retry_after_s: float | None = None):
        self.reason = reason
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        super().__init__(reason)

    @classmethod
    def from_request(cls, exc: FhirRequestError, *, server: str) -> JobError:
        """A failure of a request to the ``server`` ('source' or 'target')."""
        return cls(
            f"{server} server: {exc.reason}",
            retryable=exc.retryable,
            retry_after_s=exc.retry_after_s,
        )


def note_job(
    resource: dict[str, Any] | None = None, reference: str | None = None
) -> dict[str, Any]:
    """The payload of a ``note`` job: the full resource, or a reference to read."""
    if resource is not None:
        return {"resource": resource}
    if reference is None:
        raise ValueError("a note job needs a resource or a reference")
    return {"reference": reference}


def note_key(resource_type: str, resource_id: str | None) -> str | None:
    """The dedupe key of a note (``DocumentReference/123``), None without an id."""
    return f"{resource_type}/{resource_id}" if resource_id else None


class WriteBack:
    """Runs ``note`` and ``sync`` jobs against the source and target servers."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        target: FhirClient,
        source: FhirClient | None,
        queue: JobQueue,
        criteria: str = "DocumentReference",
    ) -> None:
        self.get_engine = engine
        """Gives the engine, built on first use (in the worker process, after the fork)."""
        self.target = target
        self.source = source
        self.queue = queue
        self.criteria = criteria

    def __call__(self, job: Job) -> str:
        """Do ``job``; the outcome (``written``, ``skipped``, ``gone``, ``synced``) or raise
        :class:`JobError`."""
        if job.kind == NOTE_JOB:
            return self.process_note(job.payload, location=f"job {job.id}")
        if job.kind == SYNC_JOB:
            return self.sync()
        raise JobError(f"unknown job kind {job.kind[:40]!r}", retryable=False)

    def process_note(self, payload: dict[str, Any], *, location: str) -> str:
        """Process one note job: all its documents are written, or it raises."""
        resource = payload.get("resource")
        if resource is None:
            reference = payload.get("reference")
            if not isinstance(reference, str):
                raise JobError("the job names no resource", retryable=False)
            if self.source is None:
                raise JobError("no source FHIR server is configured", retryable=False)
            try:
                resource = self.source.read(reference)
            except FhirRequestError as exc:
                if exc.status in {404, 410}:
                    log.info("%s: the note is gone from the source server", location)
                    return "gone"
                raise JobError.from_request(exc, server="source") from None
        engine = self.get_engine()
        written = 0
        failures: list[Note2FhirError] = []
        for item in engine.run(engine.read_resource(resource, location=location)):
            if isinstance(item, Note2FhirError):
                if item.code.spec.severity != "warning":
                    failures.append(item)
                continue
            bundle = engine.bundle(item, "transaction")
            try:
                self.target.transaction(bundle)
            except FhirRequestError as exc:
                raise JobError.from_request(exc, server="target") from None
            written += 1
        if failures:
            # The good documents are written (again, harmlessly, on a retry); a failure that a
            # later try can fix (an attachment fetch, a terminology not yet loaded) retries.
            retryable = any(err.http_status in _TRANSIENT_STATUSES for err in failures)
            raise JobError(
                ", ".join(sorted({err.code.name for err in failures})), retryable=retryable
            )
        return "written" if written else "skipped"

    def sync(self) -> str:
        """Queue a note job for each resource the source updated since the last sync."""
        if self.source is None:
            raise JobError("no source FHIR server is configured", retryable=False)
        watermark = self.queue.get_state(WATERMARK_KEY)
        separator = "&" if "?" in self.criteria else "?"
        url: str | None = (
            f"{self.criteria}{separator}_sort=_lastUpdated&_count={SYNC_PAGE_SIZE}"
            + (f"&_lastUpdated=ge{quote(watermark, safe=':-.')}" if watermark else "")
        )
        newest = watermark
        queued = 0
        for _ in range(MAX_SYNC_PAGES):
            if url is None:
                break
            try:
                page = self.source.read(url)
            except FhirRequestError as exc:
                raise JobError.from_request(exc, server="source") from None
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                resource_type = resource.get("resourceType")
                if resource_type not in DOCUMENT_TYPES:
                    continue
                self.queue.enqueue(
                    NOTE_JOB,
                    note_job(resource=resource),
                    dedupe_key=note_key(str(resource_type), resource.get("id")),
                )
                queued += 1
                updated = (resource.get("meta") or {}).get("lastUpdated")
                if _instant(updated) > _instant(newest):
                    newest = str(updated)
            url = _next_link(page)
            # Keep progress after each page, so a failure on a later one loses nothing.
            if newest and newest != watermark:
                self.queue.set_state(WATERMARK_KEY, newest)
                watermark = newest
        log.info("sync queued %d notes", queued)
        return "synced"


_NEVER = datetime.min.replace(tzinfo=UTC)


def _instant(value: object) -> datetime:
    """A FHIR instant as an aware datetime; anything unreadable sorts first."""
    if not isinstance(value, str):
        return _NEVER
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _NEVER
    return parsed if parsed.tzinfo else _NEVER


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
