"""Fetching attachment urls: from the FHIR server (``Binary/123``) or allowed hosts only.

A url in a note's attachment is input, so fetching it is a server-side request forgery risk:
only ``http``/``https`` urls to the FHIR base URL's host or ``fetch_allowed_hosts`` are
fetched, redirects are followed by hand and checked the same way, and the bearer token goes
only to hosts named in the settings.  Errors carry a short safe reason (``HTTP 404``,
``timeout``), never the url's query string or the response body.
"""

from __future__ import annotations

import binascii
import json
import logging
import time
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import requests

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

ACCEPT = "application/fhir+json, */*"
JSON_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class AttachmentFetcher:
    """Fetches attachment urls with the limits and credentials of ``settings``.

    Build one per process (it keeps a connection pool) and :meth:`close` it when done, or use
    it as a context manager.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.base_url = settings.fhir_base_url
        self.token = (
            settings.fhir_bearer_token.get_secret_value() if settings.fhir_bearer_token else None
        )
        self.timeout_s = settings.fetch_timeout_s
        self.max_bytes = settings.max_attachment_bytes
        allowed = {_host_entry(host) for host in settings.fetch_allowed_hosts} - {""}
        self.allow_any = "*" in allowed
        self.trusted_hosts = allowed - {"*"}
        """Hosts named in the settings: the only ones that are sent the bearer token."""
        if self.base_url:
            base = urlsplit(self.base_url)
            if base.hostname:
                self.trusted_hosts.add(base.hostname.lower())
        self.session = session or requests.Session()

    def __enter__(self) -> AttachmentFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def fetch(self, url: str, *, path: str) -> tuple[bytes, str | None]:
        """Fetch ``url``; return its bytes and content type.

        A relative url such as ``Binary/123`` resolves against the FHIR base URL.  When the
        answer is a FHIR Binary resource, its decoded ``data`` and ``contentType`` are
        returned instead of the JSON.  ``path`` is the attachment's FHIRPath, for messages.
        """
        target = self.resolve(url, path=path)
        log.debug("fetching %s from %s", path, urlsplit(target).hostname)
        deadline = time.monotonic() + self.timeout_s
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get(target, path=path, deadline=deadline)
            with response:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise _failed(path, f"HTTP {response.status_code} without Location")
                    target = self.resolve(urljoin(target, location), path=path)
                    continue
                if response.status_code >= 400:
                    raise _failed(path, f"HTTP {response.status_code}")
                content_type = response.headers.get("Content-Type")
                is_json = _media_type(content_type) in JSON_MEDIA_TYPES
                # A Binary's data is base64 inside JSON: allow for the 4/3 growth.
                limit = self.max_bytes * 4 // 3 + _CHUNK if is_json else self.max_bytes
                body = self._read(response, limit=limit, path=path, deadline=deadline)
            if is_json:
                binary = _binary_content(body, path=path)
                if binary is not None:
                    data, binary_type = binary
                    if len(data) > self.max_bytes:
                        raise Note2FhirError(
                            ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=self.max_bytes
                        )
                    return data, binary_type
            if len(body) > self.max_bytes:
                raise Note2FhirError(
                    ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=self.max_bytes
                )
            return body, content_type
        raise _failed(path, "too many redirects")

    def resolve(self, url: str, *, path: str) -> str:
        """The absolute url to fetch for ``url``, checked against the allowed hosts."""
        url = url.strip()
        parts = urlsplit(url)
        if not parts.scheme:
            if not self.base_url:
                raise Note2FhirError(ErrorCode.URL_NOT_RESOLVABLE, path=path)
            if parts.netloc or url.startswith("/"):
                url = urljoin(self.base_url + "/", url)
            else:
                url = f"{self.base_url}/{url}"
            parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"}:
            raise Note2FhirError(
                ErrorCode.URL_SCHEME_UNSUPPORTED, path=path, scheme=safe_token(scheme)
            )
        try:
            host = (parts.hostname or "").lower()
            port = parts.port
        except ValueError:  # a port that is not a number
            host, port = "", None
        if not host:
            raise Note2FhirError(ErrorCode.URL_NOT_ALLOWED, path=path, host="(none)")
        if not (self.allow_any or self._trusted(host, port)):
            raise Note2FhirError(ErrorCode.URL_NOT_ALLOWED, path=path, host=safe_token(host))
        return url

    def _trusted(self, host: str, port: int | None) -> bool:
        return host in self.trusted_hosts or f"{host}:{port}" in self.trusted_hosts

    def _get(self, url: str, *, path: str, deadline: float) -> requests.Response:
        parts = urlsplit(url)
        headers = {"Accept": ACCEPT}
        if self.token and self._trusted((parts.hostname or "").lower(), parts.port):
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self.session.get(
                url,
                headers=headers,
                timeout=max(0.001, deadline - time.monotonic()),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _failed(path, _reason(exc)) from None

    def _read(
        self, response: requests.Response, *, limit: int, path: str, deadline: float
    ) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Note2FhirError(ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=self.max_bytes)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Note2FhirError(
                        ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=self.max_bytes
                    )
                if time.monotonic() > deadline:
                    raise _failed(path, "timeout")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise _failed(path, _reason(exc)) from None
        return b"".join(chunks)


def _host_entry(entry: str) -> str:
    """An allowed-hosts entry as ``host`` or ``host:port``; a full url is cut to its host."""
    entry = entry.strip().lower()
    if "://" in entry:
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname or ""
        return f"{host}:{port}" if port and host else host
    return entry.rstrip("/")


def _binary_content(body: bytes, *, path: str) -> tuple[bytes, str | None] | None:
    """The data and content type of a FHIR Binary resource, or None if ``body`` is not one."""
    try:
        resource = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        return None
    data = resource.get("data")
    if not isinstance(data, str):
        raise _failed(path, "the Binary resource has no data")
    try:
        decoded = binascii.a2b_base64("".join(data.split()), strict_mode=True)
    except (binascii.Error, ValueError):
        raise Note2FhirError(ErrorCode.ATTACHMENT_BASE64, path=path) from None
    content_type = resource.get("contentType")
    return decoded, content_type if isinstance(content_type, str) else None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _failed(path: str, reason: str) -> Note2FhirError:
    return Note2FhirError(ErrorCode.URL_FETCH_FAILED, path=path, reason=reason)


def _reason(exc: requests.RequestException) -> str:
    """A short reason for a failed request that names no url and quotes no response."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__:
                return "timeout"
            cause = cause.__cause__ or cause.__context__ or _first_arg_exception(cause)
        return "connection failed"
    return f"request failed ({type(exc).__name__})"


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    """requests wraps urllib3 errors as the first argument, not as the cause."""
    first = exc.args[0] if exc.args else None
    if isinstance(first, BaseException) and first is not exc:
        return first
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) and reason is not exc else None


def safe_token(value: str) -> str:
    """A host or scheme fit for a message: printable, bounded."""
    cleaned = "".join(ch for ch in value if ch.isalnum() or ch in ".-:[]_")
    return cleaned[:100] or "(invalid)"
