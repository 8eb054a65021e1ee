"""The deid stage: detection, masking, surrogates, date shifting, offsets and the CLI."""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import sqlite3
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import note2fhir.deid.stage  # noqa: F401 - registers the stage
from note2fhir.cli import main
from note2fhir.deid.detect import DeidTimeoutError, Detector
from note2fhir.deid.lexicons import load_lexicons, load_rules, terminology_eponyms
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


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("HD on Monday, then again THURSDAY", "Monday"),
        ("HD on Monday, then again THURSDAY", "THURSDAY"),
        ("flew in on tuesday morning", "tuesday"),
        ("seen Tuesday, 3/4 by cards", "3/4"),  # a weekday cues the fraction-like date
    ],
)
def test_weekdays_are_dates(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "DATE", found(detector, text)


@pytest.mark.parametrize("text", ["dialysis Mondays and Thursdays", "Sunday's game", "Sundays"])
def test_recurring_weekdays_are_not_dates(detector: Detector, text: str) -> None:
    assert "DATE" not in found(detector, text).values(), found(detector, text)


def test_weekdays_shift_with_the_dates() -> None:
    # the weekday moves by the same offset, so it cannot give the offset away
    assert shift_date("Tuesday", 3) == "Friday"
    assert shift_date("MONDAY", -1) == "SUNDAY"
    assert shift_date("friday", 10) == "monday"
    run = pipeline(mode="surrogate")
    out = run.run(doc_of("Seen Tuesday, 7/22/2025.", subject={"reference": "Patient/p1"})).text
    day, when = out.split()[1].rstrip(","), out.split()[2].rstrip(".")
    m, d, y = (int(v) for v in when.split("/"))
    assert day == date(y, m, d).strftime("%A")  # 7/22/2025 was a Tuesday


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


# -- rules added for ICU nursing notes (issue 5); examples in the style of the PhysioNet notes,
# written here (no note text copied) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("Husband Rich Martino in to visit.", "Rich Martino"),  # given name that is also a word
        ("HOUSE STAFF mary souza AWARE.", "mary souza"),  # lower case in a note in capitals
        ("MET W/ CASEWORKER LEONA LABOWICH.", "LEONA LABOWICH"),  # a role names a person
        ("TO MEET S. DOMINICO AT 9AM.", "S. DOMINICO"),  # initial then surname after a cue
        ("PLAN BY DICK CUCCHIARA (RESIDENT) TODAY.", "DICK CUCCHIARA"),  # bracketed role
        ("Placed on vent.\nBernard Foley CRT\n", "Bernard Foley"),  # signature line
        ("QUIET NIGHT.\n DAN A. FORMAN-LYONS, RRT\n", "DAN A. FORMAN-LYONS"),
        ("Family present. Drs' Ballou and Dutter pronounced.", "Dutter"),
        ("pt of dr. john bowman.", "john bowman"),  # protected word as a surname
        ("Orders signed by Dr. Art White.", "Art White"),
        ("HEPARIN IS AT 850U/HR. SUSAN\n", "SUSAN"),  # a note closed by a bare given name
        ("slept until 3am, once Natalie woke up she ate.", "Natalie"),
        ("unlike the Jensen novel, it is short.", "Jensen"),  # a surname after a lower word
        ("she knew Castro's son well.", "Castro"),
        ("communication with husband milovan.", "milovan"),
        ("Lopie Certusi cell# 410-322-1419", "Lopie Certusi"),  # the owner of a phone number
        ("Sumiko254 Larue605\n is a 60 year-old woman.", "Sumiko254 Larue605"),
        ("KEEP KOWALSKI FAMILY AWARE OF PLAN.", "KOWALSKI"),
    ],
)
def test_names_without_a_title(detector: Detector, text: str, phi: str) -> None:
    hits = found(detector, text)
    assert phi in hits and hits[phi] == "NAME", hits


