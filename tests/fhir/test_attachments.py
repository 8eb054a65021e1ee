from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.attachments import (
    DecodedText,
    decode_attachment,
    parse_content_type,
    sniff_markup_charset,
)
from note2fhir.fhir.fetch import AttachmentFetcher
from note2fhir.settings import Settings

PATH = "DocumentReference.content[0].attachment"
NOTE = "Patient Jane Roe denies chest pain.\r\nPlan: aspirin 81 mg daily."
Make = Callable[..., dict[str, Any]]


def decode(
    attachment: dict[str, Any],
    settings: Settings | None = None,
    fetcher: AttachmentFetcher | None = None,
) -> DecodedText:
    return decode_attachment(
        attachment, path=PATH, settings=settings or Settings(), fetcher=fetcher
    )


def error_of(attachment: dict[str, Any], **kwargs: Any) -> Note2FhirError:
    with pytest.raises(Note2FhirError) as caught:
        decode(attachment, **kwargs)
    err = caught.value
    assert PATH in err.message
    for word in ("Jane", "Roe", "chest", "aspirin"):
        assert word not in err.one_line(), "messages never quote the note"
    return err


class StubFetcher(AttachmentFetcher):
    """Answers every url with fixed bytes and content type, without a network."""

    def __init__(self, data: bytes, content_type: str | None) -> None:
        super().__init__(Settings(fhir_base_url="https://fhir.example.org/r4"))
        self.data = data
        self.content_type = content_type
        self.urls: list[str] = []

    def fetch(self, url: str, *, path: str) -> tuple[bytes, str | None]:
        self.urls.append(url)
        return self.data, self.content_type


# -- text ---------------------------------------------------------------------------------


def test_plain_text_is_kept_exactly(attachment: Make) -> None:
    decoded = decode(attachment(NOTE.encode(), contentType="text/plain"))
    assert decoded.original_text == NOTE
    assert decoded.text == NOTE
    assert "\r\n" in decoded.text
    assert decoded.offsets.is_identity
    assert decoded.content_type == "text/plain"


def test_utf8_bom_is_dropped(attachment: Make) -> None:
    decoded = decode(attachment(b"\xef\xbb\xbfCHF", contentType="text/plain; charset=UTF-8"))
    assert decoded.text == "CHF"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=iso-8859-1",
        'Text/Plain; CHARSET="ISO-8859-1"',
        "text/plain;charset=latin1;format=flowed",
        "text/plain; format=flowed; charset = windows-1252",
    ],
)
def test_declared_charset_is_used(attachment: Make, content_type: str) -> None:
    decoded = decode(attachment("Café au lait spots".encode("latin-1"), contentType=content_type))
    assert decoded.text == "Café au lait spots"


def test_markdown_is_text(attachment: Make) -> None:
    assert decode(attachment(b"# HPI\n- cough", contentType="text/markdown")).text.startswith("#")


def test_unknown_charset(attachment: Make) -> None:
    err = error_of(attachment(b"x", contentType="text/plain; charset=klingon-8"))
    assert err.code is ErrorCode.ATTACHMENT_CHARSET
    assert err.params["charset"] == "klingon-8"


@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "undefined"])
def test_codec_that_is_not_a_text_encoding(attachment: Make, charset: str) -> None:
    err = error_of(attachment(b"eA==", contentType=f"text/plain; charset={charset}"))
    assert err.code is ErrorCode.ATTACHMENT_CHARSET


def test_invalid_bytes_for_charset(attachment: Make) -> None:
    err = error_of(attachment("Jane Roe é".encode("latin-1"), contentType="text/plain"))
    assert err.code is ErrorCode.ATTACHMENT_DECODE
    assert err.params["charset"] == "utf-8"


# -- base64, size, hash -----------------------------------------------------------------------


def test_base64_with_line_breaks_is_accepted() -> None:
    data = base64.encodebytes(NOTE.encode() * 5).decode()
    assert "\n" in data
    assert decode({"data": data, "contentType": "text/plain"}).text == NOTE * 5


@pytest.mark.parametrize("data", ["not base64!", "QQ==QQ==", "=QQ=", "QUJ", "QUJDRA", "Q\u00e9JD"])
def test_bad_base64(data: str) -> None:
    assert error_of({"data": data, "contentType": "text/plain"}).code is ErrorCode.ATTACHMENT_BASE64


def test_declared_size_over_the_limit(attachment: Make) -> None:
    small = Settings(max_attachment_bytes=10)
    err = error_of(attachment(b"tiny", contentType="text/plain", size=11), settings=small)
    assert err.code is ErrorCode.ATTACHMENT_TOO_LARGE
    err = error_of(attachment(b"tiny", contentType="text/plain", size="11"), settings=small)
    assert err.code is ErrorCode.ATTACHMENT_TOO_LARGE


def test_data_over_the_limit(attachment: Make) -> None:
    small = Settings(max_attachment_bytes=10)
    err = error_of(attachment(b"x" * 11, contentType="text/plain"), settings=small)
    assert err.code is ErrorCode.ATTACHMENT_TOO_LARGE
    assert err.params["limit"] == 10
    assert decode(attachment(b"x" * 10, contentType="text/plain"), settings=small).text == "x" * 10


