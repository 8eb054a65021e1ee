"""The app factory: ``create_app(settings=None)``, run by gunicorn as
``service.app:create_app()`` (see ``deploy/gunicorn.conf.py``; ``note2fhir serve`` starts it).

Every request gets a request id (``X-Request-ID``, taken from the caller when it is a safe
token), is authenticated unless its endpoint is a probe, is logged as one JSON line (method,
route template, status, duration; never the body) and is counted in the metrics.  Areas
outside the request path plug in through ``init_app(app, state)`` in their modules
(:data:`EXTENSION_MODULES`).
"""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import logging
import time
from typing import Any

from flask import Flask, Response, g, request

from note2fhir.engine import Engine
from note2fhir.settings import Settings, load_settings
from service import api, health, metadata, metrics
from service.auth import Authenticator
from service.errors import register_error_handlers
from service.logs import (
    REQUEST_ID_HEADER,
    configure_logging,
    request_id_from,
    set_request_id,
)
from service.state import EXTENSION_KEY, ServiceState, get_state

log = logging.getLogger("service.access")

EXTENSION_MODULES = ("service.queue", "service.writeback", "service.subscriptions")
"""Modules whose ``init_app(app, state)`` is called when they exist (the write-back side)."""

OPENAPI_MEDIA_TYPE = "application/yaml"


def create_app(settings: Settings | None = None, *, defer_engine: bool = False) -> Flask:
    """Build the service app.

    ``settings`` default to :func:`~note2fhir.settings.load_settings` (environment and
    ``NOTE2FHIR_CONFIG``).  The pipeline is built here unless ``defer_engine``: the gunicorn
    config passes it so the master (``preload_app``) imports the code once, shared by the
    workers, and each worker builds its own pipeline after the fork.
    """
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    state = ServiceState(
        settings=settings,
        authenticator=Authenticator(settings),
        engine_factory=lambda: Engine(settings),
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions[EXTENSION_KEY] = state
    register_error_handlers(app)
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_teardown)
    for blueprint in (health.bp, metadata.bp, api.bp, metrics.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/openapi.yaml", "openapi", openapi)
    for name in EXTENSION_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        init = getattr(importlib.import_module(name), "init_app", None)
        if callable(init):
            init(app, state)
    metadata.cached_statement(state)  # a bad CapabilityStatement fails start-up
    if not defer_engine:
        state.build_engine()
    return app


def public_endpoints(settings: Settings) -> frozenset[str]:
    """Endpoints that need no token: the probes, and ``/metrics`` with ``metrics_public``."""
    extra = {"metrics.metrics"} if settings.metrics_public else set()
    return health.PUBLIC_ENDPOINTS | extra


def openapi() -> Response:
    """The OpenAPI description of this API (``service/openapi.yaml``)."""
    text = importlib.resources.files("service").joinpath("openapi.yaml").read_bytes()
    return Response(text, content_type=f"{OPENAPI_MEDIA_TYPE}; charset=utf-8")


def _begin() -> None:
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    set_request_id(request_id)
    g.request_id = request_id
    g.started = time.perf_counter()
    state = get_state()
    if request.endpoint not in public_endpoints(state.settings):
        g.claims = state.authenticator.check(request.headers.get("Authorization"))


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _finish(response: Response) -> Response:
    request_id = getattr(g, "request_id", None) or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    started: float | None = getattr(g, "started", None)
    seconds = time.perf_counter() - started if started is not None else 0.0
    route = _route()
    metrics.observe_request(request.method, route, response.status_code, seconds)
    fields: dict[str, Any] = {
        "method": request.method,
        "route": route,
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
    }
    log.info("%s %s %s", request.method, route, response.status_code, extra=fields)
    return response


def _teardown(_exc: BaseException | None) -> None:
    set_request_id(None)