@pytest.mark.parametrize(
    "text",
    [
        "WIFE STATES SHE IS NOT SLEEPING.",  # a verb after a relative
        "wife said pt had no belongings.",
        "daughter present-contin to remain optimistic",
        "she has 5 children, oldest son in to visit",
        "HUSBAND CEO OF A COMPANY.",
        "INTERN TO CALL RENAL FELLOW TO SEE IF HE WILL BE DIALYZED.",
        "WAITING FOR IVIG TO HANG, THEN ADD UNIT.",
        "Vent settings Psv 10, Cpap 7.5. Continue with Psv and wean.",
        "clean clothes for Sunday.",
        "REC'D COLACE/MOM \nGU--VOIDING WELL",
    ],
)
def test_cue_words_followed_by_no_name(detector: Detector, text: str) -> None:
    assert "NAME" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("arrived to CCU at 2300 10/15.", "10/15"),  # after a clock time
        ("echo 8/87 showing EF 20%", "8/87"),  # month/year: 87 is no day
        ("s/p pelvic fx4/97, arm fx 5/97", "4/97"),
        ("LITHIUM TOXICITY-9/2/92.", "9/2/92"),
        ("transferred to the floor.8/31. Readmitted 9/3", "8/31"),
        ("reintubation 7/24 after trial of bipap", "7/24"),
        ("cultures drawn on the 11th. One set", "11th"),
        ("CABG X3 '92, REDO '95", "'92"),
        ("CVA 74'. CHOLECYSTECTOMY 77'.", "74'"),
        ("S/P CABG 1957, 1971", "1971"),
        ("(PLACED 8/14). AC 100%", "8/14"),
    ],
)
def test_more_date_forms(detector: Detector, text: str, phi: str) -> None:
    hits = found(detector, text)
    assert phi in hits and hits[phi] == "DATE", hits


@pytest.mark.parametrize(
    "text",
    [
        "Pt currently on BIPAP 10/5 with O2",
        "flowby 6/3. Spont vols 400",
        "ON 10/5 BIPAP 65%",
        "PSV increased to 10/5 overnight",
        "4/4 bottles positive",
        "give 1/2 NPH this am",
        "rales 2/3 up bilaterally",
        "A/C 10/700/.4/10PEEP.",
        "BIPAP 10/5/12BPM",
        "HOB 30'. Drain at 15cm",
        "Pain level 5/10 this morning",
        "Pain 7/10 at rest, 3/10 after morphine",
        "Karyotype 46,XX [2/20] cells",
    ],
)
def test_settings_and_fractions_are_not_dates(detector: Detector, text: str) -> None:
    assert "DATE" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("Seen 2/10 and 3/10 in clinic", "3/10"),
        ("Pain level 5/10; follow-up 3/10 with cardiology", "3/10"),
        ("Pain since 3/10, worse today", "3/10"),
    ],
)
def test_a_date_after_a_pain_score_stays_a_date(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "DATE", found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("Carol Buckley (201/324/1423) confirms", "(201/324/1423)"),
        ("daughter called (201-223-4567) today", "(201-223-4567)"),
    ],
)
def test_phone_forms(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "PHONE"


@pytest.mark.parametrize(
    ("text", "phi", "phi_type"),
    [
        ("husband did not come to gh w/pt", "gh", "HOSPITAL"),  # hospital abbreviation
        ("CONSULT FROM THE GBMC. HO AWARE", "GBMC", "HOSPITAL"),
        ("BROUGHT TO GH CATH LAB TODAY", "GH", "HOSPITAL"),
        ("TRANSFERRED FROM VAMC HOSPITAL", "VAMC", "HOSPITAL"),
        ("to go this afternoon to sacred heart hospital.", "sacred heart hospital", "HOSPITAL"),
        ("transfer back to holy cross tomorrow", "holy cross", "HOSPITAL"),
        ("TO GO TO ST. MARY ON TUESDAY", "ST. MARY", "HOSPITAL"),
        ("IN RESP DISTRESS ON QUARTERMAIN 6; CODE CALLED", "QUARTERMAIN", "HOSPITAL"),  # ward
        ("LIVES AT KEELEY HOUSE.", "KEELEY", "LOCATION"),
        ("SPOKE WITH SON IN PIKESVILLE TODAY", "PIKESVILLE", "LOCATION"),
    ],
)
def test_places(detector: Detector, text: str, phi: str, phi_type: str) -> None:
    assert found(detector, text).get(phi) == phi_type, found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "DUE TO ICH",
        "SATS IN THE HIGH 90'S",
        "BREATHING IN SYNCH WITH VENT",
        "PT TRANSPORTED TO CT AND BACK",
        "changed back to NRB with good effect",
        "cx sent from RLE ulcer",
        "Blood cxs sent from pheresis line",
        "TRANSFERRED TO THE MCIU.",
        "returned to BASELINE",
        "FLUID IN DOUGLAS POUCH",
        "HR 80-103 SR TO ST WITH PVCS",
        "10/3 PERSANTINE THALLIUM ST-BORDERLINE ISCHEMIC ST CHGS",
        "on LASIX 40 MG",
        "ANXIOUS TO GO TO REHAB",
        "TIRED OF BEING IN HOSPITAL",
    ],
)
def test_not_places(detector: Detector, text: str) -> None:
    hits = found(detector, text)
    assert not {"HOSPITAL", "LOCATION"} & set(hits.values()), hits


