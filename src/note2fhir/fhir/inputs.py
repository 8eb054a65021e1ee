"""Read files, directories and stdin into documents.

``.json`` holds one FHIR resource (or one text record), ``.ndjson``/``.jsonl`` one per line
(FHIR Bulk Data export files), ``.txt``/``.text`` one plain-text note.  A directory is read
recursively in sorted order, taking only files with those endings (and skipping hidden ones).
``-`` is stdin, whose format is guessed.  Every problem is yielded as an error in place of the
document, located by the path as the user gave it (``notes/a.ndjson line 7``); the rest of the
input goes on.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

from fhir.resources.R4B import get_fhir_model_class

from note2fhir.document import ClinicalDocument
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.fetch import AttachmentFetcher
from note2fhir.fhir.readers import (
    DOCUMENT_TYPES,
    document_from_plain_text,
    document_from_text_record,
    documents_from_resource,
)
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

STDIN = "-"
STDIN_LOCATION = "<stdin>"
STDIN_ID = "stdin"
JSON_SUFFIXES = frozenset({".json"})
NDJSON_SUFFIXES = frozenset({".ndjson", ".jsonl"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
READ_SUFFIXES = JSON_SUFFIXES | NDJSON_SUFFIXES | TEXT_SUFFIXES
"""File endings read when walking a directory (case-insensitive)."""

Item: TypeAlias = ClinicalDocument | Note2FhirError


def iter_documents(
    paths: Sequence[Path],
    *,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
    stdin: BinaryIO | None = None,
) -> Iterator[Item]:
    """Yield the documents of every path in turn, an error in place of each that fails.

    ``Path("-")`` reads ``stdin`` (default: the process's standard input).  A file named
    explicitly is read by its ending, an unknown ending as plain text; a directory yields
    the documents of its ``.json``, ``.ndjson``, ``.jsonl``, ``.txt`` and ``.text`` files.
    """
    for path in paths:
        if str(path) == STDIN:
            source = stdin if stdin is not None else sys.stdin.buffer
            yield from _read_stdin(source, settings=settings, fetcher=fetcher)
            continue
        try:
            is_dir = path.is_dir()
        except OSError as exc:
            yield _unreadable(str(path), exc)
            continue
        if is_dir:
            for item in _walk(path):
                if isinstance(item, Note2FhirError):
                    yield item
                else:
                    yield from _read_file(item, settings=settings, fetcher=fetcher)
        else:
            yield from _read_file(path, settings=settings, fetcher=fetcher)


def _walk(directory: Path) -> Iterator[Path | Note2FhirError]:
    """Readable files under ``directory``, depth first in name order; symlinked directories
    are not followed (no loops)."""
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        yield _unreadable(str(directory), exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = directory / entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path)
            elif entry.is_file() and path.suffix.lower() in READ_SUFFIXES:
                yield path
        except OSError as exc:
            yield _unreadable(str(path), exc)


def _read_file(
    path: Path, *, settings: Settings, fetcher: AttachmentFetcher | None
) -> Iterator[Item]:
    location = str(path)
    suffix = path.suffix.lower()
    if suffix in NDJSON_SUFFIXES:
        yield from _read_ndjson(path, settings=settings, fetcher=fetcher)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield _unreadable(location, exc)
        return
    if suffix in JSON_SUFFIXES:
        yield from _read_json(data, location=location, settings=settings, fetcher=fetcher)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield _error(ErrorCode.INPUT_NOT_READABLE, location, reason="not UTF-8 text")
        return
    yield document_from_plain_text(text, doc_id=path.stem, location=location)


def _read_json(
    data: bytes, *, location: str, settings: Settings, fetcher: AttachmentFetcher | None
) -> Iterator[Item]:
    value = _parse_json(data, location=location)
    if isinstance(value, Note2FhirError):
        yield value
    else:
        yield from _from_value(value, location=location, settings=settings, fetcher=fetcher)


def _read_ndjson(
    path: Path, *, settings: Settings, fetcher: AttachmentFetcher | None
) -> Iterator[Item]:
    location = str(path)
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                yield from _ndjson_line(
                    line,
                    number=number,
                    location=location,
                    settings=settings,
                    fetcher=fetcher,
                )
    except OSError as exc:
        yield _unreadable(location, exc)


def _ndjson_line(
    line: bytes | str,
    *,
    number: int,
    location: str,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
) -> Iterator[Item]:
    if not line.strip():
        return
    where = f"{location} line {number}"
    value = _parse_json(line, location=where, one_line=True)
    if isinstance(value, Note2FhirError):
        yield value
    elif isinstance(value, dict) and _is_noteless_resource_type(value.get("resourceType")):
        # A Bulk Data export puts Patient, Condition ... in files beside the notes; a line of
        # them is data the notes do not need, not a failed document.
        log.debug("%s: skipped a %s line", where, value["resourceType"])
    else:
        yield from _from_value(value, location=where, settings=settings, fetcher=fetcher)


def _read_stdin(
    stream: BinaryIO, *, settings: Settings, fetcher: AttachmentFetcher | None
) -> Iterator[Item]:
    """Guess the format of stdin: one JSON value, NDJSON, or a plain-text note."""
    try:
        data = stream.read()
    except OSError as exc:
        yield _unreadable(STDIN_LOCATION, exc)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield _error(ErrorCode.INPUT_NOT_READABLE, STDIN_LOCATION, reason="not UTF-8 text")
        return
    head = text.lstrip()
    if not head.startswith(("{", "[")):
        yield document_from_plain_text(text, doc_id=STDIN_ID, location=STDIN_LOCATION)
        return
    whole = _parse_json(text, location=STDIN_LOCATION)
    if not isinstance(whole, Note2FhirError):
        yield from _from_value(whole, location=STDIN_LOCATION, settings=settings, fetcher=fetcher)
        return
    lines = text.splitlines()
    blank = [not line.strip() for line in lines]
    first = next((i for i, is_blank in enumerate(blank) if not is_blank), None)
    if (
        first is not None
        and len(lines) - sum(blank) > 1
        and isinstance(_parse_json(lines[first], location=STDIN_LOCATION), dict)
    ):
        for number, line in enumerate(lines, start=1):
            yield from _ndjson_line(
                line, number=number, location=STDIN_LOCATION, settings=settings, fetcher=fetcher
            )
        return
    if head.startswith("{"):
        yield whole  # a broken JSON object, not a note that happens to start with a brace
        return
    yield document_from_plain_text(text, doc_id=STDIN_ID, location=STDIN_LOCATION)


def _from_value(
    value: Any, *, location: str, settings: Settings, fetcher: AttachmentFetcher | None
) -> Iterator[Item]:
    """A text record (``text`` and no ``resourceType``) or a FHIR resource."""
    if isinstance(value, dict) and "resourceType" not in value and "text" in value:
        yield document_from_text_record(value, location=location)
    else:
        yield from documents_from_resource(
            value, location=location, settings=settings, fetcher=fetcher
        )


def _is_noteless_resource_type(name: Any) -> bool:
    """True for a real FHIR resource type that holds no note (Patient, Condition ...)."""
    if not isinstance(name, str) or name in DOCUMENT_TYPES or name == "Bundle":
        return False
    try:
        get_fhir_model_class(name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return False
    return True


def _parse_json(data: bytes | str, *, location: str, one_line: bool = False) -> Any:
    """Parse JSON, or return the error (its reason gives only line and column).

    Bytes must be UTF-8; a leading byte-order mark is dropped.
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return _error(ErrorCode.INPUT_NOT_JSON, location, reason="not UTF-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        return _error(ErrorCode.INPUT_NOT_JSON, location, reason=where)
    except RecursionError:
        return _error(ErrorCode.INPUT_NOT_JSON, location, reason="nested too deeply")


def _unreadable(location: str, exc: OSError) -> Note2FhirError:
    reason = exc.strerror or type(exc).__name__
    return _error(ErrorCode.INPUT_NOT_READABLE, location, reason=reason)


def _error(code: ErrorCode, location: str, **params: Any) -> Note2FhirError:
    return Note2FhirError(code, location=location, **params)