def test_hash_matches(attachment: Make) -> None:
    raw = NOTE.encode()
    digest = hashlib.sha1(raw).digest()
    good = base64.b64encode(digest).decode()
    assert decode(attachment(raw, contentType="text/plain", hash=good)).text == NOTE
    assert decode(attachment(raw, contentType="text/plain", hash=digest.hex())).text == NOTE


@pytest.mark.parametrize("bad", ["RVFILy4uQWdNRQo=", "not base64", "00" * 20])
def test_hash_mismatch(attachment: Make, bad: str) -> None:
    err = error_of(attachment(NOTE.encode(), contentType="text/plain", hash=bad))
    assert err.code is ErrorCode.ATTACHMENT_HASH_MISMATCH


def test_neither_data_nor_url() -> None:
    assert error_of({"contentType": "text/plain"}).code is ErrorCode.ATTACHMENT_EMPTY
    assert error_of({"data": "", "url": ""}).code is ErrorCode.ATTACHMENT_EMPTY


@pytest.mark.parametrize(
    "attachment",
    [{"data": 12}, {"url": ["x"]}, {"data": "eA==", "contentType": 5}, {"data": "eA==", "hash": 1}],
)
def test_wrongly_typed_fields(attachment: dict[str, Any]) -> None:
    err = error_of(attachment)
    assert err.code is ErrorCode.RESOURCE_INVALID
    assert err.expression == PATH


# -- content types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/rtf", "application/rtf", "application/octet-stream", "image/png", "text/xml", "x"],
)
def test_unsupported_media_types(attachment: Make, content_type: str) -> None:
    err = error_of(attachment(b"{\\rtf1 Jane}", contentType=content_type))
    assert err.code is ErrorCode.MEDIA_TYPE_UNSUPPORTED


def test_missing_content_type_is_sniffed(attachment: Make, make_pdf: Callable[..., bytes]) -> None:
    assert decode(attachment(b"CHF")).content_type == "text/plain"
    decoded = decode(attachment(make_pdf(["Impression: no acute disease"])))
    assert decoded.content_type == "application/pdf"
    assert "Impression" in decoded.text


def test_pdf(attachment: Make, make_pdf: Callable[..., bytes]) -> None:
    decoded = decode(attachment(make_pdf(["Findings: normal"]), contentType="application/pdf"))
    assert "Findings: normal" in decoded.text
    assert decoded.original_text == decoded.text
    assert decoded.offsets.is_identity


def test_pdf_errors_carry_the_path(attachment: Make, make_pdf: Callable[..., bytes]) -> None:
    err = error_of(attachment(b"garbage", contentType="application/pdf"))
    assert err.code is ErrorCode.PDF_UNREADABLE
    err = error_of(attachment(make_pdf([""], rectangle=True), contentType="application/pdf"))
    assert err.code is ErrorCode.PDF_NO_TEXT


def test_html_is_reduced_and_maps_back(attachment: Make) -> None:
    markup = "<html><body><p>Dx:&nbsp;<b>CHF</b></p></body></html>"
    decoded = decode(attachment(markup.encode(), contentType="text/html; charset=utf-8"))
    assert decoded.original_text == markup
    assert decoded.text.strip() == "Dx: CHF"
    start = decoded.text.index("CHF")
    o_start, o_end = decoded.offsets.span(start, start + 3)
    assert markup[o_start:o_end] == "CHF"
    assert decoded.content_type == "text/html"


@pytest.mark.parametrize("content_type", ["application/xhtml+xml", "application/xhtml"])
def test_xhtml(attachment: Make, content_type: str) -> None:
    markup = '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><p>ok</p></html>'
    decoded = decode(attachment(markup.encode(), contentType=content_type))
    assert decoded.text.strip() == "ok"
    assert decoded.content_type == "application/xhtml+xml"