def test_names_that_are_words_propagate_only_as_written(detector: Detector) -> None:
    text = "Hank Przybylo (son) called. Both Suzette and Hank are proxies. Hank of yarn."
    spans = [text[d.start : d.end] for d in detector.detect(text, budget_s=5)]
    assert spans.count("Hank") == 2 and "Przybylo" in " ".join(spans)
    lower = "Husband Rich Martino here. the soup was rich."
    assert not any(lower[d.start : d.end] == "rich" for d in detector.detect(lower, budget_s=5))


def test_memory_across_notes_of_one_patient() -> None:
    run = pipeline(patient_memory=True)
    subject = {"reference": "Patient/p1"}
    run.run(doc_of("Dr. Rakusin aware of plan.", subject=subject))
    later = run.run(doc_of("rakusin in to see pt.", subject=subject))
    assert "rakusin" not in later.text.lower()
    other = run.run(doc_of("rakusin in to see pt.", subject={"reference": "Patient/p2"}))
    assert "rakusin" in other.text  # never across patients
    alone = run.run(doc_of("rakusin in to see pt."))  # no subject: no memory
    assert "rakusin" in alone.text
    off = pipeline()  # off by default: output must not depend on earlier notes
    off.run(doc_of("Dr. Rakusin aware of plan.", subject=subject))
    assert "rakusin" in off.run(doc_of("rakusin in to see pt.", subject=subject)).text


def test_the_remembered_words_do_not_travel_with_a_pickled_stage() -> None:
    run = pipeline(patient_memory=True)
    subject = {"reference": "Patient/p1"}
    run.run(doc_of("Dr. Rakusin aware of plan.", subject=subject))
    clone = pickle.loads(pickle.dumps(run))
    assert "rakusin" in clone.run(doc_of("rakusin in to see pt.", subject=subject)).text


@pytest.mark.parametrize(
    "text",
    [
        "A" * 5_000_000,
        "DR SMITH 10/5 TO GH ON QUARTERMAIN 6 " * 50_000,
        ("wife " * 10 + "x1/2/3/4/5/6 " * 10) * 20_000,
        "(" * 100_000 + "1" * 100_000,
    ],
)
def test_large_and_capital_inputs_finish_in_time(detector: Detector, text: str) -> None:
    """5 MB, all-capital or punctuation-heavy notes end within the budget (found or timed
    out), never hang."""
    started = time.monotonic()
    with contextlib.suppress(DeidTimeoutError):
        detector.detect(text, budget_s=1)
    assert time.monotonic() - started < 4


def test_nurse_with_a_state_name(detector: Detector) -> None:
    text = "IV NURSE VIRGINIA SALLESE CALLED."
    assert "VIRGINIA SALLESE" in found(detector, text)


# -- eponyms and abbreviations are not people (clinical safety on case reports) -------------


