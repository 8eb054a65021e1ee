"""The ``note2fhir`` command end to end: real files in, FHIR and annotations out."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from note2fhir.cli import main

FROZEN = "2026-03-01T09:30:00-05:00"
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NOTE2FHIR_CLOCK", FROZEN)

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def docref(doc_id: str, text: str, content_type: str = "text/plain") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


def ndjson_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_process_sample_note_matches_golden(run: Any, repo_root: Path, tmp_path: Path) -> None:
    """The README's main command (``-o out/bundle.json``, a folder a fresh clone lacks); the
    golden file pins the whole output Bundle."""
    out = tmp_path / "out" / "bundle.json"
    result = run("process", str(repo_root / "examples/progress-note.docref.json"), "-o", str(out))
    assert result.exit_code == 0, result.output
    bundle = json.loads(out.read_text("utf-8"))
    Bundle.model_validate(bundle)
    golden = GOLDEN / "progress-note.bundle.json"
    if os.environ.get("NOTE2FHIR_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(bundle, indent=2, sort_keys=True) + "\n", "utf-8")
    assert json.dumps(bundle, indent=2, sort_keys=True) + "\n" == golden.read_text("utf-8")


def test_process_can_emit_medication_requests(run: Any, repo_root: Path) -> None:
    note = str(repo_root / "examples/progress-note.docref.json")
    result = run("process", note, "--medication-resource", "MedicationRequest")
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.output)
    Bundle.model_validate(bundle)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "MedicationRequest" in types and "MedicationStatement" not in types
    refused = run("process", note, "--medication-resource", "MedicationAdministration")
    assert refused.exit_code != 0


def test_an_output_that_cannot_be_written_is_a_one_line_error(
    run: Any, repo_root: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", "utf-8")
    result = run(
        "process", str(repo_root / "examples/progress-note.txt"), "-o", str(blocker / "b.json")
    )
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: cannot write {blocker / 'b.json'}: ")


def test_output_is_deterministic(run: Any, repo_root: Path) -> None:
    sample = str(repo_root / "examples/progress-note.docref.json")
    first = run("process", sample, "--bundle", "transaction").output
    second = run("process", sample, "--bundle", "transaction").output
    assert first == second
    bundle = json.loads(first)
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        request = entry["request"]
        if request["method"] == "POST":
            assert request["ifNoneExist"].startswith("identifier=urn:ietf:rfc:3986|urn:uuid:")


def test_document_bundle_has_composition_first(run: Any, repo_root: Path) -> None:
    result = run("process", str(repo_root / "examples/progress-note.txt"), "--bundle", "document")
    bundle = json.loads(result.output)
    assert bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert bundle["identifier"]["value"].startswith("urn:uuid:")


def test_one_bad_document_in_a_bundle_does_not_stop_the_others(run: Any, tmp_path: Path) -> None:
    bad = docref("bad", "x")
    bad["content"][0]["attachment"]["data"] = "***not base64***"
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": docref("good-1", "HPI: cough")},
            {"resource": bad},
            {"resource": docref("good-2", "Plan: rest")},
        ],
    }
    source = tmp_path / "batch.json"
    source.write_text(json.dumps(batch), "utf-8")
    errors = tmp_path / "errors.ndjson"
    result = run("process", str(source), "--errors", str(errors))
    assert result.exit_code == 0
    bundles = ndjson_lines(result.stdout)
    assert len(bundles) == 2
    for bundle in bundles:
        Bundle.model_validate(bundle)
    assert f"{source} entry[1]" in result.stderr
    assert "ATTACHMENT_BASE64" in result.stderr
    (outcome,) = ndjson_lines(errors.read_text("utf-8"))
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "ATTACHMENT_BASE64"
    strict = run("process", str(source), "--strict")
    assert strict.exit_code == 3


def test_nothing_processed_exits_non_zero_with_one_line(run: Any, tmp_path: Path) -> None:
    source = tmp_path / "patient.json"
    source.write_text(json.dumps({"resourceType": "Patient", "id": "p1"}), "utf-8")
    result = run("process", str(source))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert lines == [
        f"note2fhir: error: {source}: resource type Patient holds no note; send a "
        "DocumentReference, DiagnosticReport or a Bundle of them (RESOURCE_TYPE_UNSUPPORTED)"
    ]


def test_missing_file_is_reported(run: Any, tmp_path: Path) -> None:
    result = run("process", str(tmp_path / "nope.json"))
    assert result.exit_code == 1
    assert "INPUT_NOT_READABLE" in result.stderr


def test_bad_settings_exit_2(run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE2FHIR_PIPELINE", "sections,nonexistent")
    result = run("process", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown stage 'nonexistent'" in result.stderr


def test_folder_output_writes_a_file_per_document(run: Any, tmp_path: Path) -> None:
    source = tmp_path / "notes.ndjson"
    source.write_text(
        "\n".join(json.dumps(docref(f"n{i}", f"PMH: item {i}")) for i in range(3)), "utf-8"
    )
    out = tmp_path / "out"
    out.mkdir()
    result = run("process", str(source), "-o", str(out))
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["n0.json", "n1.json", "n2.json"]


def test_annotate_targets_map_to_original_html_offsets(run: Any, tmp_path: Path) -> None:
    html = "<html><body><h2>Family History</h2><p>Mother: breast&nbsp;cancer</p></body></html>"
    source = tmp_path / "note.json"
    source.write_text(json.dumps(docref("h1", html, "text/html; charset=utf-8")), "utf-8")
    result = run("annotate", str(source))
    (record,) = ndjson_lines(result.stdout)
    assert record["id"] == "h1"
    assert record["text_length"] == len(html)
    (section,) = record["sections"]
    assert section["name"] == "family_history"
    assert html[section["start"] : section["start"] + len("Family History")] == "Family History"


def test_annotate_text_records_with_targets(run: Any, tmp_path: Path) -> None:
    text = "PMH: HTN. Denies chest pain."
    records = [
        {"id": "r1", "text": text, "targets": [{"start": 17, "end": 27}]},
        {
            "id": "r2",
            "text": "Meds: aspirin",
            "targets": [{"start": 6, "end": 13, "type": "medication"}],
        },
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records), "utf-8")
    out = tmp_path / "out.jsonl"
    result = run("annotate", str(source), "-o", str(out))
    assert result.exit_code == 0
    first, second = ndjson_lines(out.read_text("utf-8"))
    (entity,) = [e for e in first["entities"] if e["source"] == "targets"]
    assert (entity["start"], entity["end"], entity["text"]) == (17, 27, "chest pain")
    assert entity["type"] == "problem"
    assert entity["assertion"]["negated"]  # "Denies chest pain"
    assert entity["section"] == "past_medical_history"
    assert set(entity["assertion"]) >= {
        "negated",
        "uncertain",
        "hypothetical",
        "historical",
        "family",
    }
    (aspirin,) = [e for e in second["entities"] if e["source"] == "targets"]
    assert aspirin["type"] == "medication"


def test_stdin_text(run: Any) -> None:
    result = run("annotate", "-", input="A/P: r/o MI\n")
    (record,) = ndjson_lines(result.stdout)
    assert record["id"] == "stdin"
    assert record["sections"][0]["name"] == "assessment_plan"


def test_stages_lists_the_registry(run: Any) -> None:
    result = run("stages")
    assert result.exit_code == 0
    assert (
        "sections" in result.stdout
        and "pipeline: deid -> sections -> sentences -> extract" in result.stdout
    )


def test_console_script_runs(repo_root: Path, tmp_path: Path) -> None:
    """The installed entry point, in a real process."""
    exe = Path(sys.executable).with_name("note2fhir")
    result = subprocess.run(
        [
            str(exe),
            "process",
            str(repo_root / "examples/progress-note.txt"),
            "-o",
            str(tmp_path / "b.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "b.json").read_text("utf-8"))["resourceType"] == "Bundle"


def test_us_core_examples_process(run: Any, shared_data: Path, tmp_path: Path) -> None:
    uscore = shared_data / "fhir-examples" / "uscore"
    inputs = sorted(
        str(p)
        for p in uscore.glob("*.json")
        if p.name.lower().startswith(("documentreference", "diagnosticreport"))
    )
    result = run(
        "process",
        *inputs,
        "-o",
        str(tmp_path / "out.ndjson"),
        "--errors",
        str(tmp_path / "e.ndjson"),
    )
    assert result.exit_code == 0
    bundles = ndjson_lines((tmp_path / "out.ndjson").read_text("utf-8"))
    assert len(bundles) >= 6
    for bundle in bundles:
        Bundle.model_validate(bundle)


def test_synthea_bulk_notes_process(run: Any, shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "synthea-bulk-10" / "DocumentReference.000.ndjson"
    sample = tmp_path / "sample.ndjson"
    with source.open("r", encoding="utf-8") as handle:
        sample.write_text("".join(next(handle) for _ in range(25)), "utf-8")
    result = run("process", str(sample), "-o", str(tmp_path / "out.ndjson"))
    assert result.exit_code == 0, result.stderr
    bundles = ndjson_lines((tmp_path / "out.ndjson").read_text("utf-8"))
    assert len(bundles) == 25
    composition = bundles[0]["entry"][0]["resource"]
    assert composition["subject"]["reference"].startswith("Patient/")
    assert {s["title"] for s in composition["section"]} >= {"Medications", "Allergies"}


def test_a_bad_stage_option_is_a_one_line_error_in_a_real_process(
    repo_root: Path, tmp_path: Path
) -> None:
    # The stages before it (extract holds the compiled simstring reader) are built already;
    # freeing them while the error unwound once turned this into a SystemError traceback.
    config = tmp_path / "bad.toml"
    config.write_text('[stages.assertion]\nended_ass = "negated"\n', "utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "note2fhir.cli",
            "--config",
            str(config),
            "annotate",
            str(repo_root / "examples/progress-note.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "note2fhir: error: pipeline configuration: options of stage 'assertion': "
        "ended_ass (extra_forbidden) (PIPELINE_INVALID)"
    ]
