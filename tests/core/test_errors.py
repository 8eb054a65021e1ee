"""The error catalogue and its OperationOutcomes."""

from __future__ import annotations

from fhir.resources.R4B.operationoutcome import OperationOutcome

from note2fhir.errors import ERROR_CODE_SYSTEM, ErrorCode, Note2FhirError, operation_outcome

VALID_ISSUE_TYPES = {
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
}


def test_every_code_has_a_valid_issue_type_and_status() -> None:
    for code in ErrorCode:
        assert code.spec.issue_type in VALID_ISSUE_TYPES, code
        assert 400 <= code.spec.http_status < 600, code


def test_operation_outcome_is_valid_fhir() -> None:
    err = Note2FhirError(
        ErrorCode.ATTACHMENT_BASE64,
        location="notes.ndjson line 3",
        expression="DocumentReference.content[0].attachment.data",
        path="DocumentReference.content[0].attachment",
    )
    outcome = operation_outcome([err])
    OperationOutcome.model_validate(outcome)
    issue = outcome["issue"][0]
    assert issue["details"]["coding"][0] == {
        "system": ERROR_CODE_SYSTEM,
        "code": "ATTACHMENT_BASE64",
    }
    assert issue["diagnostics"].startswith("notes.ndjson line 3: ")
    assert issue["expression"] == ["DocumentReference.content[0].attachment.data"]
    assert err.http_status == 400


def test_missing_template_values_do_not_crash() -> None:
    assert Note2FhirError(ErrorCode.STAGE_FAILED).message
