from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.pdf_text import pdf_to_text

PATH = "DiagnosticReport.presentedForm[0]"


def test_text_pdf_pages_are_joined(make_pdf: Callable[..., bytes]) -> None:
    text = pdf_to_text(make_pdf(["Assessment: CHF exacerbation", "Plan: furosemide"]), path=PATH)
    assert "Assessment: CHF exacerbation" in text
    assert "Plan: furosemide" in text
    assert text.index("Assessment") < text.index("Plan")
    assert "\n" in text[text.index("exacerbation") : text.index("Plan")]


def test_encrypted_with_empty_password_is_read(make_pdf: Callable[..., bytes]) -> None:
    data = make_pdf(["Encrypted note"], password="")
    assert b"/Encrypt" in data
    assert "Encrypted note" in pdf_to_text(data, path=PATH)


def test_encrypted_with_a_password_is_unreadable(make_pdf: Callable[..., bytes]) -> None:
    with pytest.raises(Note2FhirError) as caught:
        pdf_to_text(make_pdf(["Secret note"], password="s3cret"), path=PATH)
    assert caught.value.code is ErrorCode.PDF_UNREADABLE


def test_scan_like_pdf_has_no_text(make_pdf: Callable[..., bytes]) -> None:
    with pytest.raises(Note2FhirError) as caught:
        pdf_to_text(make_pdf(["", ""], rectangle=True), path=PATH)
    assert caught.value.code is ErrorCode.PDF_NO_TEXT
    assert PATH in caught.value.message


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pdf at all", b"%PDF-1.4\n%garbage\x00\xff" * 3, bytes(range(256)) * 4],
    ids=["empty", "text", "pdf-header-garbage", "binary"],
)
def test_garbage_is_unreadable(data: bytes) -> None:
    with pytest.raises(Note2FhirError) as caught:
        pdf_to_text(data, path=PATH)
    assert caught.value.code is ErrorCode.PDF_UNREADABLE
    assert caught.value.__cause__ is None


def test_pypdf_warnings_are_silenced_and_logging_restored(
    make_pdf: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    data = make_pdf(["Patient Jane Roe has CHF"])
    # A wrong startxref pointer: pypdf recovers, logging warnings on the way.
    broken = re.sub(
        rb"startxref\n(\d+)", lambda m: b"startxref\n" + str(int(m[1]) + 7).encode(), data
    )
    before = logging.getLogger("pypdf").level
    with caplog.at_level(logging.DEBUG):
        assert "Jane Roe" in pdf_to_text(broken, path=PATH)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logging.getLogger("pypdf").level == before
