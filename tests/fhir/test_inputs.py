from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, TypeAlias

import pytest

from note2fhir.document import ClinicalDocument
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.inputs import iter_documents
from note2fhir.settings import Settings

SETTINGS = Settings(fhir_base_url=None, fetch_allowed_hosts=[])
NOTE = "Hx of MI. Denies chest pain."
Item: TypeAlias = ClinicalDocument | Note2FhirError


def docref(doc_id: str, text: str = NOTE) -> dict[str, Any]:
    data = base64.b64encode(text.encode()).decode()
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }


def read(*paths: Path | str, stdin: bytes | None = None) -> list[Item]:
    stream = io.BytesIO(stdin) if stdin is not None else None
    return list(
        iter_documents([Path(p) for p in paths], settings=SETTINGS, fetcher=None, stdin=stream)
    )


def summary(items: list[Item]) -> list[tuple[str, str]]:
    """(document id or error code, location) of every item."""
    return [
        (item.id, item.source.location)
        if isinstance(item, ClinicalDocument)
        else (item.code.name, item.location)
        for item in items
    ]


def test_json_resource(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(docref("d1")), "utf-8")
    items = read(path)
    assert summary(items) == [("d1", str(path))]


def test_json_text_record(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"id": "r1", "text": NOTE}), "utf-8")
    assert summary(read(path)) == [("r1", str(path))]


def test_json_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(docref("d1")).encode())
    assert summary(read(path)) == [("d1", str(path))]


def test_invalid_json_gives_line_and_column_only(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "text": "Jane Roe has CHF",\n  oops\n}', "utf-8")
    (err,) = read(path)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_JSON
    assert err.params["reason"] == "line 3 column 3"
    assert "Jane" not in err.one_line()


def test_json_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes('{"text": "café"}'.encode("latin-1"))
    (err,) = read(path)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_JSON


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    (err,) = read(path)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_JSON


