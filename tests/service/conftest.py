"""Fixtures for the service: settings, a Flask test client, and the real service under
gunicorn on a free loopback port.

- ``service_settings(**overrides)``: Settings for a test (static token :data:`TOKEN`, a
  small terminology artifact, data under ``tmp_path``, a fixed clock).
- ``app`` / ``client``: ``create_app`` with those settings and its Flask test client (the
  queue worker is not started; call ``get_state(app).start_workers()`` to start it).
- ``service_runner``: starts ``note2fhir serve`` (gunicorn) as a subprocess with settings
  in its environment, waits for ``/healthz`` and stops it at teardown; the returned
  :class:`LiveService` can be killed with SIGKILL and started again on the same port and data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from note2fhir.settings import Settings
from service.app import create_app
from terminology.build import build_artifact

TOKEN = "test-token-3f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FHIR_JSON = "application/fhir+json"
ARTIFACT = "service-small"
FIXED_CLOCK = "2026-03-01T09:30:00-05:00"
START_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def terminology_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a small terminology artifact (HPO only, about 2 s to build)."""
    folder = tmp_path_factory.mktemp("service-terminology")
    build_artifact(folder / ARTIFACT, name=ARTIFACT, open_sources=("hpo",))
    return folder


@pytest.fixture
def service_settings(tmp_path: Path, terminology_dir: Path) -> Callable[..., Settings]:
    """A factory of test Settings; keyword arguments override the defaults."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "api_tokens": [TOKEN],
            "data_dir": tmp_path / "data",
            "terminology_dir": terminology_dir,
            "terminology_artifact": ARTIFACT,
            "clock": FIXED_CLOCK,
            "max_request_bytes": 200_000,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def app(service_settings: Callable[..., Settings]) -> Flask:
    """The app built by ``create_app`` with the default test settings."""
    return create_app(service_settings())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client of :func:`app`."""
    return app.test_client()


@pytest.fixture
def docref(repo_root: Path) -> dict[str, Any]:
    """The sample progress-note DocumentReference shipped in examples/."""
    data: dict[str, Any] = json.loads(
        (repo_root / "examples" / "progress-note.docref.json").read_text("utf-8")
    )
    return data


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveService:
    """A ``note2fhir serve`` process group on 127.0.0.1."""

    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _logs: list[Any] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveService:
        """Start gunicorn and wait until ``/healthz`` answers."""
        log = self.log_path.open("ab")
        self._logs.append(log)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "note2fhir.cli", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start-up:\n{self.logs()[-3000:]}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the service did not answer /healthz:\n{self.logs()[-3000:]}")

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the master and its workers (a crash: nothing is shut down cleanly)."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then SIGKILL what is left after 15 s."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process is not None and self.process.pid:
            with contextlib.suppress(ProcessLookupError):  # workers that outlived the master
                os.killpg(self.process.pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def logs(self) -> str:
        """Everything the service wrote to stdout and stderr so far."""
        for log in self._logs:
            log.flush()
        return self.log_path.read_text("utf-8", errors="replace")


@pytest.fixture
def service_runner(tmp_path: Path, terminology_dir: Path) -> Iterator[Callable[..., LiveService]]:
    """Start the real service: ``service_runner(workers=1, **settings_env)``.

    Keyword arguments become ``NOTE2FHIR_<NAME>`` variables (lists joined with commas);
    every service started is stopped at teardown.
    """
    started: list[LiveService] = []

    def run(workers: int = 1, *, start: bool = True, **settings: Any) -> LiveService:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTE2FHIR_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        port = free_port()
        values: dict[str, Any] = {
            "api_tokens": TOKEN,
            "data_dir": tmp_path / "data",
            "terminology_dir": terminology_dir,
            "terminology_artifact": ARTIFACT,
            "clock": FIXED_CLOCK,
            "max_request_bytes": 200_000,
            "service_host": "127.0.0.1",
            "service_port": port,
            "service_workers": workers,
            "service_timeout_s": 60,
        }
        values.update(settings)
        for name, value in values.items():
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            env[f"NOTE2FHIR_{name.upper()}"] = text
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / f"metrics-{port}")
        service = LiveService(env=env, port=port, log_path=tmp_path / f"service-{port}.log")
        started.append(service)
        return service.start() if start else service

    yield run
    for service in started:
        service.stop()
