"""The deid stage: detection, masking, surrogates, date shifting, offsets and the CLI."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import note2fhir.deid.stage  # noqa: F401 - registers the stage
from note2fhir.cli import main
from note2fhir.deid.detect import Detector
from note2fhir.deid.lexicons import load_lexicons, load_rules
from note2fhir.deid.transform import shift_date
from note2fhir.document import ClinicalDocument, DocumentContext, SourceRef
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.html_text import html_to_text
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings

SECRET = "test-secret-0123456789abcdef"

NOTE = (
    "Pt seen by Dr. Rakusin on 7/22/2024. BP 120/80, strength 5/5, 1/2 tab qd.\n"
    "Wife Suzette called from 617-555-0142, email suzette.lomish@example.com.\n"
    "Transferred from Calvert Hospital; lives in Catonsville. MRN: 48213377.\n"
    "Cough for 2 weeks ago, x3 days. Follow up Jan 3rd and on the 3rd of June.\n"
    "Started heparin and lisinopril for Parkinson disease workup. 93 yo.\n"
    "K. Rizzo RN\n"
)
PHI_VALUES = [
    "Rakusin",
    "7/22/2024",
    "Suzette",
    "617-555-0142",
    "suzette.lomish@example.com",
    "Calvert",
    "Catonsville",
    "48213377",
    "Jan 3rd",
    "3rd of June",
    "Rizzo",
    "93",
]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(load_rules(), load_lexicons())


def found(detector: Detector, text: str) -> dict[str, str]:
    return {text[d.start : d.end]: d.type for d in detector.detect(text, budget_s=5)}


def doc_of(text: str, **context: Any) -> ClinicalDocument:
    source = SourceRef("DocumentReference", "d1", "DocumentReference/d1", "x", location="t")
    return ClinicalDocument("d1", source, text, context=DocumentContext(**context))


def pipeline(**options: Any) -> Pipeline:
    settings = load_settings(
        pipeline=["deid"],
        stages={"deid": {"protect_terminology": False, **options}},
        deid_secret=SECRET,
    )
    return Pipeline.from_settings(settings)


def test_detects_safe_harbor_identifiers(detector: Detector) -> None:
    hits = found(detector, NOTE)
    for value in PHI_VALUES:
        assert any(value in span for span in hits), value
    assert hits["Rakusin"] == "NAME"
    assert hits["7/22/2024"] == "DATE"
    assert hits["48213377"] == "ID"


@pytest.mark.parametrize(
    "text",
    [
        "BP 120/80",
        "strength 5/5",
        "1/2 tab",
        "2 weeks ago",
        "x3 days",
        "3/6 SEM murmur",
        "heparin drip",
        "Parkinson disease",
        "foley in place",
        "rales 1/3 up bilaterally",
        "MS: alert",
        "ST depression in V5",
    ],
)
def test_values_and_clinical_words_are_not_phi(detector: Detector, text: str) -> None:
    assert found(detector, text) == {}


@pytest.mark.parametrize(
    "text", ["07/22/2024", "2024-01-03", "January 3, 2024", "Jan 3rd", "3rd of June", "on 7/22"]
)
def test_date_formats(detector: Detector, text: str) -> None:
    assert "DATE" in found(detector, text).values()


def test_propagation_and_signature(detector: Detector) -> None:
    hits = found(detector, "Dr. Swackhamer aware. Later paged swackhamer again.\nQ. Lander RRT")
    assert "swackhamer" in hits and "Q. Lander" in hits


def test_mask_rewrites_text_and_phi_maps_to_original() -> None:
    doc = pipeline().run(doc_of(NOTE))
    assert "[NAME]" in doc.text and "Rakusin" not in doc.text
    for value in PHI_VALUES:
        assert value not in doc.text
    originals = [NOTE[slice(*doc.original_span(p.start, p.end))] for p in doc.phi]
    assert "7/22/2024" in originals and "Rakusin" in originals
    assert all(doc.text[p.start : p.end].startswith("[") for p in doc.phi)


def test_html_input_offsets_compose() -> None:
    markup = "<p>Seen by <b>Dr.&nbsp;Rakusin</b> on 7/22/2024.</p>"
    text, omap = html_to_text(markup)
    source = SourceRef("DocumentReference", "d1", None, "x", content_type="text/html")
    doc = ClinicalDocument("d1", source, markup, text=text, offsets=omap)
    pipeline().run(doc)
    spans = {markup[slice(*doc.original_span(p.start, p.end))] for p in doc.phi}
    assert spans == {"Rakusin", "7/22/2024"}


def test_surrogates_are_consistent_and_dates_shift_by_one_offset() -> None:
    run = pipeline(mode="surrogate")
    one = run.run(doc_of("Dr. Rakusin saw her 7/22/2024.", subject={"reference": "Patient/p1"}))
    two = run.run(
        doc_of("Spoke with Dr. Rakusin on 7/25/2024.", subject={"reference": "Patient/p1"})
    )
    assert "Rakusin" not in one.text + two.text
    fake = one.text.split()[1].rstrip(".")
    assert fake in two.text

    def date_in(text: str) -> date:
        m, d, y = text.rstrip(".").split()[-1].split("/")
        return date(int(y), int(m), int(d))

    assert (date_in(two.text) - date_in(one.text)).days == 3


def test_shift_date_keeps_format() -> None:
    assert shift_date("7/22", 10) == "8/1"
    assert shift_date("07/22/2024", 10) == "08/01/2024"
    assert shift_date("2024-01-03", -3) == "2023-12-31"
    assert shift_date("January 3, 2024", 1) == "January 4, 2024"
    assert shift_date("3rd of June", 1) == "4th of June"


def test_surrogate_mode_refuses_without_secret() -> None:
    settings = load_settings(pipeline=["deid"], stages={"deid": {"mode": "surrogate"}})
    with pytest.raises(Note2FhirError) as info:
        Pipeline.from_settings(settings)
    assert info.value.code is ErrorCode.DEID_SECRET_MISSING
    ok = load_settings(
        pipeline=["deid"], stages={"deid": {"mode": "surrogate"}}, deid_allow_ephemeral_secret=True
    )
    assert Pipeline.from_settings(ok).run(doc_of("Dr. Rakusin")).text != "Dr. Rakusin"


def test_budget_exceeded_fails_the_document() -> None:
    run = pipeline(max_ms_per_note=1)
    text = "Dr. Rakusin 7/22 " * 20000
    with pytest.raises(Note2FhirError) as info:
        run.run(doc_of(text))
    assert info.value.code is ErrorCode.DEID_TIMEOUT
    assert "Rakusin" not in info.value.one_line()


def test_patient_context_and_title() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Quisenberry", "given": ["Odalys"]}],
        "identifier": [{"value": "ZX-99812"}],
        "birthDate": "1950-04-09",
    }
    text = "quisenberry, odalys (ZX-99812) born 4/9/1950 is doing well."
    doc = pipeline().run(doc_of(text, patient=patient, title="Note for Odalys Quisenberry"))
    assert "quisenberry" not in doc.text.lower() and "ZX-99812" not in doc.text
    assert "1950" not in doc.text
    assert doc.context.title is not None and "Quisenberry" not in doc.context.title


def test_cli_deid_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE2FHIR_STAGES", json.dumps({"deid": {"protect_terminology": False}}))
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "n1", "text": NOTE}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["deid", str(src), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text(encoding="utf-8"))
    assert set(row) == {"id", "text", "phi"}
    spans = {NOTE[p["start"] : p["end"]] for p in row["phi"]}
    assert "Rakusin" in spans and "Rakusin" not in row["text"]


def test_no_phi_in_logs_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every command at DEBUG: no PHI value in any log line, stderr or error file."""
    monkeypatch.setenv("NOTE2FHIR_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("NOTE2FHIR_PIPELINE", "deid,sections,sentences,targets")
    monkeypatch.setenv("NOTE2FHIR_STAGES", json.dumps({"deid": {"protect_terminology": False}}))
    monkeypatch.setenv("NOTE2FHIR_CLOCK", "2026-03-01T09:30:00-05:00")
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": "n1", "text": NOTE}), json.dumps({"id": "n2", "text": 7})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen = []
    for command in ("process", "annotate", "deid"):
        errors = tmp_path / f"{command}.errors.ndjson"
        with caplog.at_level(logging.DEBUG):
            result = CliRunner().invoke(
                main,
                [
                    command,
                    str(src),
                    "-o",
                    str(tmp_path / f"{command}.out"),
                    "--errors",
                    str(errors),
                ],
                catch_exceptions=False,
            )
        assert result.exit_code == 0, result.output
        seen.append(result.output)
        seen.append(errors.read_text(encoding="utf-8"))
    seen.extend(record.getMessage() for record in caplog.records)
    blob = "\n".join(seen)
    assert "deid" in blob.lower() or caplog.records
    for value in PHI_VALUES:
        if len(value) > 2:
            assert value not in blob, value
