"""Golden-file tests: whole output Bundles of hand-built documents, frozen clock.

Each case builds a Bundle and compares ``json.dumps(bundle, sort_keys=True, indent=2)`` with
``golden/<name>.json``.  After an intended change of the output, regenerate the files with

    NOTE2FHIR_UPDATE_GOLDEN=1 python -m pytest tests/fhir_build -q

and review the diff by eye before committing it: a golden file is a claim that its content
is correct FHIR, not just what the code happens to produce.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from note2fhir.document import ClinicalDocument, DocumentContext, EntityType, MedicationAttributes

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NOTE2FHIR_UPDATE_GOLDEN") == "1"


def empty_report(helpers: Any) -> ClinicalDocument:
    """A radiology report with sections but nothing extracted."""
    source = helpers.source_ref("rad-7", resource_type="DiagnosticReport")
    context = DocumentContext(
        subject={"reference": "Patient/p2"},
        date="2026-02-28",
        title="Chest radiograph report",
    )
    note = helpers.make_note(
        "<h3>Findings</h3><p>Lungs are clear.</p><h3>Impression</h3><p>Normal study.</p>",
        source=source,
        context=context,
    )
    note.sections(("findings", "Findings"), ("impression", "Impression"))
    return note.doc


def minimal_note(helpers: Any) -> ClinicalDocument:
    """A source known only by identifier, with no subject and no date."""
    source = helpers.source_ref(None, identifier={"system": "urn:oid:1.2.3", "value": "n-9"})
    note = helpers.make_note(
        "<p>Possible gout of the left toe. Start colchicine 0.6 mg PO daily.</p>", source=source
    )
    gout = note.mention(
        "gout",
        EntityType.PROBLEM,
        uncertain=True,
        codes=(helpers.code(helpers.ICD10, "M10.9", "Gout, unspecified"),),
    )
    drug = note.mention(
        "colchicine",
        EntityType.MEDICATION,
        medication=MedicationAttributes(
            dose_value=0.6,
            dose_unit="mg",
            route_text="PO",
            timing={"frequency": 1, "period": 1, "periodUnit": "d"},
            frequency_text="daily",
            status="start",
        ),
    )
    note.relate("treats", drug, gout)
    return note.doc


def no_known_allergies(helpers: Any) -> ClinicalDocument:
    """A note whose allergy list says NKDA, and a problem the word "allergies" would be."""
    note = helpers.make_note(
        "<h2>Allergies</h2><p>NKDA</p><h2>Plan</h2><p>Allergies: NKDA. Flu shot.</p>",
        context=helpers.full_context(),
    )
    note.sections(("allergies", "Allergies"), ("plan", "Plan"))
    note.mention("Allergies", EntityType.PROBLEM, nth=1)
    return note.doc


CASES: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "allergies_transaction": (lambda h: h.allergy_note().doc, "transaction", {}),
    "clinic_collection": (lambda h: h.clinic_note().doc, "collection", {}),
    "no_known_allergies_collection": (no_known_allergies, "collection", {}),
    "empty_report_document": (empty_report, "document", {}),
    "minimal_transaction": (minimal_note, "transaction", {"terminology_version": "2026-01"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, build: Any, helpers: Any) -> None:
    make, bundle_type, kwargs = CASES[name]
    bundle = build(make(helpers), bundle_type, **kwargs)
    actual = json.dumps(bundle, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with NOTE2FHIR_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    sorted([*GOLDEN.glob("*.json"), *(GOLDEN.parents[1] / "cli" / "golden").glob("*.json")]),
    ids=lambda p: p.name,
)
def test_builders_write_canonical_json(path: Path) -> None:
    """``validated`` returns the builders' own JSON instead of the model's dump: that is only
    right while the two are equal, element for element."""
    bundle = json.loads(path.read_text("utf-8"))
    model = get_fhir_model_class("Bundle").model_validate(bundle)
    assert model.model_dump(mode="json", exclude_none=True) == bundle
