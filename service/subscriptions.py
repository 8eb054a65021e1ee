"""The subscription receiver and the queue admin endpoints.

FHIR servers notify us in three ways, all answered as soon as the work is durably queued
(the worker does it afterwards, see :mod:`service.worker`):

- R4 rest-hook with a full-resource payload: ``PUT {subscription_path}/DocumentReference/{id}``
  with the resource (what HAPI FHIR sends); a PUT without a body is an id-only notification
  and the resource is read from the source server.
- R4 rest-hook with an empty payload: ``POST {subscription_path}`` with no body.  It names
  nothing, so a ``sync`` job searches the source server for what changed since the last one.
- Topic-based notifications (R4 backport IG, R4B): ``POST {subscription_path}`` with a
  ``history`` Bundle whose first entry is the status (``Parameters`` in R4,
  ``SubscriptionStatus`` in R4B).  Handshakes, heartbeats and queries are acknowledged
  without work; each event's ``focus`` is queued with the resource when the Bundle carries it
  (full-resource), else by reference (id-only).

The admin endpoints list dead letters and replay them.  Inbound auth is the app's: every
endpoint here needs a bearer token.

:func:`init_app` wires all of it into an app made by :func:`service.app.create_app`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.readers import DOCUMENT_TYPES
from service.errors import fhir_response
from service.fhir_client import FhirClient, clients_from_settings
from service.queue import JobQueue, QueueError, open_queue
from service.state import ServiceState
from service.worker import Worker
from service.writeback import NOTE_JOB, SYNC_JOB, WriteBack, note_job, note_key

log = logging.getLogger(__name__)

EXTENSION_KEY = "note2fhir.writeback"
JSON_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
ACK_TYPES = frozenset({"handshake", "heartbeat", "query-status", "query-event"})
MAX_EVENTS = 1000
"""Events one notification may carry; more is refused (422) rather than half queued."""
MAX_DEAD_LETTER_PAGE = 500
_FHIR_ID = re.compile(r"[A-Za-z0-9.-]{1,64}")

subscriptions_blueprint = Blueprint("subscriptions", __name__)
"""The rest-hook receiver; registered by :func:`init_app` at ``settings.subscription_path``."""

admin_blueprint = Blueprint("queue_admin", __name__, url_prefix="/admin")
"""Queue depth and dead letters: ``GET /admin/queue``, ``GET /admin/dead-letters``,
``POST /admin/dead-letters/{id}/replay``."""


@dataclass
class WritebackState:
    """The queue, clients and worker of one service process."""

    queue: JobQueue
    source: FhirClient | None
    target: FhirClient | None
    worker: Worker | None

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedupe_key: str | None) -> int:
        """Queue a job durably and wake this process's worker; 503 when the queue fails."""
        try:
            job_id = self.queue.enqueue(kind, payload, dedupe_key=dedupe_key)
        except QueueError as exc:
            log.error("cannot queue a %s job: %s", kind, exc)
            raise Note2FhirError(ErrorCode.QUEUE_UNAVAILABLE, reason="storage error") from None
        if self.worker is not None:
            self.worker.wake()
        return job_id


