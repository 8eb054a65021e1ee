"""The processing API, probes and error answers, through the Flask test client."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient

from note2fhir.settings import Settings
from service.app import create_app
from service.state import get_state

from .conftest import AUTH, FHIR_JSON

PHI_NAME = "Zebediah Quartermaine"
DOCREF_PROCESS = "/fhir/DocumentReference/$process"
REPORT_PROCESS = "/fhir/DiagnosticReport/$process"


def post(client: FlaskClient, path: str, body: Any, **kwargs: Any) -> Any:
    """POST ``body`` as FHIR JSON with the test token."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {**AUTH, **kwargs.pop("headers", {})}
    content_type = kwargs.pop("content_type", FHIR_JSON)
    return client.post(path, data=data, headers=headers, content_type=content_type, **kwargs)


def code_of(response: Any) -> str:
    """The catalogue code of an OperationOutcome answer (checked to be valid FHIR)."""
    body = response.get_json()
    OperationOutcome.model_validate(body)
    code: str = body["issue"][0]["details"]["coding"][0]["code"]
    return code


def report(text: str = "Impression: no acute findings.") -> dict[str, Any]:
    """A DiagnosticReport with a base64 text/plain presentedForm."""
    import base64  # noqa: PLC0415

    return {
        "resourceType": "DiagnosticReport",
        "id": "rep-1",
        "status": "final",
        "code": {"text": "Chest X-ray"},
        "presentedForm": [
            {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}
        ],
    }


def test_healthz_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_every_check(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    checks = response.get_json()["checks"]
    assert {"pipeline", "terminology"} <= set(checks)
    assert set(checks.values()) == {"ok"}


def test_readyz_is_503_without_terminology(service_settings: Callable[..., Settings]) -> None:
    # The engine is not built (its extract stage would refuse the missing artifact at start).
    app = create_app(service_settings(terminology_artifact="absent"), defer_engine=True)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["terminology"] == "TERMINOLOGY_MISSING"
    assert "absent" not in response.get_data(as_text=True)  # no server paths on a public probe


def test_readyz_is_503_before_the_pipeline_is_built(
    service_settings: Callable[..., Settings],
) -> None:
    app = create_app(service_settings(), defer_engine=True)
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["pipeline"] == "SERVICE_NOT_READY"
    assert code_of(post(client, DOCREF_PROCESS, report())) in {
        "SERVICE_NOT_READY",
        "REQUEST_RESOURCE_MISMATCH",
    }
    get_state(app).build_engine()
    assert client.get("/readyz").status_code == 200


def test_metadata_is_a_valid_capability_statement(client: FlaskClient) -> None:
    response = client.get("/fhir/metadata", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == FHIR_JSON
    statement = response.get_json()
    CapabilityStatement.model_validate(statement)
    rest = statement["rest"][0]
    operations = {r["type"]: [o["name"] for o in r.get("operation", [])] for r in rest["resource"]}
    assert operations["DocumentReference"] == ["process"]
    assert operations["DiagnosticReport"] == ["process"]
    assert [i["code"] for i in rest["interaction"]] == ["batch"]


def test_process_document_reference(client: FlaskClient, docref: dict[str, Any]) -> None:
    response = post(client, DOCREF_PROCESS, docref)
    assert response.status_code == 200
    assert response.mimetype == FHIR_JSON
    bundle = response.get_json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Composition", "Provenance"} <= kinds


def test_plain_application_json_is_accepted(client: FlaskClient, docref: dict[str, Any]) -> None:
    response = post(client, DOCREF_PROCESS, docref, content_type="application/json")
    assert response.status_code == 200


def test_process_diagnostic_report(client: FlaskClient) -> None:
    response = post(client, REPORT_PROCESS, report())
    assert response.status_code == 200
    assert response.get_json()["resourceType"] == "Bundle"


def test_parameters_body_with_bundle_type(client: FlaskClient, docref: dict[str, Any]) -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": docref},
            {"name": "bundleType", "valueCode": "transaction"},
        ],
    }
    response = post(client, DOCREF_PROCESS, parameters)
    assert response.status_code == 200
    bundle = response.get_json()
    assert bundle["type"] == "transaction"
    assert all("request" in entry for entry in bundle["entry"])


def test_parameters_without_a_resource_is_422(client: FlaskClient) -> None:
    response = post(client, DOCREF_PROCESS, {"resourceType": "Parameters", "parameter": []})
    assert response.status_code == 422
    assert code_of(response) == "PARAMETERS_NO_RESOURCE"


