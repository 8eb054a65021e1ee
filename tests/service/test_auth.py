"""Inbound authentication: static tokens and JWTs verified with a JWKS (file or URL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer

from note2fhir.errors import Note2FhirError
from note2fhir.settings import Settings
from service.app import create_app

from .conftest import AUTH, TOKEN

ISSUER = "https://auth.example.org"
AUDIENCE = "note2fhir"
SCOPE = "system/DocumentReference.read"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    """The key the test identity provider signs with."""
    return _key()


def jwks_of(key: rsa.RSAPrivateKey, kid: str = "k1") -> dict[str, Any]:
    """A JWKS holding the public half of ``key``."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def token(key: rsa.RSAPrivateKey, kid: str = "k1", **claims: Any) -> str:
    """A signed JWT with sensible defaults for the claims."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ehr", "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        key,
        algorithm="RS256",
        headers={"kid": kid},
    )


@pytest.fixture
def jwt_client(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, service_settings: Callable[..., Settings]
) -> FlaskClient:
    """A client of an app that accepts JWTs from the test JWKS file (and no static token)."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(signing_key)), "utf-8")
    settings = service_settings(
        api_tokens=[], api_jwks=str(path), api_jwt_issuer=ISSUER, api_jwt_audience=AUDIENCE
    )
    return create_app(settings).test_client()


def status(client: FlaskClient, bearer: str | None) -> int:
    """Status of GET /fhir/metadata with the given bearer token."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.get("/fhir/metadata", headers=headers).status_code


def test_static_token(client: FlaskClient) -> None:
    assert client.get("/fhir/metadata", headers=AUTH).status_code == 200
    missing = client.get("/fhir/metadata")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    body = missing.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["details"]["coding"][0]["code"] == "REQUEST_UNAUTHORIZED"
    assert status(client, "wrong") == 401
    assert client.get("/fhir/metadata", headers={"Authorization": TOKEN}).status_code == 401


def test_every_endpoint_but_the_probes_needs_a_token(client: FlaskClient) -> None:
    app = client.application
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "<" in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(rule.rule, method=method)
            expected = 200 if rule.rule in {"/healthz", "/readyz"} else 401
            assert response.status_code == expected, (method, rule.rule)


def test_metrics_public_setting(service_settings: Callable[..., Settings]) -> None:
    client = create_app(service_settings(metrics_public=True)).test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/fhir/metadata").status_code == 401


def test_no_credentials_configured_refuses_to_start(
    service_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(Note2FhirError) as info:
        create_app(service_settings(api_tokens=[]))
    assert info.value.code.name == "SETTINGS_INVALID"
    open_app = create_app(service_settings(api_tokens=[], api_auth_disabled=True))
    assert open_app.test_client().get("/fhir/metadata").status_code == 200


def test_jwt_accepted(jwt_client: FlaskClient, signing_key: rsa.RSAPrivateKey) -> None:
    assert status(jwt_client, token(signing_key)) == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "someone-else"},
        {"iss": "https://evil.example.org"},
        {"exp": None},
    ],
    ids=["expired", "audience", "issuer", "no-exp"],
)
def test_jwt_rejected(
    jwt_client: FlaskClient, signing_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    assert status(jwt_client, token(signing_key, **claims)) == 401


def test_jwt_from_another_key_or_kid(
    jwt_client: FlaskClient, signing_key: rsa.RSAPrivateKey
) -> None:
    assert status(jwt_client, token(_key())) == 401
    assert status(jwt_client, token(signing_key, kid="unknown")) == 401
    assert status(jwt_client, "a.b.c") == 401
    assert status(jwt_client, TOKEN) == 401


def test_jwt_without_the_required_scope_is_403(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, service_settings: Callable[..., Settings]
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(signing_key)), "utf-8")
    client = create_app(
        service_settings(api_jwks=str(path), api_jwt_scope=SCOPE, api_jwt_audience=AUDIENCE)
    ).test_client()
    denied = client.get("/fhir/metadata", headers={"Authorization": f"Bearer {token(signing_key)}"})
    assert denied.status_code == 403
    assert denied.get_json()["issue"][0]["details"]["coding"][0]["code"] == "REQUEST_FORBIDDEN"
    assert status(client, token(signing_key, scope=f"openid {SCOPE}")) == 200
    assert status(client, token(signing_key, scp=[SCOPE])) == 200
    assert status(client, TOKEN) == 200  # static tokens are not scoped


def test_jwks_url_is_fetched_and_cached(
    httpserver: HTTPServer,
    signing_key: rsa.RSAPrivateKey,
    service_settings: Callable[..., Settings],
) -> None:
    httpserver.expect_request("/jwks.json").respond_with_json(jwks_of(signing_key))
    settings = service_settings(
        api_tokens=[], api_jwks=httpserver.url_for("/jwks.json"), api_jwt_audience=AUDIENCE
    )
    client = create_app(settings).test_client()
    assert status(client, token(signing_key)) == 200
    assert status(client, token(signing_key)) == 200
    assert len(httpserver.log) == 1


def test_unreadable_jwks_fails_at_start(
    tmp_path: Path, service_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "bad.json").write_text("{", "utf-8")
    with pytest.raises(Note2FhirError):
        create_app(service_settings(api_jwks=str(tmp_path / "bad.json")))
