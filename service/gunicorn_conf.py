"""gunicorn settings for the service; ``deploy/gunicorn.conf.py`` is this module.

``note2fhir serve`` runs ``gunicorn -c python:service.gunicorn_conf``; a container runs
``gunicorn -c deploy/gunicorn.conf.py``.  Bind address, workers and timeout come from the
settings (``NOTE2FHIR_SERVICE_HOST``/``_PORT``/``_WORKERS``/``_TIMEOUT_S``).

The master preloads the app (``preload_app``): Flask, the FHIR models and the note2fhir code
are imported once and shared copy-on-write by the workers, which saves memory per worker.
The pipeline itself (and any SQLite connection or thread) is built in each worker after the
fork (``post_worker_init``), once per worker.  Prometheus counts from every worker meet in
``PROMETHEUS_MULTIPROC_DIR``, which this config sets before the app is imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from note2fhir.settings import load_settings

_settings = load_settings()

_METRICS_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="note2fhir-metrics-")
)

wsgi_app = "service.app:create_app(defer_engine=True)"
bind = [f"{_settings.service_host}:{_settings.service_port}"]
workers = _settings.service_workers
worker_class = "sync"  # the pipeline is CPU-bound: one request at a time per process
timeout = _settings.service_timeout_s
graceful_timeout = 30
keepalive = 5
preload_app = True
max_requests = 5000  # recycle workers now and then: bounds slow leaks in parsers
max_requests_jitter = 500
limit_request_line = 8190
accesslog = None  # the app logs each request as JSON, with the route template, not the path
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Empty the metrics folder: counts of a previous run must not leak into this one."""
    folder = Path(_METRICS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def post_worker_init(worker: Any) -> None:
    """Build this worker's pipeline and start its background work (queue draining)."""
    from service.state import get_state  # noqa: PLC0415 - the app is loaded by now

    state = get_state(worker.wsgi)
    state.build_engine()
    state.start_workers()


def worker_exit(server: Any, worker: Any) -> None:
    """Stop this worker's background work."""
    from service.state import get_state  # noqa: PLC0415

    app = getattr(worker, "wsgi", None)
    if app is not None:
        get_state(app).stop_workers()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the metrics folder."""
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