def init_app(app: Flask, state: ServiceState) -> WritebackState:
    """Open the queue, build the clients and worker, register the blueprints and the
    readiness check, gauges and worker hooks on the app's :class:`ServiceState`.

    ``create_app`` calls it.  The worker thread is not started here:
    ``ServiceState.start_workers`` starts it in each gunicorn worker after the fork (tests
    call it themselves).
    """
    settings = state.settings
    queue = open_queue(settings)
    source, target = clients_from_settings(settings)
    worker: Worker | None = None
    if target is not None and settings.writeback_worker:
        handler = WriteBack(
            state.build_engine,
            target=target,
            source=source,
            queue=queue,
            criteria=settings.subscription_criteria,
        )
        worker = Worker(
            queue,
            handler,
            max_attempts=settings.writeback_max_attempts,
            backoff_base_s=settings.writeback_backoff_base_s,
            backoff_max_s=settings.writeback_backoff_max_s,
            lease_s=settings.writeback_lease_s,
            poll_s=settings.writeback_poll_s,
            on_outcome=_outcome_hook(app),
        )
        state.worker_start.append(worker.start)
        state.worker_stop.append(worker.stop)
    writeback = WritebackState(queue=queue, source=source, target=target, worker=worker)
    app.extensions[EXTENSION_KEY] = writeback
    app.register_blueprint(subscriptions_blueprint, url_prefix=settings.subscription_path)
    app.register_blueprint(admin_blueprint)

    def queue_ready() -> None:
        try:
            queue.ping()
        except QueueError:
            raise Note2FhirError(
                ErrorCode.SERVICE_NOT_READY, reason="the work queue cannot be reached"
            ) from None

    state.readiness_checks["queue"] = queue_ready
    state.gauges["note2fhir_queue_depth"] = (
        "Write-back jobs waiting, backing off or running.",
        lambda: float(queue.depth()),
    )
    state.gauges["note2fhir_dead_letters"] = (
        "Write-back jobs in the dead-letter table.",
        lambda: float(queue.dead_letter_count()),
    )
    return writeback


def _outcome_hook(app: Flask) -> Any:
    """The metrics module's job counter, when it offers one (``record_job(kind, outcome)``)."""
    try:
        from service import metrics  # noqa: PLC0415 - optional coupling to half of the app

        record = getattr(metrics, "record_job", None)
    except ImportError:
        record = None
    return record if callable(record) else None


def _writeback() -> WritebackState:
    writeback: WritebackState = current_app.extensions[EXTENSION_KEY]
    return writeback


def _ack(message: str, status: int = 200) -> Response:
    return fhir_response(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": message}],
        },
        status,
    )


