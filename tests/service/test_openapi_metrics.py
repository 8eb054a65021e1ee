"""The OpenAPI description matches the routes; metrics count without PHI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from .conftest import AUTH, FHIR_JSON

SPEC = Path(__file__).resolve().parents[2] / "service" / "openapi.yaml"
_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")


def spec() -> dict[str, Any]:
    """The OpenAPI document kept in the repository."""
    data: dict[str, Any] = yaml.safe_load(SPEC.read_text("utf-8"))
    return data


def test_openapi_is_valid() -> None:
    validate(spec())  # type: ignore[arg-type]


def test_every_route_is_documented_and_every_path_is_a_route(client: FlaskClient) -> None:
    documented: set[tuple[str, str]] = set()
    for path, item in spec()["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "delete", "patch"}:
                documented.add((method.upper(), path))
    routes: set[tuple[str, str]] = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, path))
    assert routes - documented == set(), "routes missing from service/openapi.yaml"
    assert documented - routes == set(), "documented paths the app does not serve"


def test_served_openapi_is_the_repository_file(client: FlaskClient) -> None:
    response = client.get("/openapi.yaml", headers=AUTH)
    assert response.status_code == 200
    assert response.data == SPEC.read_bytes()


def test_metrics_count_requests_documents_and_failures(
    client: FlaskClient, docref: dict[str, Any]
) -> None:
    body = json.dumps(docref)
    ok = client.post(
        "/fhir/DocumentReference/$process", data=body, headers=AUTH, content_type=FHIR_JSON
    )
    assert ok.status_code == 200
    bad = {"resourceType": "DocumentReference", "id": "Quartermaine-Zebediah"}
    client.post(
        "/fhir/DocumentReference/$process",
        data=json.dumps(bad),
        headers=AUTH,
        content_type=FHIR_JSON,
    )
    client.get("/fhir/Patient/Quartermaine", headers=AUTH)
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert (
        'note2fhir_http_requests_total{method="POST",route="/fhir/DocumentReference/$process",'
        'status="200"}' in text
    )
    assert 'note2fhir_documents_processed_total{resource_type="DocumentReference"}' in text
    assert 'note2fhir_document_failures_total{code="NO_ATTACHMENT"}' in text
    assert 'note2fhir_document_failures_total{code="REQUEST_NOT_FOUND"}' in text
    assert "note2fhir_http_request_duration_seconds_bucket" in text
    assert 'route="unmatched"' in text
    # no PHI: neither note text, nor ids, nor raw paths reach a label
    for forbidden in ("Quartermaine", "furosemide", "example-progress-note", "/fhir/Patient"):
        assert forbidden not in text


def test_queue_gauges_from_hooks_are_exported(client: FlaskClient) -> None:
    from service.state import get_state  # noqa: PLC0415

    state = get_state(client.application)
    state.gauges["note2fhir_test_gauge"] = ("A test gauge.", lambda: 7)
    state.gauges["note2fhir_broken_gauge"] = ("Raises.", lambda: 1 / 0)
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert "note2fhir_test_gauge 7.0" in text
    assert "note2fhir_broken_gauge" not in text