@pytest.mark.parametrize(
    "text",
    [
        "Osteoporosis associated with Gaucher disease, on imiglucerase. Gaucher cells seen.",
        "Biopsy consistent with Bowen's disease.",
        "Genetic testing consistent with Cowden syndrome.",
        "Born at 38 weeks with Apgar scores 9 and 10.",
        "Presented with Glasgow coma scale at 14.",
        "Pressure was 12 mm Hg by Goldmann applanation tonometry.",
        "Features consistent with PAM, with calcospherites.",  # an abbreviation in capitals
        "Hospitalized from January to July.",
        "Severe MR. Valvular defects resulted from endocarditis.",
        "Hyperintense on T1 and T2 MR sequences.",
        "Echo: mild mr, trace tr, EF 55%.",
        "Intubated and ventilated with a puritan bennett vent.",
        "Thrombus within the inferior vena cava.",
        "NEURO: perla. mae. bilat wrist restraints.",
        "He was placed on the Passey muir valve around noon.",  # two people's eponym
        "Blistering consistent with Stevens Johnson syndrome.",
        "No laboratory evidence of Epstein–Barr virus infection.",  # joined by a dash
        "Intubated with a Macintosh blade without difficulty.",
        "We decided to perform a McKeown oesophagectomy.",  # a procedure word as the head
        "Next, a 27-mm Hancock® II bioprosthetic valve was sewn in.",  # a trademark
        # eponyms written bare: manoeuvres, grades, positions, operations, device makers
        "Shoulder exam positive Hawkins and Neer.",
        "Biopsy showed Gleason 3+4.",
        "SAH with Hunt and Hess 3.",
        "Placed in left Sims position, then on a Stryker bed.",
    ],
)
def test_eponyms_and_abbreviations_are_not_names(detector: Detector, text: str) -> None:
    assert "NAME" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("Spoke with Dr. Parkinson about the plan.", "Parkinson"),  # a title names a person
        ("Wife Grace Cushing called.", "Grace Cushing"),
        ("MR. SMITH WAS SEEN TODAY.", "SMITH"),
        ("Spoke with Pam about discharge.", "Pam"),
    ],
)
def test_eponym_words_with_a_person_cue_are_names(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "NAME", found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "There is a nice new English place downtown.",  # Census surnames that the
        "It serves great Danish food in Provence.",  # dictionary capitalises
    ],
)
def test_peoples_languages_and_places_are_not_surnames(detector: Detector, text: str) -> None:
    assert "NAME" not in found(detector, text).values(), found(detector, text)


def test_a_name_found_elsewhere_is_not_propagated_into_an_eponym(detector: Detector) -> None:
    text = "Dr. Gaucher saw her today. History of Gaucher disease."
    spans = [text[d.start : d.end] for d in detector.detect(text, budget_s=5)]
    assert spans == ["Gaucher"]  # only the doctor


def test_terminology_eponyms_protect_two_word_terms() -> None:
    plain = Detector(load_rules(), load_lexicons())
    pairs = frozenset({"gottron papules"})
    with_terms = Detector(load_rules(), load_lexicons(), eponym_pairs=pairs)
    text = "Seen with Gottron papules."
    assert "Gottron" in found(plain, text)
    assert found(with_terms, text) == {}


def test_terminology_eponyms_read_from_an_artifact(tmp_path: Path) -> None:
    db = tmp_path / "terms.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE concepts (cid INTEGER PRIMARY KEY, entity_type TEXT);"
        "CREATE TABLE terms (cid INTEGER, norm TEXT);"
        "INSERT INTO concepts VALUES (1, 'problem'), (2, 'problem'), (3, 'medication');"
        "INSERT INTO terms VALUES (1, 'gaucher disease'), (1, 'gaucher disease type 1'),"
        " (2, 'bence jones proteinuria'), (2, 'other disorder'), (3, 'gaucher activator');"
    )
    conn.commit()
    conn.close()
    # "bence jones" also reads as a person's name; "other" is an English word
    not_next = frozenset(load_rules().not_eponym_next)
    assert terminology_eponyms(db, load_lexicons(), not_next) == frozenset({"gaucher disease"})
    assert terminology_eponyms(tmp_path / "missing.sqlite", load_lexicons(), not_next) == (
        frozenset()
    )


# -- names and places without a title (issue 5, second round) ---------------------------------


