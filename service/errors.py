"""Every error answer is a FHIR OperationOutcome with a catalogue code and the right status.

Handlers here turn catalogue errors, HTTP errors raised by Flask/werkzeug (404, 405, 413) and
anything unexpected into OperationOutcomes.  An unexpected exception is logged by class name
with the request id and answered with INTERNAL_ERROR: no stack trace and no exception text
(which can quote the note) ever reaches a client.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from note2fhir.errors import ErrorCode, Note2FhirError, operation_outcome
from service.logs import current_request_id
from service.metrics import record_failure

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    """A FHIR JSON response (``application/fhir+json; charset=utf-8``)."""
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype=FHIR_JSON)


def error_response(errors: list[Note2FhirError], status: int | None = None) -> Response:
    """An OperationOutcome of ``errors``; the status is the first error's unless given."""
    response = fhir_response(operation_outcome(errors), status or errors[0].http_status)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="note2fhir"'
    return response


def _from_http(exc: HTTPException) -> Note2FhirError:
    code = exc.code or 500
    if code == 404:
        return Note2FhirError(ErrorCode.REQUEST_NOT_FOUND)
    if code == 405:
        return Note2FhirError(ErrorCode.REQUEST_METHOD_NOT_ALLOWED, method=request.method)
    if code == 413:
        from service.state import get_state  # noqa: PLC0415 - only needed on this path

        limit = get_state().settings.max_request_bytes
        return Note2FhirError(ErrorCode.REQUEST_TOO_LARGE, limit=limit)
    if code == 415:
        return Note2FhirError(ErrorCode.REQUEST_MEDIA_TYPE, content_type="?")
    if 400 <= code < 500:
        return Note2FhirError(ErrorCode.INPUT_NOT_READABLE, reason=f"HTTP {code}")
    return Note2FhirError(ErrorCode.INTERNAL_ERROR, request_id=current_request_id() or "-")


def register_error_handlers(app: Flask) -> None:
    """Answer every error of ``app`` with an OperationOutcome."""

    @app.errorhandler(Note2FhirError)
    def _catalogue(err: Note2FhirError) -> Response:
        record_failure(err)
        return error_response([err])

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        err = _from_http(exc)
        record_failure(err)
        response = error_response([err], exc.code or 500)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        request_id = current_request_id() or "-"
        # The class name only: exception text and tracebacks can quote the note.
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        log.error(
            "unhandled %s on %s %s at %s",
            type(exc).__name__,
            request.method,
            request.url_rule.rule if request.url_rule else "unmatched",
            " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames)),
        )
        err = Note2FhirError(ErrorCode.INTERNAL_ERROR, request_id=request_id)
        record_failure(err)
        return error_response([err])