def test_ndjson_lines_of_noteless_resources_are_skipped_not_failed(tmp_path: Path) -> None:
    """A Bulk Data export holds Patient, Condition ... lines beside the notes."""
    path = tmp_path / "mixed.ndjson"
    lines = [
        json.dumps({"resourceType": "Patient", "id": "p1"}),
        json.dumps(docref("d1")),
        json.dumps({"resourceType": "NotAResource", "id": "x"}),
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert summary(read(path)) == [
        ("d1", f"{path} line 2"),
        ("RESOURCE_TYPE_UNSUPPORTED", f"{path} line 3"),
    ]


def test_ndjson_bad_lines_do_not_stop_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "DocumentReference.000.ndjson"
    lines = [
        json.dumps(docref("d1")),
        "",
        "{not json",
        json.dumps({"resourceType": "Condition", "id": "c1"}),
        json.dumps({"id": "r1", "text": "Plan: aspirin."}),
        "   ",
        json.dumps(docref("d2")),
        "[1, 2]",
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert summary(read(path)) == [
        ("d1", f"{path} line 1"),
        ("INPUT_NOT_JSON", f"{path} line 3"),
        ("r1", f"{path} line 5"),
        ("d2", f"{path} line 7"),
        ("INPUT_NOT_RESOURCE", f"{path} line 8"),
    ]


def test_ndjson_error_reason_is_column_only(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "ok"}\n{"text": oops}\n\xff\xfe\n')
    items = read(path)
    assert summary(items)[0] == (f"{path} line 1", f"{path} line 1")
    second, third = items[1:]
    assert isinstance(second, Note2FhirError)
    assert second.params["reason"] == "column 10"
    assert isinstance(third, Note2FhirError)
    assert third.code is ErrorCode.INPUT_NOT_JSON


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "progress-note.txt"
    path.write_bytes(b"\xef\xbb\xbfLine 1\r\nLine 2")
    (doc,) = read(path)
    assert isinstance(doc, ClinicalDocument)
    assert doc.id == "progress-note"
    assert doc.text == "Line 1\r\nLine 2"
    assert doc.source.location == str(path)


def test_text_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.text"
    path.write_bytes("café".encode("latin-1"))
    (err,) = read(path)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_READABLE
    assert err.params["reason"] == "not UTF-8 text"


def test_explicit_file_with_unknown_ending_is_text(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# HPI", "utf-8")
    (doc,) = read(path)
    assert isinstance(doc, ClinicalDocument)
    assert (doc.id, doc.text) == ("note", "# HPI")


def test_directory_is_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.txt").write_text("z", "utf-8")
    (tmp_path / "a.json").write_text(json.dumps(docref("d-a")), "utf-8")
    (tmp_path / "c.NDJSON").write_text(json.dumps(docref("d-c")) + "\n", "utf-8")
    (tmp_path / "skip.csv").write_text("x,y", "utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("h", "utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text("g", "utf-8")
    given = str(tmp_path)
    assert summary(read(tmp_path)) == [
        ("d-a", f"{given}/a.json"),
        ("z", f"{given}/b/z.txt"),
        ("d-c", f"{given}/c.NDJSON line 1"),
    ]


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    (err,) = read(missing)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_READABLE
    assert err.params["reason"] == "No such file or directory"
    assert err.location == str(missing)


def test_unreadable_file_gives_the_os_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.json"
    path.write_text("{}", "utf-8")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    (err,) = read(path)
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_READABLE
    assert err.params["reason"] == "Permission denied"
    assert str(tmp_path) not in err.message


def test_relative_paths_keep_their_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes").mkdir()
    Path("notes/n1.txt").write_text(NOTE, "utf-8")
    assert summary(read("notes")) == [("n1", "notes/n1.txt")]


def test_several_paths_in_order(tmp_path: Path) -> None:
    first = tmp_path / "2.txt"
    second = tmp_path / "1.txt"
    first.write_text("a", "utf-8")
    second.write_text("b", "utf-8")
    assert [item.id for item in read(first, second) if isinstance(item, ClinicalDocument)] == [
        "2",
        "1",
    ]


# -- stdin ------------------------------------------------------------------------------------


def test_stdin_json_resource() -> None:
    assert summary(read("-", stdin=json.dumps(docref("d1"), indent=2).encode())) == [
        ("d1", "<stdin>")
    ]


def test_stdin_ndjson() -> None:
    data = "\n".join([json.dumps(docref("d1")), "", json.dumps({"text": "x", "id": "r"}), "{bad"])
    assert summary(read("-", stdin=data.encode())) == [
        ("d1", "<stdin> line 1"),
        ("r", "<stdin> line 3"),
        ("INPUT_NOT_JSON", "<stdin> line 4"),
    ]


@pytest.mark.parametrize(
    "text",
    [NOTE, "[Redacted] patient seen today.", "  \n", "", "[1, 2"],
)
def test_stdin_plain_text(text: str) -> None:
    (doc,) = read("-", stdin=text.encode())
    assert isinstance(doc, ClinicalDocument)
    assert doc.text == text
    assert (doc.id, doc.source.location) == ("stdin", "<stdin>")


def test_stdin_broken_json_object() -> None:
    (err,) = read("-", stdin=b'{"resourceType": "DocumentReference",\n "id": }')
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_JSON
    assert err.params["reason"] == "line 2 column 8"


def test_stdin_json_array_is_not_a_resource() -> None:
    (err,) = read("-", stdin=b"[1, 2]")
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_RESOURCE


def test_stdin_not_utf8() -> None:
    (err,) = read("-", stdin="café".encode("latin-1"))
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.INPUT_NOT_READABLE


def test_synthea_bulk_export(shared_data: Path) -> None:
    path = shared_data / "synthea-bulk-10" / "DocumentReference.000.ndjson"
    if not path.is_file():
        pytest.skip("Synthea bulk export is not present")
    items = read(path)
    docs = [item for item in items if isinstance(item, ClinicalDocument)]
    assert len(docs) == len(items) == 1215
    assert all(doc.text.strip() for doc in docs)
    assert docs[0].source.location == f"{path} line 1"
    assert docs[0].context.subject is not None