@pytest.mark.parametrize(
    ("text", "phi", "phi_type"),
    [
        ("KEEP ROMERO FAMILY AWARE OF PLAN.", "ROMERO", "NAME"),  # a surname that is a rare word
        ("CALLED AS WELL AS A BROTHER VINNY AND A SISTER.", "VINNY", "NAME"),  # "-y" for "-ie"
        (
            "pt alert.\nmary theresa kondouli from speech in to see.",
            "mary theresa kondouli",
            "NAME",
        ),
        ("They act as health care proxys. suzette and ank\n", "ank", "NAME"),  # after "and"
        ("SCREENED BY BALTIMORE REHAB AND KIMBROUGH. MAY GO", "KIMBROUGH", "HOSPITAL"),
        ("HUSBAND CEO OF IBM. SMOKER.", "IBM", "LOCATION"),  # an employer
        ("Worried about his business Genentech.", "Genentech", "LOCATION"),
        ("FOUND ASYSTOLIC ON QUARTERMAIN 6. DIFFICULT TO BAG.", "QUARTERMAIN", "HOSPITAL"),
        ("An125 Suanne858\n is a 28 year-old woman.", "An125 Suanne858", "NAME"),
        ("My name is Rubija", "Rubija", "NAME"),
    ],
)
def test_more_names_and_places(detector: Detector, text: str, phi: str, phi_type: str) -> None:
    assert found(detector, text).get(phi) == phi_type, found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "KEEP WHOLE FAMILY AWARE OF PLAN.",  # a word before "family"
        "brother came early and left.",  # a nickname spelling only after a strong cue
        "HUSBAND WORKS AT HOME.",
        "At follow-up 1 year after discharge she was well.",  # not a ward
        "ALK expression by IHC using the D5F3 antibody.",  # not a hospital
        "Her name is unknown.",
    ],
)
def test_no_name_or_place_there(detector: Detector, text: str) -> None:
    hits = found(detector, text)
    assert not {"NAME", "HOSPITAL", "LOCATION"} & set(hits.values()), hits


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Dr. Smith and pt aware.", "pt"),  # "and" then a cue word
        ("DR SMITH AND NSG AWARE.", "NSG"),  # "and" then an abbreviation
        ("wife suzette and kids in.", "kids"),  # "and" then an English word
    ],
)
def test_and_after_a_name_then_no_name(detector: Detector, text: str, word: str) -> None:
    hits = found(detector, text)
    assert not any(word in span for span in hits), hits


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("PAN CULTURED X 2 8/15. TYLENOL X 1.", "8/15"),  # a count, then a date
        ("PMH MI 92, 3 VCABG.", "92"),  # a past event and its year on a history line
        ("PMH: CAD: NQWMI 13. HTN.", "13"),
    ],
)
def test_dates_after_counts_and_events(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "DATE", found(detector, text)


@pytest.mark.parametrize(
    "text", ["BLOOD CX X 2 3/4 BOTTLES", "HR 80 10/12", "NEURO: MI 92, RR 13.", "PMH: HTN\nHR 92."]
)
def test_counts_and_vitals_are_not_dates(detector: Detector, text: str) -> None:
    assert "DATE" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi", "phi_type"),
    [
        ("Desk: +41 (0)96 471 07 95\nFax: none", "+41 (0)96 471 07 95", "PHONE"),
        ("They're not answering at 71-33-52-22", "71-33-52-22", "PHONE"),
        ("Mobile: 03.93.92.16.85\n", "03.93.92.16.85", "PHONE"),
        ("Can someone call me on (64) 3591-3246?", "(64) 3591-3246", "PHONE"),
        ("416 60 039 office\n", "416 60 039", "PHONE"),
        ("Office\\,07700 063 966-Fax", "07700 063 966", "PHONE"),
        ("+46 (0)8 928 571 38 fax", "+46 (0)8 928 571 38", "PHONE"),
        ("My IBAN is GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32", "ID"),
        ("from GB82WEST12345698765432 to other accounts", "GB82WEST12345698765432", "ID"),
        ("keep getting address 6e40:4041:c617:e898:c11:40d2:c669:2eb4 blocked",
         "6e40:4041:c617:e898:c11:40d2:c669:2eb4", "IP"),
        ("my driver's license number is 2270-66-1551", "2270-66-1551", "ID"),
        ("I have lost my card 4574911566148561. Could you", "4574911566148561", "ID"),
        ("When: 2000-04-16 11:34:35\nWhere: the club", "2000-04-16 11:34:35", "DATE"),
        ("During 1971, the firm invested heavily.", "1971", "DATE"),
        ("Zoolander is a 2017 Polish film.", "2017", "DATE"),
    ],
)  # fmt: skip
def test_international_identifiers_and_dates(
    detector: Detector, text: str, phi: str, phi_type: str
) -> None:
    hits = found(detector, text)
    assert hits.get(phi) == phi_type, hits


