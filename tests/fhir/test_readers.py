from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from note2fhir.document import ClinicalDocument, EntityType, TargetSpan
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.readers import (
    document_from_plain_text,
    document_from_text_record,
    documents_from_resource,
)
from note2fhir.settings import Settings

NOTE = "Assessment: CHF exacerbation. Plan: furosemide 40 mg IV."
SETTINGS = Settings(fhir_base_url=None, fetch_allowed_hosts=[])
Item: TypeAlias = ClinicalDocument | Note2FhirError


def inline(text: str = NOTE, content_type: str = "text/plain") -> dict[str, Any]:
    return {"contentType": content_type, "data": base64.b64encode(text.encode()).decode()}


def docref(**fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": "dr1",
        "status": "current",
        "content": [{"attachment": inline()}],
    }
    resource.update(fields)
    return resource


def report(**fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": "rep1",
        "status": "final",
        "code": {"text": "Chest X-ray"},
        "presentedForm": [inline("Impression: no acute disease.")],
    }
    resource.update(fields)
    return resource


def read(resource: Any, location: str = "in.json") -> list[Item]:
    return list(
        documents_from_resource(resource, location=location, settings=SETTINGS, fetcher=None)
    )


def one_doc(resource: Any) -> ClinicalDocument:
    items = read(resource)
    assert len(items) == 1
    assert isinstance(items[0], ClinicalDocument), items[0]
    return items[0]


def one_error(resource: Any, location: str = "in.json") -> Note2FhirError:
    items = read(resource, location)
    assert len(items) == 1
    assert isinstance(items[0], Note2FhirError), items[0]
    assert items[0].location.startswith(location)
    return items[0]


def bundle(*resources: dict[str, Any] | None, kind: str = "collection") -> dict[str, Any]:
    entries = []
    for index, resource in enumerate(resources):
        item: dict[str, Any] = {"fullUrl": f"urn:uuid:0000000{index}"}
        if resource is not None:
            item["resource"] = resource
        entries.append(item)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


# -- DocumentReference --------------------------------------------------------------------


def test_document_reference() -> None:
    resource = docref(
        identifier=[{"system": "urn:x", "value": "42"}],
        subject={"reference": "Patient/p1"},
        context={"encounter": [{"reference": "Encounter/e1"}]},
        date="2024-05-01T10:00:00-05:00",
        type={"coding": [{"system": "http://loinc.org", "code": "18842-5"}]},
        category=[{"text": "Clinical Note"}],
        author=[{"reference": "Practitioner/a1"}],
        description="Discharge summary",
    )
    doc = one_doc(resource)
    assert doc.id == "dr1"
    assert doc.text == NOTE
    assert doc.source.resource_type == "DocumentReference"
    assert doc.source.resource_id == "dr1"
    assert doc.source.reference == "DocumentReference/dr1"
    assert doc.source.attachment_path == "DocumentReference.content[0].attachment"
    assert doc.source.location == "in.json"
    assert doc.source.identifier == {"system": "urn:x", "value": "42"}
    assert doc.source.content_type == "text/plain"
    assert doc.context.subject == {"reference": "Patient/p1"}
    assert doc.context.encounter == {"reference": "Encounter/e1"}
    assert doc.context.date == "2024-05-01T10:00:00-05:00"
    assert doc.context.type == resource["type"]
    assert doc.context.category == [{"text": "Clinical Note"}]
    assert doc.context.author == [{"reference": "Practitioner/a1"}]
    assert doc.context.title == "Discharge summary"
    assert doc.context.patient is None


def test_several_attachments_each_become_a_document() -> None:
    html = inline("<p>Second</p>", "text/html")
    items = read(docref(content=[{"attachment": inline()}, {"attachment": html}]))
    assert all(isinstance(item, ClinicalDocument) for item in items)
    first, second = items
    assert isinstance(first, ClinicalDocument)
    assert isinstance(second, ClinicalDocument)
    assert (first.id, second.id) == ("dr1", "dr1#1")
    assert first.source.location == "in.json content[0]"
    assert second.source.location == "in.json content[1]"
    assert second.source.attachment_path == "DocumentReference.content[1].attachment"
    assert second.source.attachment_index == 1
    assert second.source.content_type == "text/html"
    assert second.text.strip() == "Second"
    assert second.original_text == "<p>Second</p>"
    second.context.category.append({"text": "edited"})
    assert first.context.category == []


