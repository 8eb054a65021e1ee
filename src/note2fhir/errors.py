"""One catalogue of the errors note2fhir reports, and how they become OperationOutcomes.

Every message is a fixed template filled with values that cannot carry PHI (media types,
counts, field paths, stage names).  Never put note text, exception text from a parser, or
resource values into a message: clients, logs and error files all see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

ERROR_CODE_SYSTEM = "urn:note2fhir:error-code"
"""System of the ``OperationOutcome.issue.details`` codings we emit."""


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An entry of the catalogue: FHIR issue type, HTTP status and message template."""

    issue_type: str
    http_status: int
    template: str
    severity: str = "error"


class ErrorCode(Enum):
    """Every error a document, request or configuration can fail with."""

    INPUT_NOT_READABLE = ErrorSpec("invalid", 400, "the input could not be read: {reason}")
    INPUT_NOT_JSON = ErrorSpec("invalid", 400, "not valid JSON: {reason}")
    INPUT_NOT_RESOURCE = ErrorSpec(
        "structure", 422, "a JSON object with a resourceType was expected, found {found}"
    )
    RESOURCE_TYPE_UNSUPPORTED = ErrorSpec(
        "not-supported",
        422,
        "resource type {resource_type} holds no note; send a DocumentReference, "
        "DiagnosticReport or a Bundle of them",
    )
    RESOURCE_INVALID = ErrorSpec("structure", 422, "{resource_type} is not valid: {reason}")
    BUNDLE_EMPTY = ErrorSpec(
        "not-found", 422, "the Bundle holds no DocumentReference or DiagnosticReport entry"
    )
    NO_ATTACHMENT = ErrorSpec("required", 422, "{resource_type} has no attachment to read")
    ATTACHMENT_EMPTY = ErrorSpec("required", 422, "attachment {path} has neither data nor url")
    ATTACHMENT_BASE64 = ErrorSpec("invalid", 400, "attachment {path} data is not valid base64")
    ATTACHMENT_HASH_MISMATCH = ErrorSpec(
        "invalid", 422, "attachment {path} does not match its SHA-1 hash"
    )
    ATTACHMENT_CHARSET = ErrorSpec(
        "not-supported", 415, "attachment {path} declares an unknown charset {charset}"
    )
    ATTACHMENT_DECODE = ErrorSpec("invalid", 422, "attachment {path} is not valid {charset} text")
    MEDIA_TYPE_UNSUPPORTED = ErrorSpec(
        "not-supported",
        415,
        "attachment {path} has content type {content_type}; supported: text/plain, text/html, "
        "application/xhtml+xml, application/pdf",
    )
    ATTACHMENT_TOO_LARGE = ErrorSpec(
        "too-long", 413, "attachment {path} is larger than the limit of {limit} bytes"
    )
    PDF_UNREADABLE = ErrorSpec("invalid", 422, "attachment {path} is not a readable PDF")
    PDF_NO_TEXT = ErrorSpec(
        "processing",
        422,
        "attachment {path} is a PDF without a text layer (a scan?); OCR it before sending",
    )
    URL_NOT_ALLOWED = ErrorSpec(
        "security", 422, "attachment {path} url points to a host that is not allowed: {host}"
    )
    URL_NOT_RESOLVABLE = ErrorSpec(
        "not-supported",
        422,
        "attachment {path} has a relative url and no FHIR base URL is configured",
    )
    URL_FETCH_FAILED = ErrorSpec(
        "transient", 502, "attachment {path} could not be fetched: {reason}"
    )
    URL_SCHEME_UNSUPPORTED = ErrorSpec(
        "not-supported", 422, "attachment {path} url has scheme {scheme}; only http(s) is fetched"
    )
    URL_FETCH_DISABLED = ErrorSpec(
        "not-supported", 422, "attachment {path} has only a url, and fetching urls is turned off"
    )
    DOCUMENT_ENTERED_IN_ERROR = ErrorSpec(
        "business-rule",
        422,
        "{resource_type} is marked entered-in-error and was skipped",
        severity="warning",
    )
    TEXT_RECORD_INVALID = ErrorSpec(
        "structure", 422, "a text record needs a string 'text' field: {reason}"
    )
    STAGE_FAILED = ErrorSpec(
        "exception", 500, "stage {stage} failed on this document ({exception})"
    )
    OUTPUT_INVALID = ErrorSpec(
        "exception", 500, "the generated {resource_type} failed FHIR validation at {fields}"
    )
    PIPELINE_INVALID = ErrorSpec("invalid", 500, "pipeline configuration: {reason}")
    SETTINGS_INVALID = ErrorSpec("invalid", 500, "settings: {reason}")
    TERMINOLOGY_MISSING = ErrorSpec(
        "not-found",
        503,
        "no terminology artifact at {path}; build it with `note2fhir terminology build`",
    )
    TERMINOLOGY_INVALID = ErrorSpec(
        "exception", 503, "the terminology artifact at {path} cannot be used: {reason}"
    )
    TERMINOLOGY_SOURCE_INVALID = ErrorSpec("invalid", 500, "terminology source {source}: {reason}")
    DEID_TIMEOUT = ErrorSpec(
        "too-costly",
        422,
        "de-identification exceeded its time budget of {limit} ms for this document; the "
        "document was not processed",
    )
    DEID_SECRET_MISSING = ErrorSpec(
        "invalid",
        500,
        "the deid stage needs deid_secret (NOTE2FHIR_DEID_SECRET) for surrogate or shift_dates "
        "mode; set it, or deid_allow_ephemeral_secret for development",
    )
    # HTTP service (service/): request-level errors
    REQUEST_UNAUTHORIZED = ErrorSpec("login", 401, "a valid bearer token is required: {reason}")
    REQUEST_FORBIDDEN = ErrorSpec("forbidden", 403, "the token does not grant {scope}")
    REQUEST_NOT_FOUND = ErrorSpec("not-found", 404, "no such endpoint; see GET /fhir/metadata")
    REQUEST_METHOD_NOT_ALLOWED = ErrorSpec(
        "not-supported", 405, "method {method} is not allowed on this endpoint"
    )
    REQUEST_TOO_LARGE = ErrorSpec(
        "too-long", 413, "the request body is larger than the limit of {limit} bytes"
    )
    REQUEST_MEDIA_TYPE = ErrorSpec(
        "not-supported",
        415,
        "request content type {content_type}; send application/fhir+json or application/json",
    )
    REQUEST_RESOURCE_MISMATCH = ErrorSpec(
        "not-supported",
        422,
        "{found} sent to the {expected} $process operation; send a {expected} (or Parameters "
        "with it as the 'resource' parameter)",
    )
    PARAMETERS_NO_RESOURCE = ErrorSpec(
        "required", 422, "the Parameters resource has no 'resource' parameter holding a resource"
    )
    BUNDLE_TYPE_UNSUPPORTED = ErrorSpec(
        "not-supported", 422, "POST /fhir takes a batch or transaction Bundle, found {found}"
    )
    INTERNAL_ERROR = ErrorSpec(
        "exception", 500, "internal error; the server log has it under request {request_id}"
    )
    SERVICE_NOT_READY = ErrorSpec("transient", 503, "the service is not ready: {reason}")
    # subscriptions, durable queue and write-back (service/subscriptions.py, queue.py)
    NOTIFICATION_INVALID = ErrorSpec(
        "structure", 422, "the subscription notification cannot be used: {reason}"
    )
    WRITEBACK_NOT_CONFIGURED = ErrorSpec(
        "not-supported",
        503,
        "write-back is not configured: set NOTE2FHIR_TARGET_FHIR_BASE_URL (or "
        "NOTE2FHIR_FHIR_BASE_URL){detail}",
    )
    QUEUE_UNAVAILABLE = ErrorSpec("transient", 503, "the work queue cannot be used: {reason}")
    DEAD_LETTER_NOT_FOUND = ErrorSpec("not-found", 404, "there is no dead letter {id}")

    @property
    def spec(self) -> ErrorSpec:
        """The catalogue entry."""
        value: ErrorSpec = self.value
        return value