@pytest.mark.parametrize(
    "text",
    [
        "My IBAN is GB83 WEST 1234 5698 7654 32",  # check digits do not hold
        "Edema +2 at 3 4 5 6 ankles",  # a grade, not a phone number
        "Desk: 12 34",  # too few digits for a phone number
        "call me at 12:30 tomorrow",
        "given a 2000 mL bolus over 1 hr",
        "Pt on fax machine 3 times",
        "HR 80 at 1200 10 mg",
    ],
)
def test_not_identifiers(detector: Detector, text: str) -> None:
    hits = found(detector, text)
    assert not {"PHONE", "ID", "IP", "DATE"} & set(hits.values()), hits


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("A great song (not by Szabina J Gelencsér) indeed.", "Szabina J Gelencsér"),
        ("Have you been to a Homero Portillo concert before?", "Homero Portillo"),
        ("the verses from Faina D. Yefremova's Cautionary Tales", "Faina D. Yefremova"),
        ("What's your last name? Magnusson", "Magnusson"),
        ("Date: today\nName: Toshimi Arata\nPhone: none", "Toshimi Arata"),
        ("Directed By:    Johannes Varvio", "Johannes Varvio"),
        ("Hi Freddy, I'm contacting you about a problem", "Freddy"),
        ("They had 6: Gaetane, Hannah, Anthony and Derek.", "Hannah"),
        ("Scott is a very sympathetic person.", "Scott"),
        ("As promised, here's Matej's address:", "Matej"),
        ("Philippe Guernon\n\n0104 Hafnarstraeti 5\n", "Philippe Guernon"),
        ("> Lina Artemova\n> Irecycle\n", "Lina Artemova"),
        # hyphenated names whose parts are words too
        ("Patient's wife Rose-Ann called.", "Rose-Ann"),
        ("Care team: Hill-Wood NP, Ward-Price RN", "Hill-Wood"),
    ],
)
def test_names_by_shape_and_cue(detector: Detector, text: str, phi: str) -> None:
    hits = found(detector, text)
    assert hits.get(phi) == "NAME", hits


