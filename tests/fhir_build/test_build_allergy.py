"""AllergyIntolerance output: allergens with their reactions, "no known allergies", and how
they sit in the Bundle beside Conditions, AdverseEvents, the Composition and Provenance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from note2fhir.document import ClinicalDocument, EntityType
from note2fhir.fhir.build.common import mentions_concept

M, P = EntityType.MEDICATION, EntityType.PROBLEM
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
DERIVATION = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def allergies(bundle: dict[str, Any], helpers: Any) -> dict[str, dict[str, Any]]:
    """The AllergyIntolerances of a Bundle by code text."""
    return {r["code"]["text"]: r for r in helpers.resources(bundle, "AllergyIntolerance")}


def code_of(concept: dict[str, Any]) -> str:
    return str(concept["coding"][0]["code"])


def spans(resource: dict[str, Any]) -> list[tuple[int, int]]:
    """(offset, length) of each derivation-reference."""
    out = []
    for ext in resource["extension"]:
        assert ext["url"] == DERIVATION
        parts = {sub["url"]: sub for sub in ext["extension"]}
        out.append((parts["offset"]["valueInteger"], parts["length"]["valueInteger"]))
    return out


def quoted(doc: ClinicalDocument, resource: dict[str, Any]) -> list[str]:
    """The ORIGINAL text each derivation-reference points at."""
    return [doc.original_text[start : start + length] for start, length in spans(resource)]


@pytest.fixture
def bundle(build: Any, helpers: Any) -> dict[str, Any]:
    return build(helpers.allergy_note().doc)


def test_penicillin_with_rash(build: Any, helpers: Any) -> None:
    note = helpers.allergy_note()
    res = allergies(build(note.doc), helpers)["Penicillin"]
    assert res["clinicalStatus"] == {
        "coding": [{"system": CLINICAL, "code": "active", "display": "Active"}]
    }
    assert res["verificationStatus"] == {
        "coding": [{"system": VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
    }
    assert res["type"] == "allergy"
    assert res["category"] == ["medication"]
    assert res["patient"] == {"reference": "Patient/p1"}
    assert res["encounter"] == {"reference": "Encounter/enc-1"}
    assert res["recordedDate"] == "2026-02-27T14:05:00-05:00"
    assert res["reaction"] == [
        {
            "manifestation": [
                {
                    "coding": [
                        {
                            "system": helpers.SNOMED,
                            "code": "271807003",
                            "display": "Eruption of skin",
                        }
                    ],
                    "text": "rash",
                }
            ]
        }
    ]
    assert quoted(note.doc, res) == ["Penicillin", "rash"]
    assert res["meta"]["security"][0]["code"] == "AIAST"
    assert res["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{res['id']}"}]


def test_codeine_arrow_hives(bundle: dict[str, Any], helpers: Any) -> None:
    res = allergies(bundle, helpers)["codeine"]
    assert code_of(res["code"]) == "2670"
    assert [code_of(r["manifestation"][0]) for r in res["reaction"]] == ["126485001"]


def test_the_code_is_the_medication_statements_code(build: Any, helpers: Any) -> None:
    """The allergen is coded exactly as a MedicationStatement of the same mention would be."""
    codes = (
        helpers.code(RXNORM, "7980", "penicillin G"),
        helpers.code(RXNORM, "x", "y", selected=False),
    )
    allergy = helpers.make_note("<p>Allergies: Penicillin</p>").sections(("allergies", "Allergies"))
    pcn = allergy.mention("Penicillin", M, codes=codes)
    (res,) = helpers.resources(build(allergy.doc), "AllergyIntolerance")
    taken = helpers.make_note("<p>Meds: Penicillin</p>").sections(("medications", "Meds"))
    taken.mention("Penicillin", M, codes=codes)
    (statement,) = helpers.resources(build(taken.doc), "MedicationStatement")
    assert res["code"] == statement["medicationCodeableConcept"]
    assert res["code"] == mentions_concept(allergy.doc, [pcn])
    assert [c["code"] for c in res["code"]["coding"]] == ["7980"]


def test_an_uncoded_allergen_keeps_its_text_only(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: sulfa</p>").sections(("allergies", "Allergies"))
    note.mention("sulfa", M)
    assert allergies(build(note.doc), helpers)["sulfa"]["code"] == {"text": "sulfa"}


def test_reactions_are_not_conditions(bundle: dict[str, Any], helpers: Any) -> None:
    """The allergy list's rash and hives are manifestations; the rash of today stays a
    Condition, derived from its own mention only."""
    conditions = helpers.resources(bundle, "Condition")
    assert [c["code"]["text"] for c in conditions] == ["Rash", "Cough"]
    assert len(conditions[0]["extension"]) == 1
    assert helpers.by_text(bundle, "MedicationStatement", "Penicillin") == []


def test_the_adverse_event_path_is_unchanged(bundle: dict[str, Any], helpers: Any) -> None:
    (event,) = helpers.resources(bundle, "AdverseEvent")
    (cough,) = helpers.by_text(bundle, "Condition", "Cough")
    (drug,) = helpers.by_text(bundle, "MedicationStatement", "lisinopril")
    assert event["resultingCondition"] == [{"reference": f"urn:uuid:{cough['id']}"}]
    assert event["suspectEntity"] == [{"instance": {"reference": f"urn:uuid:{drug['id']}"}}]
    assert {"reference": f"urn:uuid:{drug['id']}"} in cough["evidence"][0]["detail"]


def test_no_known_drug_allergies(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Meds: aspirin.</p><p>Allergies: <b>NKDA</b></p>")
    bundle = build(note.doc)
    (res,) = helpers.resources(bundle, "AllergyIntolerance")
    assert res["code"] == {"text": "No known drug allergies"}  # no coding, ever
    assert res["category"] == ["medication"]
    assert "type" not in res and "reaction" not in res
    assert code_of(res["verificationStatus"]) == "confirmed"
    assert code_of(res["clinicalStatus"]) == "active"
    assert quoted(note.doc, res) == ["Allergies: <b>NKDA"]  # original offsets, HTML and all
    assert res["identifier"][0]["value"] == f"urn:uuid:{res['id']}"
    assert res["text"]["div"].endswith("<p>No known drug allergies</p></div>")


def test_no_known_allergies_replaces_the_refuted_condition(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<h2>Allergies</h2><p>No Known Allergies.</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("Allergies", P, nth=1, negated=True)
    bundle = build(note.doc)
    assert helpers.resources(bundle, "Condition") == []
    (res,) = helpers.resources(bundle, "AllergyIntolerance")
    assert res["code"] == {"text": "No known allergies"}
    assert "category" not in res
    assert quoted(note.doc, res) == ["No Known Allergies"]


def test_nkda_and_a_listed_allergy_give_the_allergy_only(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: NKDA, penicillin (hives)</p>")
    note.sections(("allergies", "Allergies"))
    pcn = note.mention("penicillin", M)
    note.relate("causes", pcn, note.mention("hives", P))
    assert list(allergies(build(note.doc), helpers)) == ["penicillin"]


def test_no_allergy_to_penicillin_is_refuted(build: Any, helpers: Any) -> None:
    """Pinned: a denied allergy is a refuted AllergyIntolerance (clinicalStatus inactive, as
    a refuted Condition), not a MedicationStatement "not-taken" nor a refuted Condition
    "allergy"."""
    note = helpers.make_note("<p>No allergy to penicillin.</p>")
    word = note.mention("allergy", P, negated=True)
    note.relate("causes", note.mention("penicillin", M, negated=True), word)
    bundle = build(note.doc)
    (res,) = helpers.resources(bundle, "AllergyIntolerance")
    assert code_of(res["verificationStatus"]) == "refuted"
    assert code_of(res["clinicalStatus"]) == "inactive"
    assert "reaction" not in res
    for kind in ("Condition", "MedicationStatement", "AdverseEvent"):
        assert helpers.resources(bundle, kind) == []


def test_an_uncertain_allergy_is_unconfirmed(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>? allergy to labetalol</p>")
    note.mention("labetalol", M, uncertain=True)
    (res,) = helpers.resources(build(note.doc), "AllergyIntolerance")
    assert code_of(res["verificationStatus"]) == "unconfirmed"


def test_mentions_of_one_allergen_make_one_resource(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<p>Allergies: codeine (nausea)</p><p>Allergic to codeine.</p>")
    note.sections(("allergies", "Allergies"))
    codeine = note.mention("codeine", M)
    note.relate("causes", codeine, note.mention("nausea", P))
    note.mention("codeine", M, nth=1)
    (res,) = helpers.resources(build(note.doc), "AllergyIntolerance")
    assert quoted(note.doc, res) == ["codeine", "codeine", "nausea"]
    assert len(res["reaction"]) == 1


def test_an_intolerance_has_no_type(build: Any, helpers: Any) -> None:
    """ "codeine (intolerance)" is not stated as an allergy; "morphine (rash)" in an Allergies
    list is (a reaction alone does not tell an allergy from an intolerance: the list does)."""
    note = helpers.make_note("<p>Allergies: codeine (intolerance - nausea), morphine (rash)</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("codeine", M)
    note.mention("morphine", M)
    found = allergies(build(note.doc), helpers)
    assert "type" not in found["codeine"]
    assert found["morphine"]["type"] == "allergy"


# --- Bundle, Composition, Provenance ----------------------------------------------------------


def test_ids_are_deterministic(build: Any, helpers: Any) -> None:
    first = json.dumps(build(helpers.allergy_note().doc), sort_keys=True)
    assert first == json.dumps(build(helpers.allergy_note().doc), sort_keys=True)
    nkda = helpers.make_note("<p>Allergies: NKDA</p>")
    assert build(nkda.doc) == build(helpers.make_note("<p>Allergies: NKDA</p>").doc)
    ids = [e["resource"]["id"] for e in build(helpers.allergy_note().doc)["entry"]]
    assert len(ids) == len(set(ids))


def test_entry_order_and_allergies_section(bundle: dict[str, Any]) -> None:
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.index("AllergyIntolerance") > kinds.index("MedicationStatement")
    assert kinds.index("AllergyIntolerance") < kinds.index("AdverseEvent")
    composition = bundle["entry"][0]["resource"]
    (section,) = [
        s for s in composition["section"] if "code" in s and code_of(s["code"]) == "48765-2"
    ]
    assert section["title"] == "Allergies and adverse reactions"
    assert section["code"]["coding"][0]["display"] == "Allergies and adverse reactions Document"
    by_id = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
    assert [by_id[r["reference"]] for r in section["entry"]] == [
        "AllergyIntolerance",
        "AllergyIntolerance",
        "AdverseEvent",
    ]
    assert "<li>Penicillin allergy (confirmed): rash</li>" in section["text"]["div"]
    note_section = next(s for s in composition["section"] if s["title"] == "Allergies")
    assert [by_id[r["reference"]] for r in note_section["entry"]] == ["AllergyIntolerance"] * 2


def test_no_known_allergies_is_listed_in_its_note_section(build: Any, helpers: Any) -> None:
    note = helpers.make_note("<h2>Allergies</h2><p>NKA</p>").sections(("allergies", "Allergies"))
    composition = build(note.doc)["entry"][0]["resource"]
    titles = {s["title"]: s for s in composition["section"]}
    assert len(titles["Allergies"]["entry"]) == 1
    assert titles["Allergies and adverse reactions"]["entry"] == titles["Allergies"]["entry"]
    assert "emptyReason" not in titles["Allergies and adverse reactions"]


def test_empty_allergies_section_reads_right(build: Any, helpers: Any) -> None:
    composition = build(helpers.make_note("<p>Well.</p>").doc)["entry"][0]["resource"]
    section = composition["section"][-1]
    assert section["title"] == "Allergies and adverse reactions"
    assert "No allergies or adverse reactions were found in the note." in section["text"]["div"]
    assert section["emptyReason"]["coding"][0]["code"] == "unavailable"


def test_provenance_targets_the_allergies(bundle: dict[str, Any], helpers: Any) -> None:
    (provenance,) = helpers.resources(bundle, "Provenance")
    targets = {t["reference"] for t in provenance["target"]}
    for res in helpers.resources(bundle, "AllergyIntolerance"):
        assert f"urn:uuid:{res['id']}" in targets


@pytest.mark.parametrize("bundle_type", ["collection", "transaction", "document"])
def test_bundles_with_allergies_validate(build: Any, helpers: Any, bundle_type: str) -> None:
    for doc in (helpers.allergy_note().doc, helpers.make_note("<p>Allergies: NKDA</p>").doc):
        bundle = build(doc, bundle_type)  # validated element by element on the way out
        get_fhir_model_class("Bundle").model_validate(bundle)  # and as a whole
        if bundle_type == "transaction":
            for entry in bundle["entry"]:
                if entry["resource"]["resourceType"] == "AllergyIntolerance":
                    assert entry["request"] == {
                        "method": "POST",
                        "url": "AllergyIntolerance",
                        "ifNoneExist": "identifier=urn:ietf:rfc:3986|"
                        + f"urn:uuid:{entry['resource']['id']}",
                    }


def test_a_non_drug_allergen_in_the_bundle(build: Any, helpers: Any) -> None:
    """ "latex (hives)": text and category only, the hives a manifestation (no Condition),
    derivation-references at the allergen and the reaction, listed in both Composition
    sections, a Provenance target, and a Bundle that validates."""
    note = helpers.make_note("<h2>Allergies</h2><p>NKDA, latex (hives)</p>")
    note.sections(("allergies", "Allergies"))
    note.mention("hives", P)
    bundle = build(note.doc)
    get_fhir_model_class("Bundle").model_validate(bundle)
    found = allergies(bundle, helpers)
    assert set(found) == {"latex", "No known drug allergies"}
    latex = found["latex"]
    assert latex["code"] == {"text": "latex"}
    assert latex["category"] == ["environment"]
    assert latex["type"] == "allergy"
    assert latex["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert latex["reaction"] == [{"manifestation": [{"text": "hives"}]}]
    assert quoted(note.doc, latex) == ["latex", "hives"]
    assert not helpers.resources(bundle, "Condition")
    composition = bundle["entry"][0]["resource"]
    titles = {s["title"]: s for s in composition["section"]}
    ref = {"reference": f"urn:uuid:{latex['id']}"}
    assert ref in titles["Allergies"]["entry"]
    assert ref in titles["Allergies and adverse reactions"]["entry"]
    (provenance,) = helpers.resources(bundle, "Provenance")
    assert ref in provenance["target"]
    assert build(note.doc) == bundle  # deterministic ids
