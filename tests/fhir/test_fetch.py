from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.fetch import AttachmentFetcher
from note2fhir.settings import Settings

PATH = "DocumentReference.content[0].attachment"
NOTE = b"Chief complaint: chest pain. Denies shortness of breath."


def make_settings(httpserver: HTTPServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "fhir_base_url": httpserver.url_for("/fhir"),
        "fhir_bearer_token": None,
        "fetch_allowed_hosts": [],
        "fetch_timeout_s": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def fetcher(httpserver: HTTPServer) -> Iterator[AttachmentFetcher]:
    with AttachmentFetcher(make_settings(httpserver)) as fetcher:
        yield fetcher


def fetch_error(fetcher: AttachmentFetcher, url: str) -> Note2FhirError:
    with pytest.raises(Note2FhirError) as caught:
        fetcher.fetch(url, path=PATH)
    assert PATH in caught.value.message
    return caught.value


def other_host_url(httpserver: HTTPServer, suffix: str) -> str:
    """The same server under another host name (127.0.0.1 instead of localhost)."""
    return httpserver.url_for(suffix).replace("localhost", "127.0.0.1")


def test_relative_url_fetches_a_binary_resource(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    httpserver.expect_request("/fhir/Binary/123").respond_with_json(
        {
            "resourceType": "Binary",
            "contentType": "text/plain; charset=utf-8",
            "data": base64.encodebytes(NOTE).decode(),  # with line breaks, as exports have
        },
        content_type="application/fhir+json",
    )
    data, content_type = fetcher.fetch("Binary/123", path=PATH)
    assert data == NOTE
    assert content_type == "text/plain; charset=utf-8"
    request = httpserver.log[-1][0]
    assert request.headers["Accept"] == "application/fhir+json, */*"
    assert "Authorization" not in request.headers


def test_raw_bytes_come_with_the_response_content_type(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    httpserver.expect_request("/notes/1.txt").respond_with_data(
        NOTE, content_type="text/plain; charset=iso-8859-1"
    )
    data, content_type = fetcher.fetch(httpserver.url_for("/notes/1.txt"), path=PATH)
    assert data == NOTE
    assert content_type == "text/plain; charset=iso-8859-1"


def test_json_that_is_not_a_binary_is_returned_raw(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    httpserver.expect_request("/fhir/Patient/1").respond_with_json({"resourceType": "Patient"})
    data, content_type = fetcher.fetch("Patient/1", path=PATH)
    assert b'"Patient"' in data
    assert content_type == "application/json"


def test_binary_without_data_fails(httpserver: HTTPServer, fetcher: AttachmentFetcher) -> None:
    httpserver.expect_request("/fhir/Binary/1").respond_with_json({"resourceType": "Binary"})
    assert fetch_error(fetcher, "Binary/1").code is ErrorCode.URL_FETCH_FAILED


def test_binary_with_bad_base64_fails(httpserver: HTTPServer, fetcher: AttachmentFetcher) -> None:
    httpserver.expect_request("/fhir/Binary/1").respond_with_json(
        {"resourceType": "Binary", "data": "not*base64"}
    )
    assert fetch_error(fetcher, "Binary/1").code is ErrorCode.ATTACHMENT_BASE64


def test_http_error_gives_only_the_status(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    httpserver.expect_request("/fhir/Binary/404").respond_with_data(
        "Patient Jane Roe not found", status=404
    )
    err = fetch_error(fetcher, "Binary/404?patient=Jane+Roe")
    assert err.code is ErrorCode.URL_FETCH_FAILED
    assert err.params["reason"] == "HTTP 404"
    assert "Jane" not in err.one_line()


def test_bearer_token_is_sent_to_the_fhir_server(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/fhir/Binary/1", headers={"Authorization": "Bearer s3cret"}
    ).respond_with_data(NOTE, content_type="text/plain")
    with AttachmentFetcher(make_settings(httpserver, fhir_bearer_token="s3cret")) as fetcher:
        assert fetcher.fetch("Binary/1", path=PATH)[0] == NOTE


def test_bearer_token_is_not_sent_to_hosts_allowed_only_by_star(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/elsewhere").respond_with_data(NOTE)
    settings = make_settings(httpserver, fhir_bearer_token="s3cret", fetch_allowed_hosts=["*"])
    with AttachmentFetcher(settings) as fetcher:
        assert fetcher.fetch(other_host_url(httpserver, "/elsewhere"), path=PATH)[0] == NOTE
    assert "Authorization" not in httpserver.log[-1][0].headers


def test_bearer_token_is_sent_to_named_allowed_hosts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/elsewhere").respond_with_data(NOTE)
    settings = make_settings(
        httpserver, fhir_bearer_token="s3cret", fetch_allowed_hosts=["127.0.0.1"]
    )
    with AttachmentFetcher(settings) as fetcher:
        fetcher.fetch(other_host_url(httpserver, "/elsewhere"), path=PATH)
    assert httpserver.log[-1][0].headers["Authorization"] == "Bearer s3cret"


def test_disallowed_host_is_refused_before_any_request(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    err = fetch_error(fetcher, other_host_url(httpserver, "/x?name=Jane"))
    assert err.code is ErrorCode.URL_NOT_ALLOWED
    assert err.params["host"] == "127.0.0.1"
    assert "Jane" not in err.one_line()
    assert httpserver.log == []


def test_redirect_is_followed_only_to_allowed_hosts(
    httpserver: HTTPServer, fetcher: AttachmentFetcher
) -> None:
    httpserver.expect_request("/fhir/Binary/moved").respond_with_data(
        "", status=302, headers={"Location": "/fhir/Binary/here"}
    )
    httpserver.expect_request("/fhir/Binary/here").respond_with_data(NOTE)
    assert fetcher.fetch("Binary/moved", path=PATH)[0] == NOTE

    httpserver.expect_request("/fhir/Binary/away").respond_with_data(
        "", status=307, headers={"Location": other_host_url(httpserver, "/steal")}
    )
    assert fetch_error(fetcher, "Binary/away").code is ErrorCode.URL_NOT_ALLOWED


def test_redirect_loop_fails(httpserver: HTTPServer, fetcher: AttachmentFetcher) -> None:
    httpserver.expect_request("/fhir/loop").respond_with_data(
        "", status=302, headers={"Location": "/fhir/loop"}
    )
    err = fetch_error(fetcher, "loop")
    assert err.params["reason"] == "too many redirects"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://localhost/x", "urn:uuid:1234", "data:text/plain,hi"]
)
def test_only_http_schemes(fetcher: AttachmentFetcher, url: str) -> None:
    assert fetch_error(fetcher, url).code is ErrorCode.URL_SCHEME_UNSUPPORTED


def test_relative_url_without_base_is_not_resolvable() -> None:
    settings = Settings(fhir_base_url=None, fetch_allowed_hosts=["*"])
    with AttachmentFetcher(settings) as fetcher:
        assert fetch_error(fetcher, "Binary/1").code is ErrorCode.URL_NOT_RESOLVABLE


def test_size_limit_from_content_length(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/fhir/big").respond_with_data(b"x" * 1000)
    with AttachmentFetcher(make_settings(httpserver, max_attachment_bytes=100)) as fetcher:
        err = fetch_error(fetcher, "big")
    assert err.code is ErrorCode.ATTACHMENT_TOO_LARGE
    assert err.params["limit"] == 100


def test_size_limit_while_streaming(httpserver: HTTPServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"y" * 64

    httpserver.expect_request("/fhir/stream").respond_with_handler(
        lambda request: Response(chunks(), content_type="text/plain")
    )
    with AttachmentFetcher(make_settings(httpserver, max_attachment_bytes=100)) as fetcher:
        assert fetch_error(fetcher, "stream").code is ErrorCode.ATTACHMENT_TOO_LARGE


def test_size_limit_applies_to_decoded_binary(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/fhir/Binary/big").respond_with_json(
        {"resourceType": "Binary", "data": base64.b64encode(b"z" * 200).decode()}
    )
    with AttachmentFetcher(make_settings(httpserver, max_attachment_bytes=150)) as fetcher:
        assert fetch_error(fetcher, "Binary/big").code is ErrorCode.ATTACHMENT_TOO_LARGE


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(NOTE)

    httpserver.expect_request("/fhir/slow").respond_with_handler(slow)
    with AttachmentFetcher(make_settings(httpserver, fetch_timeout_s=0.15)) as fetcher:
        err = fetch_error(fetcher, "slow")
    assert err.code is ErrorCode.URL_FETCH_FAILED
    assert err.params["reason"] == "timeout"


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(fhir_base_url=f"http://127.0.0.1:{port}/fhir", fetch_allowed_hosts=[])
    with AttachmentFetcher(settings) as fetcher:
        err = fetch_error(fetcher, "Binary/1")
    assert err.code is ErrorCode.URL_FETCH_FAILED
    assert err.params["reason"] == "connection refused"


@pytest.mark.parametrize(
    "entry", ["127.0.0.1", "127.0.0.1:{port}", "http://127.0.0.1:{port}/", " 127.0.0.1 "]
)
def test_allowed_host_spellings(httpserver: HTTPServer, entry: str) -> None:
    httpserver.expect_request("/elsewhere").respond_with_data(NOTE)
    allowed = entry.format(port=httpserver.port)
    with AttachmentFetcher(make_settings(httpserver, fetch_allowed_hosts=[allowed])) as fetcher:
        assert fetcher.fetch(other_host_url(httpserver, "/elsewhere"), path=PATH)[0] == NOTE