@pytest.mark.parametrize(
    "text",
    [
        "Remains vented with ABG's per carevue.",  # an abbreviation in the possessive
        "80's ABG's PaO2 40's.",
        "Brady and hypotensive on dopamine gtt.",  # opens a sentence, then no verb of people
        "Abd is tense with ascitis.",
        "Started heparin and lisinopril for Parkinson disease workup.",
        "Hodgkin's lymphoma in remission.",  # an eponym in the possessive
        "Plan Continue\nNeuro Stable\n",  # lines of words, not names
        'the Packager, said: "I\'m glad to hear that"',  # a contraction after a cue
        # a compound of words after a person cue ("PCP. Follow-up")
        "F/u with PCP. Follow-up with Heme/Onc. Follow up with Cardiology, Urology and ENT.",
        "Transferred to step-down unit. Long-term care. Check-in with wound-care RN.",
        "1. CKD stage 5 on hemodialysis 2. HTN",  # a treatment, not "on Quartermain 6"
    ],
)
def test_clinical_words_are_not_names_by_shape(detector: Detector, text: str) -> None:
    assert "NAME" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [("ZIP: 7412 SL", "7412 SL"), ("my zip code is 35350", "35350"), ("ZIP: 394 13", "394 13")],
)
def test_postcode_after_a_cue(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "LOCATION", found(detector, text)


def test_zip_word_without_a_code(detector: Detector) -> None:
    assert "LOCATION" not in found(detector, "zip lock bag for the dentures").values()


# -- postal addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        # a US street, a rare type word only with a name that is no English word
        ("Meet at 2 Sieda Radial.", "2 Sieda Radial."),
        (
            "send it to 6400 12 Timms Drive Suite 215 NUNGATTA Australia last night",
            "6400 12 Timms Drive Suite 215 NUNGATTA Australia",
        ),
        # a one-word street with its type as a suffix, and the block below it
        (
            "Stephan M Urner\n\n4844 Søndergade 52\n Apt. 656\n Brønderslev\n\n Denmark 35018",
            "4844 Søndergade 52\n Apt. 656\n Brønderslev\n\n Denmark 35018",
        ),
        ("The bus station is on Villacher Strasse 89", "Villacher Strasse 89"),
        ("The bus station is on C. Beerninckstraat 88", "C. Beerninckstraat 88"),
        # a type word before the street's name
        ("She lives at 86036 Rua do Arenque 1634, Tallinn", "86036 Rua do Arenque 1634, Tallinn"),
        ("User: Hanne and ul. Więckowskiego Stefana 28", "ul. Więckowskiego Stefana 28"),
        ("The bus drops you off at 70248 31 Rue tachkent St.", "70248 31 Rue tachkent St."),
        # number, name, number: with a unit or an address cue
        (
            "Billing address: Ann Lee\n 1593 Pagari 18 Suite 932\n Põlluküla\n SA\n 93318",
            "1593 Pagari 18 Suite 932\n Põlluküla\n SA\n 93318",
        ),
        ("His address: 5366 Pivovarská 276", "5366 Pivovarská 276"),
        ("The bus drops you off at 077 Příční 1429 St.", "077 Příční 1429 St."),
        ("Mrs. Lee Apt. 675 moved", "Apt. 675"),
        ("send a new one to USNS Sekerková\nFPO AA 65728? Thanks", "USNS Sekerková\nFPO AA 65728"),
        (
            "It is at PSC 9009, Box 9725\nAPO AA 33274. It serves",
            "PSC 9009, Box 9725\nAPO AA 33274",
        ),
        ("it is the corner of Bygget 64 and Komel Club", "the corner of Bygget 64 and Komel Club"),
        (
            "I once lived in 416 Kiannonkatu 98 Apt. 934 OULU NO. I now",
            "416 Kiannonkatu 98 Apt. 934 OULU NO.",
        ),
    ],
)
def test_postal_addresses(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "LOCATION", found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "transferred to 2 Medical Center today",  # a rare street type after English words
        "HR 80 SINUS TACH ST 100, BP stable",  # the ECG segment in capitals
        "The Ethics Committee 2 approved the study.",
        "Feeds given via PEG 2 times a day.",  # an abbreviation after a street prefix
        "given at 10 Ativan 2 mg iv",  # number, word, number: a dose
        "2 Tylenol 500 given at 10",
        "he is apt to fall 2 times a day",
        "the corner of the mouth and the lip",
        "A thromboelastometry (ROTEM, Pentapharm Co., Munich, Germany) was performed.",
    ],
)
def test_no_address_in_clinical_text(detector: Detector, text: str) -> None:
    assert "LOCATION" not in found(detector, text).values(), found(detector, text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("We moved here from New Zealand", "New Zealand"),
        ("I will be travelling to Tunisia next week", "Tunisia"),
        ("Mr. Oh flew to STAXROITH on Monday morning.", "STAXROITH"),
        ("Russell is a design agency based in KURZENKIRCHEN.", "KURZENKIRCHEN"),
        ("I'm in Flateyri, at the conference", "Flateyri"),
    ],
)
def test_places_after_strong_cues(detector: Detector, text: str, phi: str) -> None:
    assert found(detector, text).get(phi) == "LOCATION", found(detector, text)


@pytest.mark.parametrize(
    "text",
    ["A 45-year-old man from China presented with fever.", "I am in Pain since Monday"],
)
def test_countries_and_words_without_a_strong_cue(detector: Detector, text: str) -> None:
    assert "LOCATION" not in found(detector, text).values(), found(detector, text)


def test_two_names_joined_by_and(detector: Detector) -> None:
    hits = found(detector, "Is there a better pop song? Nekolná and Pearson were engineers.")
    assert hits.get("Nekolná") == "NAME" and hits.get("Pearson") == "NAME", hits


def test_eponyms_joined_by_and_are_no_names(detector: Detector) -> None:
    hits = found(detector, "Workup for Parkinson and Alzheimer disease.")
    assert "NAME" not in hits.values(), hits


def test_intersection_with_a_street_prefix(detector: Detector) -> None:
    text = "Address:\nthe corner of 76 Boulevard de Normandie and Eriksson Bridge."
    assert "LOCATION" in found(detector, text).values(), found(detector, text)


# -- an eponym head is a word of running text, never a line label (PHI leak) ----------------


