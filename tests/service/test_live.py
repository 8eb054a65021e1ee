"""The real service: ``note2fhir serve`` (gunicorn, preloaded app, two workers) over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase

from .conftest import AUTH, FHIR_JSON, LiveService, free_port

SCHEMATHESIS_EXAMPLES = 12


@pytest.fixture
def live(service_runner: Callable[..., LiveService]) -> LiveService:
    """The service with two workers; write-back targets a closed loopback port, so the
    subscription endpoints queue work instead of answering 'not configured'."""
    dead = f"http://127.0.0.1:{free_port()}/fhir"
    return service_runner(
        workers=2, target_fhir_base_url=dead, source_fhir_base_url=dead, writeback_worker=False
    )


def test_process_over_http_with_json_logs(live: LiveService, docref: dict[str, Any]) -> None:
    url = f"{live.base_url}/fhir/DocumentReference/$process"
    headers = {**AUTH, "Content-Type": FHIR_JSON, "X-Request-ID": "live-req-1"}
    response = requests.post(url, data=json.dumps(docref), headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "live-req-1"
    assert response.json()["resourceType"] == "Bundle"
    assert requests.get(f"{live.base_url}/readyz", timeout=10).status_code == 200

    too_big = requests.post(url, data=b" " * 250_000, headers=headers, timeout=30)
    assert too_big.status_code == 413
    assert requests.post(url, data=json.dumps(docref), timeout=30).status_code == 401

    lines = [json.loads(line) for line in live.logs().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "live-req-1"]
    assert mine, "the access log line carries the request id"
    assert mine[0]["route"] == "/fhir/DocumentReference/$process"
    text = live.logs()
    assert "furosemide" not in text.lower()
    assert "Traceback" not in text


def test_metrics_add_up_across_workers(live: LiveService) -> None:
    for _ in range(8):  # spread over both workers
        requests.get(f"{live.base_url}/fhir/metadata", headers=AUTH, timeout=10)
    text = requests.get(f"{live.base_url}/metrics", headers=AUTH, timeout=10).text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("note2fhir_http_requests_total")
        and 'route="/fhir/metadata"' in row
        and 'status="200"' in row
    )
    assert float(line.rsplit(" ", 1)[1]) == 8.0
    assert "note2fhir_queue_depth" in text


def test_schemathesis_finds_no_server_error(live: LiveService) -> None:
    schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.yaml", headers=AUTH)
    failures: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=live.base_url, headers=AUTH, timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        check()
    assert failures == []
    assert len(calls) >= 15 * 5  # every operation was exercised
    assert "Traceback" not in live.logs()
