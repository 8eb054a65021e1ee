"""JSON log lines with the request id.

Every record becomes one JSON object: time, level, logger, message, the request id of the
request being handled (``X-Request-ID``) and any ``extra`` fields given to the call.  Callers
log ids, routes, statuses, counts and error codes, never note text or patient data.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID: ContextVar[str | None] = ContextVar("note2fhir_request_id", default=None)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is a safe token, else a fresh UUID."""
    if header and _SAFE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def set_request_id(value: str | None) -> None:
    """Set the id that log lines of this request carry (None clears it)."""
    _REQUEST_ID.set(value)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object; exceptions are reduced to their class name, because
        exception text can quote the note."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str) -> None:
    """Send the root logger's records to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