@pytest.fixture(scope="module")
def default_deid() -> Pipeline:
    return Pipeline.from_settings(load_settings(pipeline=["deid"]))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Emergency contact: daughter Kowalski\nCell: 617-555-1234", ["Kowalski"]),
        ("Emergency contact: daughter Kowalski, cell 617-555-1234", ["Kowalski"]),
        ("Called son Rakusin about results. Rakusin\nTest ordered.", ["Rakusin"]),
        ("PCP: Kowalski\nProcedure: EGD", ["Kowalski"]),
        ("Spoke with wife Oyelaran\nNode biopsy pending", ["Oyelaran"]),
        ("Daughter Kowalski Cell: 617-555-1234", ["Kowalski"]),  # a label on the same line
        ("Son Rakusin TEST results pending.", ["Rakusin"]),  # a label in capitals
    ],
)
def test_a_name_before_a_line_label_is_redacted(
    default_deid: Pipeline, text: str, names: list[str]
) -> None:
    doc = default_deid.run(doc_of(text))
    for name in names:
        assert name not in doc.text, doc.text
    originals = [text[slice(*doc.original_span(p.start, p.end))] for p in doc.phi]
    assert originals.count(names[0]) == text.count(names[0]), originals


@pytest.mark.parametrize(
    "text",
    [
        "History of Gaucher disease, on imiglucerase.",
        "Parkinson's disease, stable on carbidopa.",
        "Glasgow Coma Scale 15 on arrival.",
        "Workup for Cushing syndrome.",
        "Babinski sign negative bilaterally.",
        "Foley catheter in place.",
        "Status post Whipple procedure, healing well.",
        "Biopsy with abundant Gaucher cells.",
        "Pressure 12 mm Hg by Goldmann applanation tonometry.",  # "by" is no person here
    ],
)
def test_eponyms_stay_through_the_deid_stage(default_deid: Pipeline, text: str) -> None:
    doc = default_deid.run(doc_of(text))
    assert doc.text == text and not doc.phi, doc.text


def test_only_the_occurrence_before_the_head_is_an_eponym(detector: Detector) -> None:
    text = "Reviewed with Bowen. History of Bowen disease."
    spans = [(d.start, text[d.start : d.end]) for d in detector.detect(text, budget_s=5)]
    assert spans == [(14, "Bowen")], spans  # the person, not the word before "disease"


@pytest.mark.parametrize(
    ("text", "value", "phi_type"),
    [
        ("Seen MARCH 3, 2021 in clinic.", "MARCH 3, 2021", "DATE"),
        ("Seen on the 3rd of Jun 2021.", "3rd of Jun 2021", "DATE"),
        ("Last seen June 2019.", "June 2019", "DATE"),
        ("Pager: 4471 for questions.", "4471", "PHONE"),
        ("CALL ME AT 617 555 0142 TOMORROW", "617 555 0142", "PHONE"),
        ("Friend:\n617 555 0142 CELL", "617 555 0142", "PHONE"),
        ("Number 617.555.0142 given.", "617.555.0142", "PHONE"),
        ("Paid from GB82 WEST 1234 5698 7654 32 today.", "GB82 WEST 1234 5698 7654 32", "ID"),
        ("Host 2001:db8::8a2e:370:7334 was down.", "2001:db8::8a2e:370:7334", "IP"),
        ("Car VIN 1HGCM82633A004352 noted.", "1HGCM82633A004352", "ID"),
        ("See WWW.EXAMPLE.ORG for more.", "WWW.EXAMPLE.ORG", "URL"),
        ("Her ZIP CODE: 35350.", "35350", "LOCATION"),
        ("She lives at Villacher Strasse 89.", "Villacher Strasse 89.", "LOCATION"),
        ("He lives at Rua do Arenque 1634.", "Rua do Arenque 1634.", "LOCATION"),
        ("Sumiko254 Larue605 is a 60 year-old woman.", "Sumiko254 Larue605", "NAME"),
    ],
)
def test_costly_patterns_run_when_their_need_is_there(
    detector: Detector, text: str, value: str, phi_type: str
) -> None:
    """The quick test that lets a note skip a costly pattern never skips one that matches,
    in capitals either."""
    spans = {text[d.start : d.end]: d.type for d in detector.detect(text, budget_s=5)}
    assert spans.get(value) == phi_type, spans
