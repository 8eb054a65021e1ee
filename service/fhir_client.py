"""A small FHIR REST client for the source and target servers, with outbound auth.

Auth is a static bearer token or SMART Backend Services (client credentials with a signed
JWT assertion, RS384 or ES384); the access token is cached until shortly before it expires
and fetched again once when a server answers 401.  Every request has a timeout.  Failures
raise :class:`FhirRequestError`, which says whether trying again later can help (timeouts,
connection errors, 5xx, 408 and 429, with the server's ``Retry-After``) and carries a short
reason that names no url and quotes no response body, so it is safe in logs and in the
dead-letter table.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import jwt
import requests

from note2fhir.fhir.fetch import _reason
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300
"""SMART asks for assertions that expire within five minutes."""
TOKEN_EXPIRY_MARGIN_S = 30.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_RETRYABLE = frozenset({408, 425, 429})
_CHUNK = 64 * 1024


class FhirRequestError(Exception):
    """A request to a FHIR server failed; ``reason`` is safe to log and store."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool,
        retry_after_s: float | None = None,
    ) -> None:
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        super().__init__(reason)


class Authorizer(Protocol):
    """Supplies the Authorization header of outbound requests."""

    def header(self) -> str | None:
        """The header value (``Bearer ...``), or None for no header."""

    def invalidate(self) -> bool:
        """Forget a cached token after a 401; True when a new one may help."""


class NoAuth:
    """Sends no Authorization header."""

    def header(self) -> str | None:
        """No header."""
        return None

    def invalidate(self) -> bool:
        """Nothing to refresh."""
        return False


class StaticBearer:
    """A bearer token from the settings."""

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self) -> str | None:
        """``Bearer <token>``."""
        return f"Bearer {self._token}"

    def invalidate(self) -> bool:
        """A static token cannot be refreshed."""
        return False


