"""The text layer of a PDF attachment (a scanned report has none and is refused)."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfReader

from note2fhir.errors import ErrorCode, Note2FhirError

_PYPDF_LOGGER = logging.getLogger("pypdf")
_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_level = logging.NOTSET


@contextmanager
def _pypdf_quiet() -> Iterator[None]:
    """Silence pypdf's logging while a PDF is read: its warnings can quote document bytes.

    Counted, so that overlapping calls in threads restore the level only once.
    """
    global _quiet_depth, _saved_level  # noqa: PLW0603 - one process-wide logger to guard
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_level = _PYPDF_LOGGER.level
            _PYPDF_LOGGER.setLevel(logging.CRITICAL + 1)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                _PYPDF_LOGGER.setLevel(_saved_level)


def pdf_to_text(data: bytes, *, path: str) -> str:
    """The text of every page of the PDF ``data``, pages joined with a newline.

    An encrypted PDF is opened with the empty password (the usual "owner password only"
    protection).  Raises ``PDF_UNREADABLE`` when the bytes are not a PDF pypdf can read and
    ``PDF_NO_TEXT`` when no page has any text, as with a scanned discharge summary.  ``path``
    is the attachment's FHIRPath, used in messages.
    """
    with _pypdf_quiet():
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise Note2FhirError(ErrorCode.PDF_UNREADABLE, path=path)
            pages = [page.extract_text() or "" for page in reader.pages]
        except Note2FhirError:
            raise
        except Exception:
            # pypdf raises many kinds of errors on broken files; their text may quote the file.
            raise Note2FhirError(ErrorCode.PDF_UNREADABLE, path=path) from None
    text = "\n".join(pages)
    if not text.strip():
        raise Note2FhirError(ErrorCode.PDF_NO_TEXT, path=path)
    return text
