"""The processing API: ``$process`` on DocumentReference and DiagnosticReport, and batches.

- ``POST /fhir/DocumentReference/$process`` (and ``DiagnosticReport``): the body is the
  resource, or a ``Parameters`` resource with it as the ``resource`` parameter (and an
  optional ``bundleType``).  One attachment gives its result Bundle; several give a
  ``collection`` Bundle holding each attachment's Bundle (or OperationOutcome); when every
  attachment fails the answer is the OperationOutcome with the first error's status.
- ``POST /fhir``: a ``batch`` or ``transaction`` Bundle of such resources gives a
  ``batch-response`` with one entry per request entry, in order, each with its own status;
  one bad document never fails the others.  Patient entries ride along as context (the
  reader links them to documents by ``subject``) and are answered ``200 OK``.

Reading, the pipeline and the Bundle builders are the library's :class:`~note2fhir.engine.
Engine`; this module only moves JSON in and out and counts what happened.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any, TypeAlias

from flask import Blueprint, Response, request

from note2fhir.document import ClinicalDocument
from note2fhir.engine import Engine
from note2fhir.errors import ErrorCode, Note2FhirError, operation_outcome
from note2fhir.settings import BundleType
from service.errors import error_response, fhir_response
from service.metrics import record_document, record_failure
from service.state import get_state

bp = Blueprint("api", __name__, url_prefix="/fhir")

JSON_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})
BUNDLE_TYPES: frozenset[str] = frozenset({"collection", "transaction", "document"})
_BATCH_TYPES = frozenset({"batch", "transaction"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_MEDIA = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
_ENTRY = re.compile(r"Bundle entry\[(\d+)\]")

Result: TypeAlias = dict[str, Any] | Note2FhirError


@bp.post("/DocumentReference/$process")
def process_document_reference() -> Response:
    """$process on a DocumentReference: the result Bundle."""
    return _process("DocumentReference")


@bp.post("/DiagnosticReport/$process")
def process_diagnostic_report() -> Response:
    """$process on a DiagnosticReport: the result Bundle."""
    return _process("DiagnosticReport")


@bp.post("")
def batch() -> Response:
    """A batch or transaction Bundle of documents: a batch-response Bundle."""
    body = read_json_body()
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Note2FhirError(
            ErrorCode.BUNDLE_TYPE_UNSUPPORTED, found=f"a {_resource_type_name(body)}"
        )
    bundle_type = body.get("type")
    if bundle_type not in _BATCH_TYPES:
        found = (
            f"type {bundle_type}"
            if isinstance(bundle_type, str) and _NAME.fullmatch(bundle_type.replace("-", ""))
            else "a Bundle without a valid type"
        )
        raise Note2FhirError(ErrorCode.BUNDLE_TYPE_UNSUPPORTED, found=found)
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise Note2FhirError(
            ErrorCode.RESOURCE_INVALID,
            resource_type="Bundle",
            reason="entry is not a list",
            expression="Bundle.entry",
        )
    engine = get_state().engine
    unwrapped: list[Any] = []
    early: dict[int, Note2FhirError] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
            try:
                resource, _ = _unwrap_parameters(resource)
            except Note2FhirError as err:
                early[index] = err.at(f"Bundle entry[{index}]")
                resource = None
        if resource is None and index not in early:
            early[index] = Note2FhirError(
                ErrorCode.INPUT_NOT_RESOURCE,
                location=f"Bundle entry[{index}]",
                found="an entry without a resource",
            )
        unwrapped.append({**entry, "resource": resource} if isinstance(entry, dict) else entry)

    grouped: dict[int, list[Result]] = {}
    items = engine.run(
        engine.read_resource({**body, "type": "collection", "entry": unwrapped}, location="Bundle")
    )
    for item in items:
        where = item.location if isinstance(item, Note2FhirError) else item.source.location
        match = _ENTRY.match(where)
        if match is None:
            continue  # BUNDLE_EMPTY: every entry is answered on its own below
        grouped.setdefault(int(match.group(1)), []).append(_render(engine, item, None))

    response_entries = []
    for index, entry in enumerate(unwrapped):
        results = grouped.get(index)
        if index in early:
            response_entries.append(_entry_error([early[index]]))
        elif results:
            response_entries.append(_entry(results))
        else:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            rtype = resource.get("resourceType") if isinstance(resource, dict) else None
            if rtype == "Patient":
                response_entries.append({"response": {"status": _status(200)}})
            else:
                unsupported = Note2FhirError(
                    ErrorCode.RESOURCE_TYPE_UNSUPPORTED,
                    location=f"Bundle entry[{index}]",
                    resource_type=_resource_type_name(resource),
                )
                record_failure(unsupported)
                response_entries.append(_entry_error([unsupported]))
    return fhir_response(
        {"resourceType": "Bundle", "type": "batch-response", "entry": response_entries}
    )


def _process(expected: str) -> Response:
    body = read_json_body()
    bundle_type: BundleType | None = None
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        body, bundle_type = _unwrap_parameters(body)
    found = body.get("resourceType") if isinstance(body, dict) else None
    if isinstance(found, str) and found != expected:
        raise Note2FhirError(
            ErrorCode.REQUEST_RESOURCE_MISMATCH,
            found=_resource_type_name(body),
            expected=expected,
        )
    engine = get_state().engine
    results = [
        _render(engine, item, bundle_type)
        for item in engine.run(engine.read_resource(body, location=expected))
    ]
    errors = [r for r in results if isinstance(r, Note2FhirError)]
    if len(errors) == len(results):
        return error_response(errors)
    if len(results) == 1:
        only = results[0]
        assert not isinstance(only, Note2FhirError)
        return fhir_response(only)
    return fhir_response(_collection(results))


def read_json_body() -> Any:
    """The request body parsed as JSON, or the catalogue error that says why not (415 for
    another media type, 413 over the size limit, 400 for bytes that are not JSON)."""
    media = request.mimetype
    if media not in JSON_MEDIA_TYPES:
        shown = media if _MEDIA.fullmatch(media) else "missing or unreadable"
        raise Note2FhirError(ErrorCode.REQUEST_MEDIA_TYPE, content_type=shown)
    limit = get_state().settings.max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise Note2FhirError(ErrorCode.REQUEST_TOO_LARGE, limit=limit)
    raw = request.stream.read(limit + 1)  # bounded also when the body is chunked
    if len(raw) > limit:
        raise Note2FhirError(ErrorCode.REQUEST_TOO_LARGE, limit=limit)
    if not raw.strip():
        raise Note2FhirError(ErrorCode.INPUT_NOT_JSON, reason="the body is empty")
    try:
        return json.loads(raw.decode("utf-8-sig"))  # RFC 8259: JSON between systems is UTF-8
    except UnicodeDecodeError:
        raise Note2FhirError(ErrorCode.INPUT_NOT_READABLE, reason="the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        # msg, line and column only: exc's str() would quote the document
        raise Note2FhirError(
            ErrorCode.INPUT_NOT_JSON, reason=f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise Note2FhirError(ErrorCode.INPUT_NOT_JSON, reason="nested too deeply") from None


def _unwrap_parameters(parameters: dict[str, Any]) -> tuple[Any, BundleType | None]:
    """The resource (and bundleType) a Parameters resource carries."""
    params = parameters.get("parameter")
    resource: Any = None
    bundle_type: BundleType | None = None
    if isinstance(params, list):
        for param in params:
            if not isinstance(param, dict):
                continue
            if param.get("name") == "bundleType":
                value = param.get("valueCode")
                if value not in BUNDLE_TYPES:
                    raise Note2FhirError(
                        ErrorCode.RESOURCE_INVALID,
                        resource_type="Parameters",
                        reason="bundleType must be collection, transaction or document",
                        expression="Parameters.parameter",
                    )
                bundle_type = value
            elif (
                resource is None
                and isinstance(param.get("resource"), dict)
                and param.get("name") in ("resource", None)
            ):
                resource = param["resource"]
    if resource is None:
        raise Note2FhirError(ErrorCode.PARAMETERS_NO_RESOURCE, expression="Parameters.parameter")
    return resource, bundle_type


def _render(
    engine: Engine, item: ClinicalDocument | Note2FhirError, bundle_type: BundleType | None
) -> Result:
    if isinstance(item, Note2FhirError):
        record_failure(item)
        return item
    try:
        bundle = engine.bundle(item, bundle_type)
    except Note2FhirError as err:
        record_failure(err)
        return err.at(item.source.location)
    record_document(item)
    return bundle


def _collection(results: list[Result]) -> dict[str, Any]:
    """A collection Bundle of per-attachment results (a Bundle, or the OperationOutcome of
    the attachment that failed)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": r.to_operation_outcome() if isinstance(r, Note2FhirError) else r}
            for r in results
        ],
    }


def _entry(results: list[Result]) -> dict[str, Any]:
    errors = [r for r in results if isinstance(r, Note2FhirError)]
    if len(errors) == len(results):
        return _entry_error(errors)
    only = results[0] if len(results) == 1 else _collection(results)
    assert not isinstance(only, Note2FhirError)
    return {"resource": only, "response": {"status": _status(200)}}


def _entry_error(errors: list[Note2FhirError]) -> dict[str, Any]:
    return {
        "response": {
            "status": _status(errors[0].http_status),
            "outcome": operation_outcome(errors),
        }
    }


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _resource_type_name(value: Any) -> str:
    """A resource type safe to quote (a FHIR type name), or a description of the value."""
    if isinstance(value, dict):
        rtype = value.get("resourceType")
        if isinstance(rtype, str) and _NAME.fullmatch(rtype):
            return rtype
        return "object without a valid resourceType"
    return {list: "array", str: "string", bool: "boolean"}.get(type(value), "JSON value")
