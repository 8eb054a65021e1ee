"""benchmarks/code_changes.py: which selected codes two annotate outputs disagree on."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.code_changes import compare, read_mentions


def _write(path: Path, entities: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"id": "n1", "entities": entities}) + "\n", "utf-8")
    return path


def _entity(start: int, text: str, code: str | None, **flags: bool) -> dict[str, object]:
    codes = [{"system": "s", "code": code, "selected": True}] if code else []
    return {"start": start, "end": start + len(text), "text": text, "codes": codes,
            "assertion": flags, "role": "mention"}  # fmt: skip


def test_lost_changed_gained_and_presence(tmp_path: Path) -> None:
    before = _write(
        tmp_path / "a.ndjson",
        [
            _entity(0, "VT", "I47.20"),
            _entity(10, "CP", "G80.9"),
            _entity(20, "PEG", None),
            {**_entity(30, "12", "x"), "role": "result"},
        ],
    )
    after = _write(
        tmp_path / "b.ndjson",
        [
            _entity(10, "CP", "R07.9"),
            _entity(20, "PEG", "0DH63UZ", hypothetical=True),
        ],
    )
    changes = compare(read_mentions(before), read_mentions(after))
    assert (changes.coded_before, changes.coded_after) == (2, 2)
    assert changes.lost == {("vt", "I47.20"): 1}
    assert changes.changed == {("cp", "G80.9", "R07.9"): 1}
    assert changes.gained == {("peg", "0DH63UZ"): 1}
    assert changes.presence == {("peg", True, False): 1}