def test_a_failing_attachment_does_not_stop_the_others() -> None:
    items = read(docref(content=[{"attachment": {"data": "!!"}}, {"attachment": inline()}]))
    err, doc = items
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.ATTACHMENT_BASE64
    assert err.location == "in.json content[0]"
    assert err.expression == "DocumentReference.content[0].attachment"
    assert isinstance(doc, ClinicalDocument)
    assert doc.id == "dr1#1"


def test_r5_list_context_gives_the_encounter() -> None:
    doc = one_doc(docref(context=[{"reference": "Encounter/e5"}]))
    assert doc.context.encounter == {"reference": "Encounter/e5"}


def test_attachment_title_is_a_fallback_title() -> None:
    attachment = {**inline(), "title": "POLST (PDF)"}
    assert one_doc(docref(content=[{"attachment": attachment}])).context.title == "POLST (PDF)"


@pytest.mark.parametrize(
    "fields", [{"status": "entered-in-error"}, {"docStatus": "entered-in-error"}]
)
def test_entered_in_error_is_skipped(fields: dict[str, Any]) -> None:
    err = one_error(docref(**fields))
    assert err.code is ErrorCode.DOCUMENT_ENTERED_IN_ERROR
    assert err.code.spec.severity == "warning"


def test_entered_in_error_report() -> None:
    err = one_error(report(status="entered-in-error"))
    assert err.code is ErrorCode.DOCUMENT_ENTERED_IN_ERROR
    assert err.params["resource_type"] == "DiagnosticReport"


@pytest.mark.parametrize("content", [None, []])
def test_no_attachment(content: Any) -> None:
    resource = docref()
    if content is None:
        del resource["content"]
    else:
        resource["content"] = content
    assert one_error(resource).code is ErrorCode.NO_ATTACHMENT


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"attachment": inline()}, "content is not a list"),
        ("text", "content is not a list"),
        (["x"], "content[0] is not an object"),
        ([{}], "content[0].attachment is missing"),
        ([{"attachment": "x"}], "DocumentReference.content[0].attachment is not an object"),
    ],
)
def test_structural_errors_name_the_field(content: Any, reason: str) -> None:
    err = one_error(docref(content=content))
    assert err.code is ErrorCode.RESOURCE_INVALID
    assert err.params["reason"] == reason


def test_attachment_without_data_or_url() -> None:
    err = one_error(docref(content=[{"attachment": {"contentType": "text/plain"}}]))
    assert err.code is ErrorCode.ATTACHMENT_EMPTY


def test_resource_without_id_uses_location() -> None:
    resource = docref()
    del resource["id"]
    doc = one_doc(resource)
    assert doc.id == "in.json"
    assert doc.source.reference is None
    assert doc.source.resource_id is None


def test_master_identifier_is_the_fallback_identifier() -> None:
    doc = one_doc(docref(masterIdentifier={"system": "urn:m", "value": "7"}))
    assert doc.source.identifier == {"system": "urn:m", "value": "7"}


def test_contained_patient_is_linked() -> None:
    patient = {"resourceType": "Patient", "id": "p", "name": [{"family": "Roe"}]}
    doc = one_doc(docref(contained=[patient], subject={"reference": "#p"}))
    assert doc.context.patient == patient


# -- DiagnosticReport -----------------------------------------------------------------------


def test_diagnostic_report() -> None:
    doc = one_doc(
        report(
            subject={"reference": "Patient/p1"},
            encounter={"reference": "Encounter/e1"},
            effectiveDateTime="2024-01-02",
            issued="2024-01-03T00:00:00Z",
            category=[{"text": "Radiology"}],
            resultsInterpreter=[{"reference": "Practitioner/r"}],
            performer=[{"reference": "Organization/o"}],
        )
    )
    assert doc.id == "rep1"
    assert doc.text == "Impression: no acute disease."
    assert doc.source.attachment_path == "DiagnosticReport.presentedForm[0]"
    assert doc.source.reference == "DiagnosticReport/rep1"
    assert doc.context.date == "2024-01-02"
    assert doc.context.type == {"text": "Chest X-ray"}
    assert doc.context.title == "Chest X-ray"
    assert doc.context.encounter == {"reference": "Encounter/e1"}
    assert doc.context.category == [{"text": "Radiology"}]
    assert doc.context.author == [
        {"reference": "Practitioner/r"},
        {"reference": "Organization/o"},
    ]


