"""Bundle-level guarantees: identity, grouping, provenance markers, bundle types, validity."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from note2fhir.document import DocumentContext, EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.build.common import narrative_list
from note2fhir.settings import Settings

AIAST = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
DERIVATION = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
MENTION_KINDS = {
    "Condition",
    "FamilyMemberHistory",
    "MedicationStatement",
    "Procedure",
    "Observation",
    "AllergyIntolerance",
    "AdverseEvent",
}


def dumps(bundle: dict[str, Any]) -> str:
    """The golden-file serialisation."""
    return json.dumps(bundle, sort_keys=True, indent=2)


def all_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Every entry's resource, in entry order."""
    return [entry["resource"] for entry in bundle["entry"]]


def derivations(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The derivation-reference extensions of a resource as {sub-url: value}."""
    out = []
    for ext in resource.get("extension", []):
        if ext["url"] == DERIVATION:
            out.append(
                {
                    sub["url"]: next(v for k, v in sub.items() if k != "url")
                    for sub in ext["extension"]
                }
            )
    return out


# --- identity -------------------------------------------------------------------------------


def test_same_input_gives_byte_identical_json(build: Any, helpers: Any) -> None:
    first = build(helpers.clinic_note().doc)
    second = build(helpers.clinic_note().doc)
    assert dumps(first) == dumps(second)
    assert json.dumps(first) == json.dumps(second)  # key order too, not only content


def test_ids_differ_across_documents(build: Any, helpers: Any) -> None:
    one = build(helpers.clinic_note().doc)
    other = build(helpers.clinic_note(helpers.source_ref("note-2")).doc)
    ids_one = {r["resourceType"]: r["id"] for r in all_resources(one)}
    ids_other = {r["resourceType"]: r["id"] for r in all_resources(other)}
    for kind, rid in ids_one.items():
        if kind == "Device":
            assert ids_other[kind] == rid  # one Device per note2fhir release
        else:
            assert ids_other[kind] != rid
    assert one["identifier"] != other["identifier"]


def test_every_resource_has_its_identifier(build: Any, helpers: Any) -> None:
    settings = Settings(identifier_system="https://example.org/note2fhir")
    bundle = build(helpers.clinic_note().doc, settings=settings)
    for res in all_resources(bundle):
        if res["resourceType"] == "Provenance":
            continue  # R4 Provenance has no identifier element
        ident = res["identifier"]
        ident = ident[0] if isinstance(ident, list) else ident
        assert ident == {
            "system": "https://example.org/note2fhir",
            "value": f"urn:uuid:{res['id']}",
        }
    assert bundle["identifier"]["system"] == "https://example.org/note2fhir"


# --- grouping and derivation references -----------------------------------------------------


def test_repeated_mentions_make_one_resource(clinic_bundle: Any, helpers: Any) -> None:
    (htn,) = helpers.by_text(clinic_bundle, "Condition", "Hypertension")
    offsets = [d["offset"] for d in derivations(htn)]
    assert len(offsets) == 2
    html = helpers.clinic_note().doc.original_text
    assert [html[o : o + 12] for o in offsets] == ["Hypertension", "Hypertension"]
    (cough,) = helpers.by_text(clinic_bundle, "Condition", "cough")
    assert len(derivations(cough)) == 2


def test_same_concept_different_status_stays_apart(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>HTN. Not HTN. hx of HTN. HTN again.</p>")
    note.mention("HTN", EntityType.PROBLEM, codes=(helpers.HTN,))
    note.mention("HTN", EntityType.PROBLEM, nth=1, negated=True, codes=(helpers.HTN,))
    note.mention("HTN", EntityType.PROBLEM, nth=2, historical=True, codes=(helpers.HTN,))
    note.mention("HTN", EntityType.PROBLEM, nth=3, codes=(helpers.HTN,))
    found = helpers.resources(build(note.doc), "Condition")
    assert [len(derivations(c)) for c in found] == [2, 1, 1]


def test_text_concept_key_ignores_case_and_spacing(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Chest  pain and chest pain</p>")
    note.mention("Chest  pain", EntityType.PROBLEM)
    note.mention("chest pain", EntityType.PROBLEM)
    (res,) = helpers.resources(build(note.doc), "Condition")
    assert res["code"] == {"text": "Chest pain"}
    assert len(derivations(res)) == 2


def test_derivation_offsets_are_original_offsets(clinic_bundle: Any, helpers: Any) -> None:
    doc = helpers.clinic_note().doc
    (procedure,) = helpers.by_text(clinic_bundle, "Procedure", "D&C")
    (ref,) = derivations(procedure)
    working = doc.text.index("D&C")
    assert ref["offset"] != working  # the HTML reduction moved it
    assert doc.original_text[ref["offset"] : ref["offset"] + ref["length"]] == "D&amp;C"
    assert ref == {
        "reference": {"reference": "DocumentReference/note-1"},
        "path": "DocumentReference.content[0].attachment",
        "offset": ref["offset"],
        "length": 7,
    }


def test_every_derivation_points_at_its_mention(clinic_bundle: Any, helpers: Any) -> None:
    note = helpers.clinic_note()
    doc = note.doc
    spans = {doc.original_span(e.start, e.end) for e in doc.entities}
    for res in all_resources(clinic_bundle):
        for ref in derivations(res):
            assert (ref["offset"], ref["offset"] + ref["length"]) in spans


def test_text_comes_from_the_working_text(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Seen by Dr Smith for gout.</p>")
    entity = note.mention("gout", EntityType.PROBLEM)
    entity.text = "stale"  # builders read doc.text, not the entity's copy
    bundle = build(note.doc)
    (res,) = helpers.resources(bundle, "Condition")
    assert res["code"]["text"] == "gout"
    assert "Smith" not in json.dumps(bundle)


# --- markers on every resource --------------------------------------------------------------


@pytest.mark.parametrize("note", ["clinic_note", "allergy_note"])
def test_security_label_and_derivation_on_generated_resources(
    build: Any, helpers: Any, note: str
) -> None:
    for res in all_resources(build(getattr(helpers, note)().doc)):
        kind = res["resourceType"]
        if kind == "Device":
            assert "meta" not in res
            assert not derivations(res)
            continue
        assert res["meta"]["security"] == [AIAST]
        if kind in MENTION_KINDS:
            assert derivations(res), kind
        else:
            assert not derivations(res), kind


def test_no_phi_from_reference_displays(clinic_bundle: Any) -> None:
    assert "Amy Shaw" not in json.dumps(clinic_bundle)


# --- bundle types ---------------------------------------------------------------------------


def test_collection_entries_and_references_resolve(clinic_bundle: Any, helpers: Any) -> None:
    assert clinic_bundle["type"] == "collection"
    assert clinic_bundle["timestamp"] == "2026-03-01T09:30:00-05:00"
    full_urls = set()
    for entry in clinic_bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        assert "request" not in entry
        full_urls.add(entry["fullUrl"])
    refs = list(helpers.walk_references(clinic_bundle))
    internal = [r for r in refs if r.startswith("urn:uuid:")]
    assert internal and set(internal) <= full_urls
    assert {r for r in refs if not r.startswith("urn:uuid:")} == {
        "Patient/p1",
        "Encounter/enc-1",
        "DocumentReference/note-1",
    }


def test_entry_order(clinic_bundle: Any) -> None:
    kinds = [r["resourceType"] for r in all_resources(clinic_bundle)]
    order = [
        "Composition",
        "Condition",
        "FamilyMemberHistory",
        "MedicationStatement",
        "Procedure",
        "Observation",
        "AllergyIntolerance",
        "AdverseEvent",
        "Device",
        "Provenance",
    ]
    assert sorted(kinds, key=order.index) == kinds
    assert kinds[0] == "Composition" and kinds[-2:] == ["Device", "Provenance"]


def test_transaction_uses_conditional_creates(build: Any, helpers: Any) -> None:
    bundle = build(helpers.clinic_note().doc, "transaction")
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Provenance":
            assert entry["request"] == {"method": "PUT", "url": f"Provenance/{res['id']}"}
            continue
        assert entry["request"] == {
            "method": "POST",
            "url": res["resourceType"],
            "ifNoneExist": f"identifier=urn:ietf:rfc:3986|urn:uuid:{res['id']}",
        }


def test_document_bundle(build: Any, helpers: Any) -> None:
    bundle = build(helpers.clinic_note().doc, "document")
    assert bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert bundle["identifier"]["value"].startswith("urn:uuid:")
    assert bundle["timestamp"] == "2026-03-01T09:30:00-05:00"
    assert all("request" not in entry for entry in bundle["entry"])


def test_unknown_bundle_type_is_refused(build: Any, helpers: Any) -> None:
    with pytest.raises(ValueError, match="bundle type"):
        build(helpers.clinic_note().doc, "batch")


def test_naive_now_is_refused(build: Any, helpers: Any) -> None:
    with pytest.raises(ValueError, match="timezone"):
        build(helpers.clinic_note().doc, now=datetime(2026, 3, 1, 9, 30))


# --- validity -------------------------------------------------------------------------------


@pytest.mark.parametrize("bundle_type", ["collection", "transaction", "document"])
def test_output_revalidates(build: Any, helpers: Any, bundle_type: str) -> None:
    bundle = build(helpers.clinic_note().doc, bundle_type)
    reparsed = json.loads(json.dumps(bundle))
    assert Bundle.model_validate(reparsed).model_dump(mode="json", exclude_none=True) == bundle
    for res in all_resources(reparsed):
        get_fhir_model_class(res["resourceType"]).model_validate(res)


def test_narratives_are_well_formed_xhtml(clinic_bundle: Any) -> None:
    divs = [r["text"]["div"] for r in all_resources(clinic_bundle)]
    composition = all_resources(clinic_bundle)[0]
    divs += [s["text"]["div"] for s in composition["section"]]
    for div in divs:
        root = ET.fromstring(div)
        assert root.tag == "{http://www.w3.org/1999/xhtml}div"


def test_narrative_escapes_markup_and_drops_control_characters() -> None:
    div = narrative_list(["K < 3.5 & falling\x0c", "<script>"])["div"]
    root = ET.fromstring(div)
    assert [li.text for li in root.iter("{http://www.w3.org/1999/xhtml}li")] == [
        "K < 3.5 & falling",
        "<script>",
    ]
    assert "<script>" not in div


def test_invalid_output_raises_catalogue_error_without_phi(build: Any, helpers: Any) -> None:
    context = DocumentContext(type={"text": "note", "bogus": "Amy Shaw"})
    note = helpers.make_note("<p>asthma</p>", context=context)
    with pytest.raises(Note2FhirError) as caught:
        build(note.doc)
    err = caught.value
    assert err.code is ErrorCode.OUTPUT_INVALID
    assert err.params["resource_type"] == "Composition"
    assert "type.bogus" in err.params["fields"]
    assert "Amy Shaw" not in err.one_line()
    assert err.__cause__ is None


# --- Composition, Provenance, Device --------------------------------------------------------


def test_composition(clinic_bundle: Any) -> None:
    composition = all_resources(clinic_bundle)[0]
    assert composition["status"] == "final"
    assert composition["date"] == "2026-03-01T09:30:00-05:00"
    assert composition["title"] == "Summary of Progress note"
    assert composition["type"]["coding"][0]["code"] == "11506-3"
    assert composition["subject"] == {"reference": "Patient/p1"}
    assert composition["encounter"] == {"reference": "Encounter/enc-1"}
    device = all_resources(clinic_bundle)[-2]
    assert composition["author"] == [{"reference": f"urn:uuid:{device['id']}"}]
    titles = [s["title"] for s in composition["section"]]
    assert titles[:6] == [
        "History of Present Illness",
        "Past Medical History",
        "Medications",
        "Family History",
        "Results",
        "Assessment & Plan",
    ]
    codes = [s["code"]["coding"][0]["code"] for s in composition["section"][6:]]
    assert codes == ["11450-4", "10160-0", "47519-4", "30954-2", "10157-6", "48765-2"]
    problems = composition["section"][6]
    assert problems["code"]["coding"][0]["display"] == "Problem list - Reported"
    assert "<li>chest pain (refuted)</li>" in problems["text"]["div"]
    assert len(problems["entry"]) == 8
    hpi = composition["section"][0]
    assert "<li>cough (active)</li>" in hpi["text"]["div"]


def test_empty_document_still_makes_a_valid_bundle(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Nothing of note.</p>")
    note.sections(("plan", "Nothing"))
    bundle = build(note.doc, "document")
    kinds = [r["resourceType"] for r in all_resources(bundle)]
    assert kinds == ["Composition", "Device", "Provenance"]
    composition = all_resources(bundle)[0]
    assert composition["type"] == {
        "coding": [{"system": "http://loinc.org", "code": "34109-9", "display": "Note"}]
    }
    assert composition["title"] == "Summary of Note"
    note_section, *kind_sections = composition["section"]
    assert "emptyReason" not in note_section and "entry" not in note_section
    assert "Nothing was extracted" in note_section["text"]["div"]
    for section in kind_sections:
        assert "entry" not in section
        assert section["emptyReason"]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
            "code": "unavailable",
            "display": "Unavailable",
        }
        assert "were found" in section["text"]["div"] or "was found" in section["text"]["div"]
    provenance = all_resources(bundle)[-1]
    assert provenance["target"] == [{"reference": f"urn:uuid:{composition['id']}"}]


def test_provenance(clinic_bundle: Any) -> None:
    resources = all_resources(clinic_bundle)
    provenance, device = resources[-1], resources[-2]
    targets = [t["reference"] for t in provenance["target"]]
    assert targets == [f"urn:uuid:{r['id']}" for r in resources[:-2]]
    assert provenance["recorded"] == "2026-03-01T09:30:00-05:00"
    assert provenance["agent"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "assembler",
                        "display": "Assembler",
                    }
                ]
            },
            "who": {"reference": f"urn:uuid:{device['id']}"},
        }
    ]
    assert provenance["entity"] == [
        {"role": "source", "what": {"reference": "DocumentReference/note-1"}}
    ]


def test_device(build: Any, helpers: Any) -> None:
    bundle = build(helpers.clinic_note().doc, terminology_version="umls-2025AB")
    device = all_resources(bundle)[-2]
    assert device["deviceName"] == [{"name": "note2fhir", "type": "manufacturer-name"}]
    assert device["version"] == [
        {"value": "0.1.0"},
        {"type": {"text": "terminology"}, "value": "umls-2025AB"},
    ]
    plain = all_resources(build(helpers.clinic_note().doc))[-2]
    assert plain["version"] == [{"value": "0.1.0"}]
    assert plain["id"] != device["id"]


def test_now_keeps_its_offset_to_the_second(build: Any, helpers: Any) -> None:
    now = helpers.NOW.replace(microsecond=250000)
    bundle = build(helpers.make_note("<p>x</p>").doc, now=now)
    assert bundle["timestamp"] == "2026-03-01T09:30:00-05:00"