def test_several_attachments_give_a_collection_of_bundles(
    client: FlaskClient, docref: dict[str, Any]
) -> None:
    two = copy.deepcopy(docref)
    two["content"] = [docref["content"][0], {"attachment": {"contentType": "text/plain"}}]
    response = post(client, DOCREF_PROCESS, two)
    assert response.status_code == 200
    kinds = [e["resource"]["resourceType"] for e in response.get_json()["entry"]]
    assert kinds == ["Bundle", "OperationOutcome"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", FHIR_JSON, 400, "INPUT_NOT_JSON"),
        ("", FHIR_JSON, 400, "INPUT_NOT_JSON"),
        (b"\xff\xfe{}", FHIR_JSON, 400, "INPUT_NOT_READABLE"),
        ("{}", "text/plain", 415, "REQUEST_MEDIA_TYPE"),
        ("{}", "application/xml", 415, "REQUEST_MEDIA_TYPE"),
        ("[1, 2]", FHIR_JSON, 422, "INPUT_NOT_RESOURCE"),
        ('{"resourceType": "Patient"}', FHIR_JSON, 422, "REQUEST_RESOURCE_MISMATCH"),
        ('{"resourceType": "DocumentReference"}', FHIR_JSON, 422, "NO_ATTACHMENT"),
    ],
)
def test_error_statuses(
    client: FlaskClient, body: Any, content_type: str, status: int, code: str
) -> None:
    response = post(client, DOCREF_PROCESS, body, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == FHIR_JSON
    assert code_of(response) == code


def test_wrong_resource_type_for_the_operation(client: FlaskClient) -> None:
    response = post(client, DOCREF_PROCESS, report())
    assert response.status_code == 422
    assert code_of(response) == "REQUEST_RESOURCE_MISMATCH"


def test_bad_base64_is_400(client: FlaskClient) -> None:
    bad = report()
    bad["presentedForm"][0]["data"] = "***"
    response = post(client, REPORT_PROCESS, bad)
    assert response.status_code == 400
    assert code_of(response) == "ATTACHMENT_BASE64"


def test_body_over_the_limit_is_413(client: FlaskClient) -> None:
    response = post(client, DOCREF_PROCESS, " " * 200_001)
    assert response.status_code == 413
    assert code_of(response) == "REQUEST_TOO_LARGE"


def test_unknown_path_is_404_and_wrong_method_405(client: FlaskClient) -> None:
    missing = client.get("/fhir/Patient/123", headers=AUTH)
    assert missing.status_code == 404
    assert code_of(missing) == "REQUEST_NOT_FOUND"
    wrong = client.get(DOCREF_PROCESS, headers=AUTH)
    assert wrong.status_code == 405
    assert code_of(wrong) == "REQUEST_METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["Allow"]


def test_errors_never_quote_the_input(client: FlaskClient) -> None:
    for body in (
        f'{{"resourceType": "DocumentReference", "note": "{PHI_NAME}" ',
        json.dumps({"resourceType": PHI_NAME}),
        json.dumps({"resourceType": "DocumentReference", "content": PHI_NAME}),
    ):
        response = post(client, DOCREF_PROCESS, body)
        assert 400 <= response.status_code < 500
        assert "Quartermaine" not in response.get_data(as_text=True)


def test_unexpected_failure_is_500_without_details(
    client: FlaskClient, docref: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_state(client.application).engine

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"failed on {PHI_NAME}")

    monkeypatch.setattr(engine, "bundle", boom)
    response = post(client, DOCREF_PROCESS, docref, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert code_of(response) == "INTERNAL_ERROR"
    text = response.get_data(as_text=True)
    assert "Quartermaine" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert "req-500" in text


def test_batch_with_one_bad_document(client: FlaskClient, docref: dict[str, Any]) -> None:
    bad = {"resourceType": "DocumentReference", "id": "empty", "status": "current"}
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": docref, "request": {"method": "POST", "url": "DocumentReference"}},
            {"resource": bad},
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "resource", "resource": report()}],
                }
            },
            {"resource": {"resourceType": "Patient", "id": "p1"}},
            {"resource": {"resourceType": "Observation", "id": "o1"}},
            {"request": {"method": "GET", "url": "Patient/1"}},
        ],
    }
    response = post(client, "/fhir", batch)
    assert response.status_code == 200
    result = response.get_json()
    Bundle.model_validate(result)
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == [
        "200 OK",
        "422 Unprocessable Entity",
        "200 OK",
        "200 OK",
        "422 Unprocessable Entity",
        "422 Unprocessable Entity",
    ]
    assert result["entry"][0]["resource"]["resourceType"] == "Bundle"
    assert result["entry"][2]["resource"]["resourceType"] == "Bundle"
    outcome = result["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "NO_ATTACHMENT"


def test_transaction_bundle_is_processed_like_a_batch(
    client: FlaskClient, docref: dict[str, Any]
) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": docref}]}
    response = post(client, "/fhir", bundle)
    assert response.status_code == 200
    assert response.get_json()["entry"][0]["response"]["status"] == "200 OK"


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        {"resourceType": "Bundle"},
        {"resourceType": "DocumentReference"},
        [],
    ],
)
def test_batch_needs_a_batch_or_transaction_bundle(client: FlaskClient, body: Any) -> None:
    response = post(client, "/fhir", body)
    assert response.status_code == 422
    assert code_of(response) == "BUNDLE_TYPE_UNSUPPORTED"


def test_request_id_in_and_out(client: FlaskClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "no spaces <b>"})
    assert unsafe.headers["X-Request-ID"] != "no spaces <b>"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
