"""Inbound authentication: static bearer tokens, or JWTs signed by a configured JWKS.

Every endpoint needs ``Authorization: Bearer <token>`` except the probes (``/healthz``,
``/readyz``) and, with ``metrics_public``, ``/metrics``.  A token is accepted when it equals
one of ``api_tokens`` (constant-time comparison) or is a JWT whose signature verifies against
``api_jwks`` (a file, or an https URL fetched at start-up and cached; an unknown ``kid``
refetches it), that has not expired, and whose ``iss``/``aud`` match the settings when set.
A valid JWT without ``api_jwt_scope`` gets 403.  Failures name the reason, never the token.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

import jwt

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

_LEEWAY_S = 30
_JWKS_CACHE_S = 300


class Authenticator:
    """Checks bearer tokens against the configured static tokens and JWKS."""

    def __init__(self, settings: Settings) -> None:
        self.disabled = settings.api_auth_disabled
        self._tokens = [t.get_secret_value().encode("utf-8") for t in settings.api_tokens if t]
        self._issuer = settings.api_jwt_issuer
        self._audience = settings.api_jwt_audience
        self._algorithms = list(settings.api_jwt_algorithms)
        self._scope = settings.api_jwt_scope
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if settings.api_jwks:
            self._load_jwks(settings.api_jwks, settings.fetch_timeout_s)
        if not (self.disabled or self._tokens or self._client or self._keys):
            raise Note2FhirError(
                ErrorCode.SETTINGS_INVALID,
                reason="the service needs api_tokens or api_jwks (NOTE2FHIR_API_TOKENS, "
                "NOTE2FHIR_API_JWKS); api_auth_disabled=true turns authentication off for "
                "local testing",
            )
        if self.disabled:
            log.warning("inbound authentication is disabled (api_auth_disabled)")

    def _load_jwks(self, source: str, timeout: float) -> None:
        if source.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(
                source, cache_jwk_set=True, lifespan=_JWKS_CACHE_S, timeout=int(timeout)
            )
            try:
                self._client.get_jwk_set()  # fail fast on a wrong URL
            except jwt.PyJWKClientError:
                raise Note2FhirError(
                    ErrorCode.SETTINGS_INVALID, reason="api_jwks could not be fetched"
                ) from None
            return
        try:
            self._keys = jwt.PyJWKSet.from_json(Path(source).read_text("utf-8"))
        except (OSError, ValueError, jwt.PyJWKSetError):
            raise Note2FhirError(
                ErrorCode.SETTINGS_INVALID, reason="api_jwks is not a readable JWKS file"
            ) from None

    def check(self, authorization: str | None) -> dict[str, Any] | None:
        """Accept the ``Authorization`` header value or raise REQUEST_UNAUTHORIZED (401) or
        REQUEST_FORBIDDEN (403).  Returns the JWT claims when a JWT was accepted."""
        if self.disabled:
            return None
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Note2FhirError(ErrorCode.REQUEST_UNAUTHORIZED, reason="no bearer token sent")
        given = token.encode("utf-8")
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(given, known)
        if matched:
            return None
        if (self._client is None and self._keys is None) or token.count(".") != 2:
            raise Note2FhirError(ErrorCode.REQUEST_UNAUTHORIZED, reason="unknown token")
        claims = self._verify(token)
        if self._scope and self._scope not in _scopes(claims):
            raise Note2FhirError(ErrorCode.REQUEST_FORBIDDEN, scope=self._scope)
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._signing_key(token)
            required = (
                ["exp"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
            )
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=_LEEWAY_S,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Note2FhirError(
                ErrorCode.REQUEST_UNAUTHORIZED, reason="the token has expired"
            ) from None
        except jwt.InvalidAudienceError:
            raise Note2FhirError(
                ErrorCode.REQUEST_UNAUTHORIZED, reason="the token is for another audience"
            ) from None
        except jwt.InvalidIssuerError:
            raise Note2FhirError(
                ErrorCode.REQUEST_UNAUTHORIZED, reason="the token is from another issuer"
            ) from None
        except (jwt.PyJWTError, KeyError, ValueError):
            raise Note2FhirError(
                ErrorCode.REQUEST_UNAUTHORIZED, reason="the token does not verify"
            ) from None
        return claims

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        if kid is None:
            if len(self._keys.keys) != 1:
                raise KeyError("kid")
            return self._keys.keys[0].key
        return self._keys[kid].key


def _scopes(claims: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return found