class SmartBackendAuth:
    """SMART Backend Services: client-credentials access tokens from a signed assertion.

    The assertion (``iss`` = ``sub`` = client id, ``aud`` = token endpoint, a fresh ``jti``,
    five-minute ``exp``) is signed with the configured private key.  The access token is
    reused until ``TOKEN_EXPIRY_MARGIN_S`` before its ``expires_in`` runs out.
    """

    def __init__(
        self,
        *,
        client_id: str,
        token_url: str,
        private_key: str,
        algorithm: str = "RS384",
        key_id: str | None = None,
        scope: str = "",
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.token_url = token_url
        self.algorithm = algorithm
        self.key_id = key_id
        self.scope = scope
        self.timeout_s = timeout_s
        self.clock = clock
        self.session = session or requests.Session()
        self._key = private_key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def assertion(self) -> str:
        """A freshly signed client assertion JWT (its times are always the wall clock's)."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": now + ASSERTION_LIFETIME_S,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.key_id:
            headers["kid"] = self.key_id
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def header(self) -> str | None:
        """``Bearer <access token>``, fetching a token when none is cached or it expires."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._token, lifetime = self._fetch_token()
                self._expires_at = self.clock() + max(0.0, lifetime - TOKEN_EXPIRY_MARGIN_S)
            return f"Bearer {self._token}"

    def invalidate(self) -> bool:
        """Drop the cached token so the next request gets a new one."""
        with self._lock:
            self._token = None
        return True

    def _fetch_token(self) -> tuple[str, float]:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        if self.scope:
            data["scope"] = self.scope
        try:
            response = self.session.post(
                self.token_url,
                data=data,
                headers={"Accept": "application/json"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise FhirRequestError(f"token endpoint: {_reason(exc)}", retryable=True) from None
        with response:
            if response.status_code != 200:
                raise _status_error(response, what="token endpoint")
            try:
                body = response.json()
            except ValueError:
                body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FhirRequestError("token endpoint: no access_token", retryable=False)
        expires_in = body.get("expires_in", 300) if isinstance(body, dict) else 300
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        log.info("obtained a SMART access token valid for %d s", int(lifetime))
        return token, lifetime


class FhirClient:
    """Reads resources from, and posts transactions to, one FHIR server."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Authorizer | None = None,
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth: Authorizer = auth or NoAuth()
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def url(self, reference: str) -> str:
        """The absolute url of ``reference`` (``DocumentReference/1`` or an absolute url
        on this server)."""
        if reference.startswith(("http://", "https://")):
            if not reference.startswith(self.base_url + "/"):
                raise FhirRequestError("reference is not on the configured server", retryable=False)
            return reference
        return f"{self.base_url}/{reference.lstrip('/')}"

    def read(self, reference: str) -> dict[str, Any]:
        """GET a resource (``DocumentReference/123``) or a search url; the parsed JSON."""
        return self._request("GET", self.url(reference))

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction (or batch) Bundle to the base url; the response Bundle."""
        return self._request("POST", self.base_url, body=bundle)

    def _request(
        self, method: str, url: str, *, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        for attempt in range(2):
            headers = {"Accept": FHIR_JSON}
            if body is not None:
                headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
            authorization = self.auth.header()
            if authorization:
                headers["Authorization"] = authorization
            try:
                response = self.session.request(
                    method,
                    url,
                    data=None if body is None else json.dumps(body).encode("utf-8"),
                    headers=headers,
                    timeout=self.timeout_s,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise FhirRequestError(_reason(exc), retryable=True) from None
            with response:
                if response.status_code == 401 and attempt == 0 and self.auth.invalidate():
                    continue
                if not 200 <= response.status_code < 300:
                    raise _status_error(response, what=method)
                raw = _read_limited(response, deadline=time.monotonic() + self.timeout_s)
            try:
                parsed = json.loads(raw) if raw else {}
            except ValueError:
                raise FhirRequestError(f"{method}: response is not JSON", retryable=True) from None
            if not isinstance(parsed, dict):
                raise FhirRequestError(f"{method}: response is not a resource", retryable=True)
            return parsed
        raise FhirRequestError(f"{method}: HTTP 401", status=401, retryable=False)


def _read_limited(response: requests.Response, *, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise FhirRequestError("response too large", retryable=False)
            if time.monotonic() > deadline:
                raise FhirRequestError("timeout", retryable=True)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FhirRequestError(_reason(exc), retryable=True) from None
    return b"".join(chunks)


def _status_error(response: requests.Response, *, what: str) -> FhirRequestError:
    status = response.status_code
    retryable = status >= 500 or status in _RETRYABLE
    return FhirRequestError(
        f"{what}: HTTP {status}",
        status=status,
        retryable=retryable,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")) if retryable else None,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: ``120`` or an HTTP date; None if absent
    or unreadable.  ``Retry-After: 5`` → 5.0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _load_private_key(settings: Settings) -> str | None:
    if settings.smart_private_key is not None:
        return settings.smart_private_key.get_secret_value()
    if settings.smart_private_key_path is not None:
        try:
            return settings.smart_private_key_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FhirRequestError(
                f"cannot read smart_private_key_path ({exc.strerror})", retryable=False
            ) from None
    return None


def build_client(
    settings: Settings,
    base_url: str | None,
    token: str | None,
    *,
    smart: SmartBackendAuth | None,
) -> FhirClient | None:
    """A client for ``base_url``: a static token wins, else SMART when configured."""
    if not base_url:
        return None
    auth: Authorizer
    if token:
        auth = StaticBearer(token)
    elif smart is not None:
        auth = smart
    else:
        auth = NoAuth()
    return FhirClient(base_url, auth=auth, timeout_s=settings.fhir_timeout_s)


def smart_auth(settings: Settings) -> SmartBackendAuth | None:
    """The SMART Backend Services authorizer, when client id, token url and key are set."""
    key = _load_private_key(settings)
    if not (settings.smart_client_id and settings.smart_token_url and key):
        return None
    return SmartBackendAuth(
        client_id=settings.smart_client_id,
        token_url=settings.smart_token_url,
        private_key=key,
        algorithm=settings.smart_algorithm,
        key_id=settings.smart_key_id,
        scope=settings.smart_scope,
        timeout_s=settings.fhir_timeout_s,
    )


def clients_from_settings(settings: Settings) -> tuple[FhirClient | None, FhirClient | None]:
    """(source, target) clients.  The source defaults to ``fhir_base_url``, the target to the
    source; tokens default to ``fhir_bearer_token``.  Either is None when no url is set."""
    default_token = _secret(settings.fhir_bearer_token)
    source_url = settings.source_fhir_base_url or settings.fhir_base_url
    target_url = settings.target_fhir_base_url or source_url
    smart = smart_auth(settings)
    source = build_client(
        settings,
        source_url,
        _secret(settings.source_fhir_bearer_token) or default_token,
        smart=smart,
    )
    target = build_client(
        settings,
        target_url,
        _secret(settings.target_fhir_bearer_token) or default_token,
        smart=smart,
    )
    return source, target


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
