"""A small fake FHIR server for the service tests: a real HTTP server on loopback.

It stores what transactions create, with conditional-create semantics (an entry whose
``ifNoneExist`` identifier is already stored creates nothing), serves ``GET {type}/{id}``,
a ``_lastUpdated`` search and ``Binary/{id}``, issues SMART client-credentials tokens
(checking the signed assertion), and can be told to fail (5xx, 429 with Retry-After), to
hang past a client's timeout, or to go down and come back on the same port.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

FHIR_JSON = "application/fhir+json"


@dataclass
class Fault:
    """What the next matching requests get instead of an answer."""

    remaining: int
    status: int = 503
    retry_after: str | None = None
    hang_s: float = 0.0
    method: str | None = None


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    at: float
    authorization: str | None
    answered: int = 0


@dataclass
class FakeFhirServer:
    """The fake server; use :meth:`start` / :meth:`stop` (the fixture does)."""

    host: str = "127.0.0.1"
    port: int = 0
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    create_counts: dict[str, int] = field(default_factory=dict)
    """Creates per conditional-create identifier: exactly-once means every value is 1."""
    requests: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    required_token: str | None = None
    """When set, FHIR requests need ``Bearer <token>`` (or a token this server issued)."""
    smart_public_key: Any = None
    """When set, ``POST /auth/token`` verifies assertions with it and issues tokens."""
    token_lifetime_s: int = 3600
    issued_tokens: list[str] = field(default_factory=list)
    token_requests: int = 0
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        """The FHIR base url (``http://127.0.0.1:PORT/fhir``)."""
        return f"http://{self.host}:{self.port}/fhir"

    @property
    def token_url(self) -> str:
        """The SMART token endpoint."""
        return f"http://{self.host}:{self.port}/auth/token"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeFhirServer:
        """Listen (on a free port the first time, on the same port after :meth:`down`)."""
        self._release.clear()
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; hanging requests are released."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def down(self) -> None:
        """Go away: connections are refused until :meth:`up`."""
        self.stop()

    def up(self) -> None:
        """Come back on the same port, with the same stored resources."""
        self.start()

    # -- test controls ---------------------------------------------------------------------

    def fail(
        self,
        times: int,
        status: int = 503,
        *,
        retry_after: str | None = None,
        method: str | None = "POST",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``."""
        with self._lock:
            self.faults.append(Fault(times, status, retry_after, method=method))

    def hang(self, times: int, seconds: float, *, method: str | None = "POST") -> None:
        """Sleep ``seconds`` before answering the next ``times`` matching requests (503)."""
        with self._lock:
            self.faults.append(Fault(times, 503, hang_s=seconds, method=method))

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a resource (with meta.lastUpdated) as the source server would hold it."""
        resource = dict(resource)
        resource.setdefault("id", uuid.uuid4().hex)
        meta = dict(resource.get("meta") or {})
        meta.setdefault("lastUpdated", _now())
        resource["meta"] = meta
        with self._lock:
            self.resources[(resource["resourceType"], resource["id"])] = resource
        return resource

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        """Stored resources of one type."""
        with self._lock:
            return [r for (t, _), r in self.resources.items() if t == resource_type]

    def seen(self, method: str, path_prefix: str = "/fhir") -> list[Seen]:
        """Requests received with ``method`` under ``path_prefix``."""
        with self._lock:
            return [
                s for s in self.requests if s.method == method and s.path.startswith(path_prefix)
            ]

    def transactions(self) -> list[Seen]:
        """POSTs to the base url that were answered 200."""
        return [s for s in self.seen("POST") if s.path.rstrip("/") == "/fhir" and s.answered == 200]

    # -- the server ------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        seen = Seen(request.method, request.path, time.time(), request.headers.get("Authorization"))
        with self._lock:
            self.requests.append(seen)
        response = self._handle(request)
        seen.answered = response.status_code
        return response(environ, start_response)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.method in {None, method}:
                    fault.remaining -= 1
                    return fault
        return None

    def _handle(self, request: Request) -> Response:
        if request.path == "/auth/token":
            return self._token(request)
        fault = self._take_fault(request.method)
        if fault is not None:
            if fault.hang_s:
                self._release.wait(fault.hang_s)
            response = _outcome(fault.status, "injected fault")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
        if not self._authorized(request.headers.get("Authorization")):
            return _outcome(401, "unauthorized")
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != "fhir":
            return _outcome(404, "not found")
        parts = parts[1:]
        if request.method == "POST" and not parts:
            return self._transaction(request)
        if request.method == "GET" and len(parts) == 2:
            with self._lock:
                resource = self.resources.get((parts[0], parts[1]))
            return _json(resource) if resource else _outcome(404, "not found")
        if request.method == "GET" and len(parts) == 1:
            return self._search(parts[0], request)
        return _outcome(405, "not supported")

    def _authorized(self, header: str | None) -> bool:
        if self.required_token is None and self.smart_public_key is None:
            return True
        token = (header or "").removeprefix("Bearer ")
        with self._lock:
            return token == self.required_token or token in self.issued_tokens

    def _token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        form = request.form
        if form.get("grant_type") != "client_credentials" or not form.get("client_assertion"):
            return _json({"error": "invalid_request"}, 400)
        try:
            claims = jwt.decode(
                form["client_assertion"],
                self.smart_public_key,
                algorithms=["RS384", "ES384"],
                audience=self.token_url,
                options={"require": ["exp", "iss", "sub", "jti"]},
            )
        except jwt.PyJWTError:
            return _json({"error": "invalid_client"}, 401)
        if claims["iss"] != claims["sub"]:
            return _json({"error": "invalid_client"}, 401)
        token = uuid.uuid4().hex
        with self._lock:
            self.issued_tokens.append(token)
        return _json(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime_s,
                "scope": form.get("scope", ""),
            }
        )

    def _search(self, resource_type: str, request: Request) -> Response:
        since = request.args.get("_lastUpdated", "")
        floor = since[2:] if since.startswith("ge") else ""
        found = sorted(
            (r for r in self.of_type(resource_type) if r["meta"]["lastUpdated"] >= floor),
            key=lambda r: str(r["meta"]["lastUpdated"]),
        )
        return _json(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": [
                    {"fullUrl": f"{self.base_url}/{resource_type}/{r['id']}", "resource": r}
                    for r in found
                ],
            }
        )

    def _transaction(self, request: Request) -> Response:
        try:
            bundle = json.loads(request.get_data())
        except ValueError:
            return _outcome(400, "not JSON")
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            return _outcome(400, "a transaction Bundle was expected")
        responses = []
        with self._lock:
            for entry in bundle.get("entry", []):
                resource, req = entry["resource"], entry["request"]
                resource_type = resource["resourceType"]
                if req["method"] == "POST":
                    condition = req.get("ifNoneExist", "")
                    value = condition.removeprefix("identifier=")
                    existing = [
                        r
                        for (t, _), r in self.resources.items()
                        if t == resource_type and value in _identifiers(r)
                    ]
                    if condition and existing:
                        responses.append({"response": {"status": "200 OK"}})
                        continue
                    stored = dict(resource, id=uuid.uuid4().hex)
                    self.resources[(resource_type, stored["id"])] = stored
                    self.create_counts[value] = self.create_counts.get(value, 0) + 1
                    responses.append(
                        {
                            "response": {
                                "status": "201 Created",
                                "location": f"{resource_type}/{stored['id']}",
                            }
                        }
                    )
                elif req["method"] == "PUT":
                    _, resource_id = req["url"].split("/", 1)
                    created = (resource_type, resource_id) not in self.resources
                    self.resources[(resource_type, resource_id)] = dict(resource, id=resource_id)
                    responses.append(
                        {"response": {"status": "201 Created" if created else "200 OK"}}
                    )
                else:
                    return _outcome(400, "unsupported transaction method")
        return _json({"resourceType": "Bundle", "type": "transaction-response", "entry": responses})


def _identifiers(resource: dict[str, Any]) -> set[str]:
    found = resource.get("identifier") or []
    found = [found] if isinstance(found, dict) else found  # Composition.identifier is 0..1
    return {f"{i.get('system')}|{i.get('value')}" for i in found}


def _now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}+00:00"
    )


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype=FHIR_JSON)


def _outcome(status: int, text: str) -> Response:
    return _json(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
        },
        status,
    )
