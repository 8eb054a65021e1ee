"""Fixtures for the FHIR input tests: inline attachments and generated PDFs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import pytest
from reportlab.lib import pdfencrypt
from reportlab.pdfgen import canvas


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def attachment() -> Callable[..., dict[str, Any]]:
    """Build an inline attachment: ``attachment(b"text", contentType="text/plain")``."""

    def make(data: bytes, **fields: Any) -> dict[str, Any]:
        return {"data": b64(data), **fields}

    return make


def _pdf(pages: list[str], *, password: str | None = None, rectangle: bool = False) -> bytes:
    buffer = io.BytesIO()
    encrypt = pdfencrypt.StandardEncryption(password) if password is not None else None
    pdf = canvas.Canvas(buffer, encrypt=encrypt, invariant=True)
    for text in pages:
        if rectangle:
            pdf.rect(72, 500, 300, 200, fill=1)
        if text:
            pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_pdf() -> Callable[..., bytes]:
    """A PDF generated with reportlab: ``make_pdf(["page 1 text", "page 2 text"])``;
    ``password=""`` encrypts it with an empty user password, ``rectangle=True`` draws a
    filled box on each page (a scan-like page when the text is empty)."""
    return _pdf