class Note2FhirError(Exception):
    """An error from the catalogue, with the safe values that fill its template.

    ``location`` says where (``notes.ndjson line 3``) and ``expression`` the FHIRPath of the
    offending element; both are safe to show.
    """

    def __init__(
        self,
        code: ErrorCode,
        *,
        location: str = "",
        expression: str | None = None,
        **params: Any,
    ) -> None:
        self.code = code
        self.params = params
        self.location = location
        self.expression = expression
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The filled template, without the location."""
        try:
            return self.code.spec.template.format(**self.params)
        except (KeyError, IndexError):
            return self.code.spec.template

    @property
    def http_status(self) -> int:
        """The HTTP status the service answers with."""
        return self.code.spec.http_status

    def one_line(self) -> str:
        """``location: message (CODE)`` for the CLI and logs."""
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} ({self.code.name})"

    def at(self, location: str) -> Note2FhirError:
        """Set where the error happened, when it is not yet known; returns self."""
        if not self.location:
            self.location = location
        return self

    def to_operation_outcome(self) -> dict[str, Any]:
        """The error as a FHIR R4 OperationOutcome (JSON)."""
        return operation_outcome([self])


def operation_outcome(errors: list[Note2FhirError]) -> dict[str, Any]:
    """An OperationOutcome with one issue per error."""
    issues = []
    for err in errors:
        spec = err.code.spec
        issue: dict[str, Any] = {
            "severity": spec.severity,
            "code": spec.issue_type,
            "details": {
                "coding": [{"system": ERROR_CODE_SYSTEM, "code": err.code.name}],
                "text": err.message,
            },
            "diagnostics": err.one_line(),
        }
        if err.expression:
            issue["expression"] = [err.expression]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def validation_fields(exc: ValidationError) -> str:
    """Which fields failed pydantic validation and how, without the offending values
    (pydantic's own messages quote the input, which may be PHI)."""
    return ", ".join(
        ".".join(str(part) for part in err["loc"]) + f" ({err['type']})" for err in exc.errors()
    )