@pytest.mark.parametrize(
    ("markup", "charset"),
    [
        ('<html><head><meta charset="iso-8859-1"></head>', "iso-8859-1"),
        ("<META CHARSET=windows-1252>", "windows-1252"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=latin1">', "latin1"),
        ("<?xml version='1.0' encoding='ISO-8859-1'?><html/>", "iso-8859-1"),
        ("<html><p>no declaration</p>", None),
    ],
)
def test_markup_charset_sniffing(markup: str, charset: str | None) -> None:
    assert sniff_markup_charset(markup.encode("ascii")) == charset


def test_markup_bom_is_sniffed() -> None:
    assert sniff_markup_charset("<p>x</p>".encode("utf-16")) == "utf-16"
    assert sniff_markup_charset(b"\xef\xbb\xbf<p>x</p>") == "utf-8"


def test_html_meta_charset_decodes(attachment: Make) -> None:
    markup = '<meta charset="iso-8859-1"><p>Café</p>'
    decoded = decode(attachment(markup.encode("latin-1"), contentType="text/html"))
    assert "Café" in decoded.text


def test_content_type_charset_beats_meta(attachment: Make) -> None:
    markup = '<meta charset="utf-16"><p>Café</p>'
    raw = markup.encode("latin-1")
    decoded = decode(attachment(raw, contentType="text/html; charset=latin-1"))
    assert "Café" in decoded.text


def test_unknown_meta_charset(attachment: Make) -> None:
    err = error_of(attachment(b'<meta charset="nope-1"><p>x</p>', contentType="text/html"))
    assert err.code is ErrorCode.ATTACHMENT_CHARSET


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/plain", ("text/plain", {})),
        ("TEXT/HTML; Charset=UTF-8", ("text/html", {"charset": "UTF-8"})),
        ('text/plain; charset="utf-8"; x="a;b"', ("text/plain", {"charset": "utf-8", "x": "a;b"})),
        ('text/plain; x="q\\"uote"', ("text/plain", {"x": 'q"uote'})),
        ("text/plain; novalue; charset=ascii", ("text/plain", {"charset": "ascii"})),
        ("text/plain; charset=", ("text/plain", {"charset": ""})),
        ("garbage", ("", {})),
        ("a/b/c", ("", {})),
        ("", ("", {})),
        ('text/plain; x="unterminated', ("text/plain", {"x": "unterminated"})),
    ],
)
def test_parse_content_type(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_content_type(value) == expected


# -- urls -------------------------------------------------------------------------------------


def test_url_without_fetcher_is_refused() -> None:
    err = error_of({"url": "Binary/1", "contentType": "text/plain"})
    assert err.code is ErrorCode.URL_FETCH_DISABLED


def test_url_is_fetched_and_checked() -> None:
    fetcher = StubFetcher(NOTE.encode("latin-1"), "text/plain; charset=iso-8859-1")
    digest = base64.b64encode(hashlib.sha1(NOTE.encode("latin-1")).digest()).decode()
    decoded = decode(
        {"url": "Binary/1", "contentType": "text/plain", "hash": digest}, fetcher=fetcher
    )
    assert decoded.text == NOTE
    assert fetcher.urls == ["Binary/1"]
    err = error_of({"url": "Binary/1", "hash": "RVFILy4uQWdNRQo="}, fetcher=fetcher)
    assert err.code is ErrorCode.ATTACHMENT_HASH_MISMATCH


def test_fetched_type_is_used_without_a_declared_one(make_pdf: Callable[..., bytes]) -> None:
    html = StubFetcher(b"<p>Impression: normal</p>", "text/html")
    assert decode({"url": "Binary/1"}, fetcher=html).text.strip() == "Impression: normal"
    pdf = StubFetcher(make_pdf(["Impression: normal"]), "application/octet-stream")
    assert "Impression" in decode({"url": "Binary/1"}, fetcher=pdf).text


def test_fetched_data_over_the_limit() -> None:
    fetcher = StubFetcher(b"x" * 20, "text/plain")
    small = Settings(max_attachment_bytes=10)
    err = error_of({"url": "Binary/1"}, fetcher=fetcher, settings=small)
    assert err.code is ErrorCode.ATTACHMENT_TOO_LARGE


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(min_size=1, max_size=300), width=st.integers(min_value=4, max_value=80))
def test_base64_round_trips_any_bytes(raw: bytes, width: int) -> None:
    encoded = base64.b64encode(raw).decode()
    wrapped = "\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    decoded = decode({"data": wrapped, "contentType": "text/plain; charset=latin-1"})
    assert decoded.original_text == raw.decode("latin-1")


CHARSETS = ["utf-8", "UTF-8", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "ascii"]


@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=200), charset=st.sampled_from(CHARSETS))
def test_text_round_trips_in_any_charset(text: str, charset: str) -> None:
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError:
        return
    if not raw:
        return
    if charset.lower() == "utf-8" and text.startswith("\ufeff"):
        return  # a leading BOM is dropped by design
    decoded = decode(
        {"data": base64.b64encode(raw).decode(), "contentType": f"text/plain; charset={charset}"}
    )
    assert decoded.original_text == text
    assert decoded.text == text


@settings(max_examples=150, deadline=None)
@given(
    raw=st.binary(max_size=200),
    content_type=st.one_of(
        st.none(),
        st.sampled_from(
            ["text/plain", "text/html", "application/pdf", "text/rtf", "text/plain; charset=utf-16"]
        ),
        st.text(max_size=30),
    ),
    extra=st.dictionaries(
        st.sampled_from(["size", "hash", "url", "title"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=10)),
    ),
)
def test_any_attachment_decodes_or_fails_cleanly(
    raw: bytes, content_type: str | None, extra: dict[str, Any]
) -> None:
    attachment: dict[str, Any] = {"data": base64.b64encode(raw).decode(), **extra}
    if content_type is not None:
        attachment["contentType"] = content_type
    try:
        decoded = decode(attachment)
    except Note2FhirError:
        return
    assert decoded.offsets.work_length == len(decoded.text)
    assert decoded.offsets.orig_length == len(decoded.original_text)
