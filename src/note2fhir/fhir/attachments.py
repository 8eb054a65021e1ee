"""Decode one FHIR Attachment into the note's text.

Inline ``data`` is base64; a ``url`` is fetched.  The declared ``size`` and the limit in the
settings bound what is read, a ``hash`` is checked, and the content type decides how bytes
become text: ``text/*`` by its charset, HTML and XHTML reduced to text with a map back to the
markup, PDF through its text layer.  The original text is kept exactly as decoded (no
newline normalisation), because every offset that leaves the library points into it.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
from dataclasses import dataclass
from typing import Any

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.fetch import AttachmentFetcher, safe_token
from note2fhir.fhir.html_text import html_to_text
from note2fhir.fhir.pdf_text import pdf_to_text
from note2fhir.offsets import OffsetMap
from note2fhir.settings import Settings

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml"})
"""Markup reduced to text; ``application/xhtml`` is not registered but US Core examples use it."""

PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})

NOT_TEXT_TYPES = frozenset({"text/rtf", "text/richtext", "text/enriched", "text/xml"})
"""``text/*`` types whose bytes are markup we do not reduce: reading them as plain text would
feed control words or XML tags to the extractors."""

SNIFF_HEAD = 1024
"""How many leading bytes of HTML are searched for a declared charset."""

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
_CHARSET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._:-")


@dataclass(frozen=True, slots=True)
class DecodedText:
    """An attachment as text: ``original_text`` exactly as decoded, ``text`` the working
    text, ``offsets`` the map from ``text`` to ``original_text`` and ``content_type`` the
    media type that decided the decoding (``text/html``)."""

    original_text: str
    text: str
    offsets: OffsetMap
    content_type: str


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type into its lowercased media type and its parameters.

    Parameter names are lowercased; quoted values lose their quotes and backslash escapes.
    The media type is ``""`` when it is not ``type/subtype``.

    >>> parse_content_type('Text/HTML; Charset="ISO-8859-1"')
    ('text/html', {'charset': 'ISO-8859-1'})
    """
    media, _, rest = value.partition(";")
    media = media.strip().lower()
    kind, slash, sub = media.partition("/")
    if not (slash and kind and sub and set(kind) <= _TOKEN_CHARS and set(sub) <= _TOKEN_CHARS):
        media = ""
    params: dict[str, str] = {}
    pos, n = 0, len(rest)
    while pos < n:
        end = pos
        while end < n and rest[end] not in "=;":
            end += 1
        name = rest[pos:end].strip().lower()
        if end >= n or rest[end] == ";":
            pos = end + 1
            continue
        pos = end + 1
        while pos < n and rest[pos] in " \t":
            pos += 1
        if pos < n and rest[pos] == '"':
            chars: list[str] = []
            pos += 1
            while pos < n and rest[pos] != '"':
                if rest[pos] == "\\" and pos + 1 < n:
                    pos += 1
                chars.append(rest[pos])
                pos += 1
            param = "".join(chars)
            semi = rest.find(";", pos)
            pos = n if semi == -1 else semi + 1
        else:
            semi = rest.find(";", pos)
            stop = n if semi == -1 else semi
            param = rest[pos:stop].strip()
            pos = stop + 1
        if name and name not in params:
            params[name] = param
    return media, params


def decode_attachment(
    attachment: dict[str, Any],
    *,
    path: str,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
) -> DecodedText:
    """Decode the FHIR Attachment ``attachment`` into text, or raise a catalogue error.

    ``path`` is its FHIRPath (``DocumentReference.content[0].attachment``), used in
    messages; ``fetcher`` fetches a ``url`` (None turns fetching off).  A US Core discharge
    summary with ``contentType: text/plain`` and base64 ``data`` decodes to its text with an
    identity map.
    """
    if not isinstance(attachment, dict):
        raise _invalid(path, "is not an object")
    limit = settings.max_attachment_bytes
    declared_type = attachment.get("contentType")
    if declared_type is not None and not isinstance(declared_type, str):
        raise _invalid(path, "contentType is not a string")
    _check_declared_size(attachment.get("size"), path=path, limit=limit)

    data = attachment.get("data")
    url = attachment.get("url")
    fetched_type: str | None = None
    if data is not None and data != "":
        if not isinstance(data, str):
            raise _invalid(path, "data is not a string")
        raw = decode_base64(data, path=path, limit=limit)
    elif url is not None and url != "":
        if not isinstance(url, str):
            raise _invalid(path, "url is not a string")
        if fetcher is None:
            raise Note2FhirError(ErrorCode.URL_FETCH_DISABLED, path=path)
        raw, fetched_type = fetcher.fetch(url, path=path)
    else:
        raise Note2FhirError(ErrorCode.ATTACHMENT_EMPTY, path=path)
    if len(raw) > limit:
        raise Note2FhirError(ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=limit)
    _check_hash(attachment.get("hash"), raw, path=path)

    media, params = _content_type(raw, declared_type, fetched_type)
    if media in PDF_TYPES:
        text = pdf_to_text(raw, path=path)
        return DecodedText(text, text, OffsetMap.identity(len(text)), "application/pdf")
    if media in HTML_TYPES:
        charset = params.get("charset") or sniff_markup_charset(raw) or "utf-8"
        markup = decode_bytes(raw, charset, path=path)
        reduced, offsets = html_to_text(markup)
        kind = "text/html" if media == "text/html" else "application/xhtml+xml"
        return DecodedText(markup, reduced, offsets, kind)
    if media.startswith("text/") and media not in NOT_TEXT_TYPES:
        text = decode_bytes(raw, params.get("charset") or "utf-8", path=path)
        return DecodedText(text, text, OffsetMap.identity(len(text)), media)
    raise Note2FhirError(
        ErrorCode.MEDIA_TYPE_UNSUPPORTED, path=path, content_type=media or "(invalid)"
    )


def decode_base64(data: str, *, path: str, limit: int) -> bytes:
    """Strictly decode base64 ``data``; line breaks and spaces inside it are allowed, as in
    real exports.  Raises ``ATTACHMENT_BASE64`` or, before decoding, ``ATTACHMENT_TOO_LARGE``."""
    compact = "".join(data.split())
    if len(compact) // 4 * 3 > limit + 3:
        raise Note2FhirError(ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=limit)
    try:
        return binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        raise Note2FhirError(ErrorCode.ATTACHMENT_BASE64, path=path) from None


def decode_bytes(raw: bytes, charset: str, *, path: str) -> str:
    """Decode ``raw`` in ``charset`` (UTF-8 drops a leading byte-order mark).

    Raises ``ATTACHMENT_CHARSET`` for a charset Python does not know as a text encoding and
    ``ATTACHMENT_DECODE`` for bytes that are not valid in it.
    """
    label = safe_token(charset.strip().lower())
    try:
        codec = codecs.lookup(charset.strip())
    except (LookupError, ValueError, TypeError):
        raise Note2FhirError(ErrorCode.ATTACHMENT_CHARSET, path=path, charset=label) from None
    name = "utf-8-sig" if codec.name == "utf-8" else codec.name
    try:
        return raw.decode(name)
    except UnicodeDecodeError:
        raise Note2FhirError(ErrorCode.ATTACHMENT_DECODE, path=path, charset=label) from None
    except (LookupError, UnicodeError, ValueError, TypeError):
        # A codec that is no text encoding (base64, zlib) or cannot decode at all.
        raise Note2FhirError(ErrorCode.ATTACHMENT_CHARSET, path=path, charset=label) from None


def sniff_markup_charset(raw: bytes) -> str | None:
    """The charset an HTML/XHTML document declares for itself: a byte-order mark, then
    ``<?xml ... encoding="...">`` or ``<meta charset>``/``<meta http-equiv>`` in the first
    KiB."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = raw[:SNIFF_HEAD].decode("latin-1").lower()
    if head.lstrip().startswith("<?xml"):
        end = head.find("?>")
        found = _attribute_value(head[: end if end != -1 else len(head)], "encoding")
        if found:
            return found
    pos = 0
    while (start := head.find("<meta", pos)) != -1:
        end = head.find(">", start)
        found = _attribute_value(head[start : end if end != -1 else len(head)], "charset")
        if found:
            return found
        pos = start + 5
    return None


def _attribute_value(tag: str, name: str) -> str | None:
    """The value after ``name=`` in ``tag`` (quoted or not), limited to charset characters."""
    at = tag.find(name)
    if at == -1:
        return None
    pos = at + len(name)
    while pos < len(tag) and tag[pos] in " \t\r\n":
        pos += 1
    if pos >= len(tag) or tag[pos] != "=":
        return None
    pos += 1
    while pos < len(tag) and tag[pos] in " \t\r\n\"'":
        pos += 1
    end = pos
    while end < len(tag) and tag[end] in _CHARSET_CHARS:
        end += 1
    return tag[pos:end] or None


def _content_type(
    raw: bytes, declared: str | None, fetched: str | None
) -> tuple[str, dict[str, str]]:
    """The media type and parameters that decide decoding.

    The attachment's ``contentType`` wins; the fetched type fills a missing charset of the
    same media type, or stands in when none is declared; without either, a PDF is recognised
    by its magic number and anything else is read as text/plain.
    """
    fetched_media, fetched_params = parse_content_type(fetched) if fetched else ("", {})
    if declared and declared.strip():
        media, params = parse_content_type(declared)
        if media == fetched_media and "charset" not in params and "charset" in fetched_params:
            params["charset"] = fetched_params["charset"]
        return media, params
    if fetched_media and fetched_media != "application/octet-stream":
        return fetched_media, fetched_params
    if raw.startswith(b"%PDF-"):
        return "application/pdf", {}
    return "text/plain", {}


def _check_declared_size(size: object, *, path: str, limit: int) -> None:
    """Refuse early when ``size`` (unsignedInt in R4, integer64 string in R5) is too big."""
    if isinstance(size, bool):
        return
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size.strip())
    if isinstance(size, int) and size > limit:
        raise Note2FhirError(ErrorCode.ATTACHMENT_TOO_LARGE, path=path, limit=limit)


def _check_hash(declared: object, raw: bytes, *, path: str) -> None:
    """Compare ``hash`` (base64 of the SHA-1 of the data) with the data, when present.

    A hex digest is accepted too: some senders write one, and it is as strong a check.
    """
    if declared is None or declared == "":
        return
    if not isinstance(declared, str):
        raise _invalid(path, "hash is not a string")
    digest = hashlib.sha1(raw, usedforsecurity=False).digest()
    compact = "".join(declared.split())
    try:
        matches = binascii.a2b_base64(compact, strict_mode=True) == digest
    except (binascii.Error, ValueError):
        matches = False
    if not (matches or compact.lower() == digest.hex()):
        raise Note2FhirError(ErrorCode.ATTACHMENT_HASH_MISMATCH, path=path)


def _invalid(path: str, what: str) -> Note2FhirError:
    return Note2FhirError(
        ErrorCode.RESOURCE_INVALID,
        resource_type="Attachment",
        reason=f"{path} {what}",
        expression=path,
    )