def test_report_date_falls_back_to_period_then_issued() -> None:
    assert one_doc(report(effectivePeriod={"start": "2024-02"})).context.date == "2024-02"
    assert one_doc(report(issued="2024-03-04T05:06:07Z")).context.date == "2024-03-04T05:06:07Z"


def test_report_without_presented_form() -> None:
    resource = report()
    del resource["presentedForm"]
    err = one_error(resource)
    assert err.code is ErrorCode.NO_ATTACHMENT
    assert err.expression == "DiagnosticReport.presentedForm"


def test_report_presented_form_errors() -> None:
    assert one_error(report(presentedForm={"x": 1})).code is ErrorCode.RESOURCE_INVALID
    assert one_error(report(presentedForm=[3])).code is ErrorCode.RESOURCE_INVALID
    assert one_error(report(presentedForm=[{}])).code is ErrorCode.ATTACHMENT_EMPTY


# -- not documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ([], "an array"),
        ("text", "a string"),
        (3, "a number"),
        (None, "null"),
        (True, "a boolean"),
        ({"id": "x"}, "an object without resourceType"),
        ({"resourceType": 5}, "an object without resourceType"),
    ],
)
def test_not_a_resource(value: Any, found: str) -> None:
    err = one_error(value)
    assert err.code is ErrorCode.INPUT_NOT_RESOURCE
    assert err.params["found"] == found


def test_unsupported_resource_type() -> None:
    err = one_error({"resourceType": "Condition", "id": "c"})
    assert err.code is ErrorCode.RESOURCE_TYPE_UNSUPPORTED
    assert err.params["resource_type"] == "Condition"
    err = one_error({"resourceType": "Jane Roe's note"})
    assert err.params["resource_type"] == "(invalid)"


# -- Bundles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "collection",
        "batch",
        "transaction",
        "searchset",
        "history",
        "document",
        "message",
        "subscription-notification",
    ],
)
def test_bundle_of_any_type(kind: str) -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    items = read(bundle({"resourceType": "Composition"}, patient, docref(), report(), kind=kind))
    assert [type(item) for item in items] == [ClinicalDocument, ClinicalDocument]
    first, second = items
    assert isinstance(first, ClinicalDocument)
    assert isinstance(second, ClinicalDocument)
    assert first.source.location == "in.json entry[2]"
    assert second.source.location == "in.json entry[3]"
    assert (first.id, second.id) == ("dr1", "rep1")


def test_r4_subscription_notification_history_bundle() -> None:
    status = {
        "resourceType": "Parameters",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                "backport-subscription-status-r4"
            ]
        },
        "parameter": [{"name": "type", "valueCode": "event-notification"}],
    }
    notification = bundle(status, docref(), kind="history")
    notification["entry"][1]["request"] = {"method": "POST", "url": "DocumentReference"}
    items = read(notification)
    assert len(items) == 1
    assert isinstance(items[0], ClinicalDocument)


def test_patient_in_the_bundle_is_linked() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Roe"}]}
    by_id = one_doc(bundle(patient, docref(subject={"reference": "Patient/p1"})))
    assert by_id.context.patient == patient
    by_url = one_doc(bundle(patient, docref(subject={"reference": "urn:uuid:00000000"})))
    assert by_url.context.patient == patient
    absolute = docref(subject={"reference": "https://fhir.example.org/r4/Patient/p1"})
    assert one_doc(bundle(patient, absolute)).context.patient == patient
    other = one_doc(bundle(patient, docref(subject={"reference": "Patient/p2"})))
    assert other.context.patient is None


def test_entry_without_id_uses_full_url() -> None:
    resource = docref()
    del resource["id"]
    doc = one_doc(bundle(resource))
    assert doc.id == "urn:uuid:00000000"
    assert doc.source.reference == "urn:uuid:00000000"
    assert doc.source.resource_id is None


def test_entries_without_resource_are_skipped() -> None:
    items = read(bundle(None, docref(), kind="history"))
    assert len(items) == 1
    assert isinstance(items[0], ClinicalDocument)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Bundle", "entry": []},
        bundle({"resourceType": "Patient", "id": "p"}, None),
    ],
)
def test_bundle_without_documents(resource: dict[str, Any]) -> None:
    err = one_error(resource)
    assert err.code is ErrorCode.BUNDLE_EMPTY
    assert err.location == "in.json"


