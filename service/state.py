"""What one service process holds, and the hooks other areas plug into.

One :class:`ServiceState` is made by :func:`service.app.create_app` and kept on the Flask app
(``app.extensions["note2fhir"]``).  Areas that are not part of the request path (the durable
queue, the write-back worker, subscriptions) register here instead of being imported by the
app, so each can be built and tested on its own:

- ``readiness_checks``: name -> callable that returns when ready and raises when not
  (a :class:`~note2fhir.errors.Note2FhirError` names the reason by its code); ``/readyz``
  runs them all.
- ``gauges``: metric name -> (help, callable returning a number), read at each scrape
  (queue depth, dead letters); they work unchanged under gunicorn's many workers.
- ``worker_start`` / ``worker_stop``: run once in each gunicorn worker after it forks and
  when it exits (background threads must start after the fork, never in the master).
- ``capabilities``: (resource type, interaction code) pairs that ``/fhir/metadata`` adds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from note2fhir.errors import ErrorCode, Note2FhirError

if TYPE_CHECKING:
    from note2fhir.engine import Engine
    from note2fhir.settings import Settings
    from service.auth import Authenticator

EXTENSION_KEY = "note2fhir"


@dataclass
class ServiceState:
    """Settings, engine, authenticator and the hooks of one service process."""

    settings: Settings
    authenticator: Authenticator
    engine_factory: Callable[[], Engine]
    built_engine: Engine | None = None
    terminology_ok: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    capability: dict[str, Any] | None = None
    readiness_checks: dict[str, Callable[[], object]] = field(default_factory=dict)
    gauges: dict[str, tuple[str, Callable[[], float]]] = field(default_factory=dict)
    worker_start: list[Callable[[], None]] = field(default_factory=list)
    worker_stop: list[Callable[[], None]] = field(default_factory=list)
    capabilities: list[tuple[str, str]] = field(default_factory=list)
    workers_started: bool = False

    @property
    def engine(self) -> Engine:
        """The pipeline engine; SERVICE_NOT_READY (503) until :meth:`build_engine` ran."""
        if self.built_engine is None:
            raise Note2FhirError(ErrorCode.SERVICE_NOT_READY, reason="the pipeline is not built")
        return self.built_engine

    def build_engine(self) -> Engine:
        """Build the engine once in this process (gunicorn: in each worker, after the fork,
        so no SQLite connection or thread crosses a fork)."""
        if self.built_engine is None:
            self.built_engine = self.engine_factory()
        return self.built_engine

    def start_workers(self) -> None:
        """Run the ``worker_start`` hooks once in this process (gunicorn calls it after fork)."""
        if self.workers_started:
            return
        self.workers_started = True
        for hook in self.worker_start:
            hook()

    def stop_workers(self) -> None:
        """Run the ``worker_stop`` hooks, newest first, when the workers were started."""
        if not self.workers_started:
            return
        self.workers_started = False
        for hook in reversed(self.worker_stop):
            hook()


def get_state(app: Flask | None = None) -> ServiceState:
    """The state of ``app`` (default: the app handling the current request)."""
    state: ServiceState = (app or current_app).extensions[EXTENSION_KEY]
    return state
