"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

Ready means: the pipeline is built in this worker, the terminology artifact opens, and every
readiness check other areas registered (the durable queue) passes.  Both are open without a
token so orchestrators can probe them; the answers name checks and catalogue codes only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify

from note2fhir.errors import Note2FhirError
from note2fhir.terminology.store import TerminologyStore
from service.state import ServiceState, get_state

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

PUBLIC_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the worker answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 with every check ``ok``, else 503 naming the failing checks."""
    checks = run_checks(get_state())
    ready = all(result == "ok" for result in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    return jsonify(body), 200 if ready else 503


def run_checks(state: ServiceState) -> dict[str, str]:
    """Each check's result: ``ok``, a catalogue code name, or an exception class name."""
    checks: dict[str, Any] = {
        "pipeline": lambda: _pipeline(state),
        "terminology": lambda: _terminology(state),
        **state.readiness_checks,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except Note2FhirError as err:
            results[name] = err.code.name
        except Exception as exc:
            results[name] = type(exc).__name__
        else:
            results[name] = "ok"
        if results[name] != "ok":
            log.warning("readiness check %s: %s", name, results[name])
    return results


def _pipeline(state: ServiceState) -> None:
    state.engine.pipeline.names  # noqa: B018 - raises SERVICE_NOT_READY before it is built


def _terminology(state: ServiceState) -> None:
    if state.terminology_ok:
        return
    with TerminologyStore.from_settings(state.settings):
        pass
    state.terminology_ok = True  # the artifact is read-only once built: check it once