def test_bundle_with_bad_entries() -> None:
    assert one_error({"resourceType": "Bundle", "entry": {}}).code is ErrorCode.RESOURCE_INVALID
    items = read({"resourceType": "Bundle", "entry": [1, {"resource": []}, {"resource": docref()}]})
    codes = [item.code if isinstance(item, Note2FhirError) else "doc" for item in items]
    assert codes == [ErrorCode.RESOURCE_INVALID, ErrorCode.RESOURCE_INVALID, "doc"]
    assert isinstance(items[0], Note2FhirError)
    assert items[0].location == "in.json entry[0]"


def test_bundle_entry_errors_are_located() -> None:
    items = read(bundle(docref(status="entered-in-error"), docref(content=[])))
    assert [(item.code, item.location) for item in items if isinstance(item, Note2FhirError)] == [
        (ErrorCode.DOCUMENT_ENTERED_IN_ERROR, "in.json entry[0]"),
        (ErrorCode.NO_ATTACHMENT, "in.json entry[1]"),
    ]


# -- text records -----------------------------------------------------------------------------


def test_text_record() -> None:
    record = {
        "id": "n1",
        "text": "Denies chest pain.",
        "targets": [{"start": 7, "end": 17, "type": "problem"}, {"start": 0, "end": 6}],
    }
    doc = document_from_text_record(record, location="notes.jsonl line 1")
    assert isinstance(doc, ClinicalDocument)
    assert doc.id == "n1"
    assert doc.text == doc.original_text == "Denies chest pain."
    assert doc.targets == [TargetSpan(7, 17, EntityType.PROBLEM), TargetSpan(0, 6, None)]
    assert doc.source.resource_type == "DocumentReference"
    assert doc.source.resource_id == "n1"
    assert doc.source.reference is None
    assert doc.source.attachment_path == "DocumentReference.content[0].attachment"
    assert doc.source.location == "notes.jsonl line 1"


def test_text_record_id_defaults_to_location() -> None:
    doc = document_from_text_record({"text": "x", "id": 7}, location="l")
    assert isinstance(doc, ClinicalDocument)
    assert doc.id == "7"
    doc = document_from_text_record({"text": "x"}, location="notes.jsonl line 3")
    assert isinstance(doc, ClinicalDocument)
    assert doc.id == "notes.jsonl line 3"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([], "not an object"),
        ({"id": "a"}, "'text'"),
        ({"text": 5}, "'text'"),
        ({"text": "x", "id": ["a"]}, "'id'"),
        ({"text": "x", "id": ""}, "'id'"),
        ({"text": "x", "id": True}, "'id'"),
        ({"text": "x", "targets": {}}, "'targets'"),
        ({"text": "x", "targets": [1]}, "targets[0]"),
        ({"text": "x", "targets": [{"start": 0}]}, "targets[0]"),
        ({"text": "x", "targets": [{"start": "0", "end": 1}]}, "targets[0]"),
        ({"text": "x", "targets": [{"start": True, "end": 1}]}, "targets[0]"),
        ({"text": "abc", "targets": [{"start": 2, "end": 1}]}, "targets[0]"),
        ({"text": "abc", "targets": [{"start": 0, "end": 4}]}, "targets[0]"),
        ({"text": "abc", "targets": [{"start": -1, "end": 1}]}, "targets[0]"),
        ({"text": "abc", "targets": [{"start": 0, "end": 1, "type": "drug"}]}, "targets[0].type"),
    ],
)
def test_bad_text_records(record: Any, reason: str) -> None:
    err = document_from_text_record(record, location="notes.jsonl line 2")
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.TEXT_RECORD_INVALID
    assert reason in err.params["reason"]
    assert err.location == "notes.jsonl line 2"


def test_plain_text() -> None:
    doc = document_from_plain_text("Hx of MI.", doc_id="note1", location="note1.txt")
    assert doc.id == "note1"
    assert doc.text == "Hx of MI."
    assert doc.offset_map.is_identity
    assert doc.source.resource_id == "note1"
    assert doc.source.location == "note1.txt"


# -- real US Core examples --------------------------------------------------------------------