def _json_body() -> Any:
    """The request's JSON, or None when the body is empty."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return None
    media_type = (request.mimetype or "").lower()
    if media_type and media_type not in JSON_MEDIA_TYPES:
        raise Note2FhirError(ErrorCode.REQUEST_MEDIA_TYPE, content_type=media_type[:100])
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = getattr(exc, "msg", "malformed")
        raise Note2FhirError(ErrorCode.INPUT_NOT_JSON, reason=str(reason)[:100]) from None


def _require_target() -> WritebackState:
    writeback = _writeback()
    if writeback.target is None:
        raise Note2FhirError(ErrorCode.WRITEBACK_NOT_CONFIGURED, detail="")
    return writeback


def _check_type(resource_type: str) -> None:
    if resource_type not in DOCUMENT_TYPES:
        raise Note2FhirError(
            ErrorCode.RESOURCE_TYPE_UNSUPPORTED, resource_type=_safe(resource_type)
        )


def _queue_resource(writeback: WritebackState, resource: dict[str, Any]) -> int:
    resource_type = str(resource.get("resourceType"))
    resource_id = resource.get("id")
    key = note_key(resource_type, resource_id if isinstance(resource_id, str) else None)
    return writeback.enqueue(NOTE_JOB, note_job(resource=resource), dedupe_key=key)


def _queue_reference(writeback: WritebackState, reference: str) -> int:
    resource_id = reference.partition("/")[2]
    if not _FHIR_ID.fullmatch(resource_id) or not resource_id.strip("."):
        raise Note2FhirError(ErrorCode.NOTIFICATION_INVALID, reason="not a valid resource id")
    if writeback.source is None:
        raise Note2FhirError(
            ErrorCode.WRITEBACK_NOT_CONFIGURED,
            detail="; id-only notifications also need NOTE2FHIR_SOURCE_FHIR_BASE_URL",
        )
    return writeback.enqueue(NOTE_JOB, note_job(reference=reference), dedupe_key=reference)


@subscriptions_blueprint.put("/<resource_type>/<resource_id>")
@subscriptions_blueprint.post("/<resource_type>/<resource_id>")
def resource_notification(resource_type: str, resource_id: str) -> Response:
    """Rest-hook delivery of one resource: full (with a body) or id-only (without)."""
    _check_type(resource_type)
    writeback = _require_target()
    body = _json_body()
    if body is None:
        job_id = _queue_reference(writeback, f"{resource_type}/{resource_id}")
        return _ack(f"queued as job {job_id} (id-only)", 202)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID, reason=f"the body is not a {resource_type}"
        )
    if body.get("id") not in {None, resource_id}:
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID, reason="the resource id differs from the url's"
        )
    body.setdefault("id", resource_id)
    return _ack(f"queued as job {_queue_resource(writeback, body)}", 202)


@subscriptions_blueprint.post("/<resource_type>")
def resource_create_notification(resource_type: str) -> Response:
    """Rest-hook delivery that POSTs the full resource to ``{endpoint}/{type}``."""
    _check_type(resource_type)
    writeback = _require_target()
    body = _json_body()
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID, reason=f"the body is not a {resource_type}"
        )
    return _ack(f"queued as job {_queue_resource(writeback, body)}", 202)


@subscriptions_blueprint.delete("/<resource_type>/<resource_id>")
def delete_notification(resource_type: str, resource_id: str) -> Response:
    """A deleted resource: acknowledged; results already written are left in place."""
    return _ack("deletion acknowledged; nothing to do")


@subscriptions_blueprint.post("")
@subscriptions_blueprint.post("/")
def notification() -> Response:
    """An empty rest-hook notification, a topic notification Bundle, or a bare resource."""
    writeback = _require_target()
    body = _json_body()
    if body is None:
        if writeback.source is None:
            raise Note2FhirError(
                ErrorCode.WRITEBACK_NOT_CONFIGURED,
                detail="; empty notifications also need NOTE2FHIR_SOURCE_FHIR_BASE_URL",
            )
        # Coalesced: a burst of empty notifications makes one search.
        job_id = writeback.enqueue(SYNC_JOB, {}, dedupe_key="sync")
        return _ack(f"queued as job {job_id} (search for changes)", 202)
    if not isinstance(body, dict):
        raise Note2FhirError(ErrorCode.NOTIFICATION_INVALID, reason="not a FHIR resource")
    resource_type = body.get("resourceType")
    if resource_type in DOCUMENT_TYPES:
        return _ack(f"queued as job {_queue_resource(writeback, body)}", 202)
    if resource_type != "Bundle":
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID,
            reason=f"a notification Bundle was expected, found {_safe(str(resource_type))}",
        )
    return _bundle_notification(writeback, body)


def _bundle_notification(writeback: WritebackState, bundle: dict[str, Any]) -> Response:
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    status = entries[0].get("resource") if entries else None
    if not isinstance(status, dict) or status.get("resourceType") not in {
        "Parameters",
        "SubscriptionStatus",
    }:
        # Not a topic notification: a plain history/collection Bundle of resources.
        resources = [e.get("resource") for e in entries]
        documents = [
            r for r in resources if isinstance(r, dict) and r.get("resourceType") in DOCUMENT_TYPES
        ]
        if not documents:
            raise Note2FhirError(
                ErrorCode.NOTIFICATION_INVALID,
                reason="the Bundle has no subscription status and no document entry",
            )
        job_ids = [_queue_resource(writeback, r) for r in documents[:MAX_EVENTS]]
        return _ack(f"queued {len(job_ids)} job(s)", 202)
    kind, focuses = _status(status)
    if kind in ACK_TYPES:
        log.info("subscription %s acknowledged", kind)
        return _ack(f"{kind} acknowledged")
    if kind != "event-notification":
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID, reason=f"unknown notification type {_safe(kind)}"
        )
    carried: dict[str, dict[str, Any]] = {}
    for entry in entries[1:]:
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") in DOCUMENT_TYPES:
            for key in (entry.get("fullUrl"), _relative(str(entry.get("fullUrl") or ""))):
                if isinstance(key, str) and key:
                    carried[key] = resource
            if isinstance(resource.get("id"), str):
                carried[f"{resource['resourceType']}/{resource['id']}"] = resource
    if not focuses:
        # No events listed: take the resources the Bundle carries.
        unique = list({id(r): r for r in carried.values()}.values())[:MAX_EVENTS]
        for resource in unique:
            _queue_resource(writeback, resource)
        return _ack(f"queued {len(unique)} job(s)", 202 if unique else 200)
    if len(focuses) > MAX_EVENTS:
        raise Note2FhirError(
            ErrorCode.NOTIFICATION_INVALID, reason=f"more than {MAX_EVENTS} events"
        )
    queued = 0
    for focus in focuses:
        relative = _relative(focus)
        if relative is None or relative.split("/", 1)[0] not in DOCUMENT_TYPES:
            continue
        resource = carried.get(focus) or carried.get(relative)
        if resource is not None:
            _queue_resource(writeback, resource)
        else:
            _queue_reference(writeback, relative)
        queued += 1
    return _ack(f"queued {queued} job(s)", 202 if queued else 200)


def _status(status: dict[str, Any]) -> tuple[str, list[str]]:
    """Notification type and event focus references of a Parameters (R4 backport) or
    SubscriptionStatus (R4B) status resource."""
    if status.get("resourceType") == "SubscriptionStatus":
        kind = status.get("type")
        focuses = [
            event.get("focus", {}).get("reference")
            for event in status.get("notificationEvent") or []
            if isinstance(event, dict) and isinstance(event.get("focus"), dict)
        ]
        return str(kind or ""), [f for f in focuses if isinstance(f, str)]
    kind = ""
    found: list[str] = []
    for parameter in status.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "type":
            kind = str(parameter.get("valueCode") or "")
        elif parameter.get("name") == "notification-event":
            for part in parameter.get("part") or []:
                if isinstance(part, dict) and part.get("name") == "focus":
                    reference = (part.get("valueReference") or {}).get("reference")
                    if isinstance(reference, str):
                        found.append(reference)
    return kind, found


def _relative(reference: str) -> str | None:
    """``Type/id`` of a relative or absolute reference (a ``_history`` suffix dropped)."""
    parts = [p for p in reference.split("?", 1)[0].split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _safe(value: str) -> str:
    cleaned = "".join(ch for ch in value if ch.isalnum() or ch in "-_.")
    return cleaned[:64] or "(none)"


@admin_blueprint.get("/queue")
def queue_status() -> Response:
    """Jobs waiting or running, and dead letters."""
    queue = _writeback().queue
    return _json({"depth": queue.depth(), "deadLetters": queue.dead_letter_count()})


@admin_blueprint.get("/dead-letters")
def list_dead_letters() -> Response:
    """Dead letters, newest first (``_count``, ``_offset``); payloads are not shown."""
    count = _int_arg("_count", 100, 1, MAX_DEAD_LETTER_PAGE)
    offset = _int_arg("_offset", 0, 0, 10**9)
    queue = _writeback().queue
    letters = queue.dead_letters(limit=count, offset=offset)
    return _json(
        {
            "total": queue.dead_letter_count(),
            "deadLetters": [letter.summary() for letter in letters],
        }
    )


@admin_blueprint.post("/dead-letters/<int:dead_letter_id>/replay")
def replay_dead_letter(dead_letter_id: int) -> Response:
    """Queue a dead letter again, with fresh attempts."""
    writeback = _writeback()
    # SQLite integers are 64-bit: a larger id names no row (and would overflow the driver).
    job_id = writeback.queue.replay(dead_letter_id) if dead_letter_id < 2**63 else None
    if job_id is None:
        raise Note2FhirError(ErrorCode.DEAD_LETTER_NOT_FOUND, id=dead_letter_id)
    if writeback.worker is not None:
        writeback.worker.wake()
    log.info("dead letter %d replayed as job %d", dead_letter_id, job_id)
    return _json({"jobId": job_id}, 202)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise Note2FhirError(ErrorCode.INPUT_NOT_READABLE, reason=f"{name} must be a number")
    return max(low, min(high, int(raw)))


def _json(value: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")