def test_us_core_examples(shared_data: Path) -> None:
    folder = shared_data / "fhir-examples" / "uscore"
    if not folder.is_dir():
        pytest.skip("US Core examples are not present")

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text("utf-8"))

    doc = one_doc(load("documentreference-discharge-summary.json"))
    assert doc.id == "discharge-summary"
    assert doc.text.startswith("No activity restriction")
    assert doc.context.subject == {"reference": "Patient/example"}
    assert doc.context.encounter == {"reference": "Encounter/example-1"}

    xray = one_doc(load("DiagnosticReport-chest-xray-report.json"))
    assert xray.source.content_type == "application/xhtml+xml"
    assert "No pneumothorax." in xray.text
    assert "<p>" not in xray.text
    start = xray.text.index("No pneumothorax.")
    o_start, o_end = xray.original_span(start, start + len("No pneumothorax."))
    assert xray.original_text[o_start:o_end] == "No pneumothorax."

    bone = one_doc(load("DiagnosticReport-bone-density-report.json"))
    assert bone.source.content_type == "application/pdf"
    assert bone.text.strip()
    assert bone.context.author[0]["display"] == "Dr Ronald Bone"

    # The cardiology report only points at a url; without a fetcher it is refused cleanly.
    err = one_error(load("DiagnosticReport-cardiology-report.json"))
    assert err.code is ErrorCode.URL_FETCH_DISABLED


# -- properties -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

FIELDS = st.sampled_from(
    [
        "id",
        "status",
        "docStatus",
        "subject",
        "context",
        "content",
        "presentedForm",
        "category",
        "author",
        "code",
        "identifier",
        "contained",
        "effectivePeriod",
        "entry",
        "fullUrl",
        "resource",
        "attachment",
        "data",
        "contentType",
        "url",
        "hash",
        "size",
    ]
)


def corrupted(shaped: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A well-shaped object, or one with a field set to (or replaced by) any JSON value."""
    broken = st.tuples(shaped, FIELDS, JSON).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(shaped, broken)


ATTACHMENT = corrupted(
    st.fixed_dictionaries(
        {
            "data": st.sampled_from(["eA==", "PHA+eDwvcD4=", "", "!!", "JVBERi0="]),
            "contentType": st.sampled_from(["text/plain", "text/html", "application/pdf", "x/y"]),
        },
        optional={"url": st.sampled_from(["Binary/1", "file:///x"]), "title": JSON},
    )
)

CONTEXT = {
    "id": st.text(max_size=4),
    "status": st.sampled_from(["current", "final", "entered-in-error"]),
    "subject": st.fixed_dictionaries({"reference": st.sampled_from(["Patient/1", "#p", "x"])}),
    "contained": st.lists(
        st.fixed_dictionaries({"resourceType": st.just("Patient"), "id": st.just("p")}),
        max_size=1,
    ),
    "context": JSON,
    "category": JSON,
    "identifier": JSON,
    "effectivePeriod": JSON,
    "code": JSON,
}

DOCREF = corrupted(
    st.fixed_dictionaries(
        {
            "resourceType": st.just("DocumentReference"),
            "content": st.lists(
                corrupted(st.fixed_dictionaries({"attachment": ATTACHMENT})), max_size=3
            ),
        },
        optional=CONTEXT,
    )
)

REPORT = corrupted(
    st.fixed_dictionaries(
        {
            "resourceType": st.just("DiagnosticReport"),
            "presentedForm": st.lists(ATTACHMENT, max_size=3),
        },
        optional=CONTEXT,
    )
)

PATIENT = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")}, optional={"id": st.sampled_from(["1", "p"])}
)

RESOURCE = st.one_of(DOCREF, REPORT, PATIENT, JSON)

BUNDLE = corrupted(
    st.fixed_dictionaries(
        {
            "resourceType": st.just("Bundle"),
            "entry": st.lists(
                corrupted(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "fullUrl": st.sampled_from(["urn:uuid:1", "Patient/1"]) | JSON,
                            "resource": RESOURCE,
                        },
                    )
                ),
                max_size=4,
            ),
        },
        optional={"type": st.sampled_from(["collection", "history"]) | JSON},
    )
)


def check_items(items: list[Item]) -> None:
    for item in items:
        assert isinstance(item, ClinicalDocument | Note2FhirError)
        if isinstance(item, Note2FhirError):
            assert item.location.startswith("in.json")
            assert item.message
        else:
            assert item.offset_map.work_length == len(item.text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | st.dictionaries(FIELDS, JSON, max_size=6))
def test_readers_never_raise_on_arbitrary_json(value: Any) -> None:
    check_items(read(value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCE | BUNDLE)
def test_readers_never_raise_on_resource_shaped_json(value: Any) -> None:
    check_items(read(value))


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_text_records_never_raise(value: Any) -> None:
    result = document_from_text_record(value, location="in.json")
    assert isinstance(result, ClinicalDocument | Note2FhirError)
