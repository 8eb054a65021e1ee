"""Provenance: note2fhir (the Device) assembled every generated resource from the source
document.  R4 Provenance has no ``identifier``; transactions PUT it by id instead."""

from __future__ import annotations

from collections.abc import Sequence

from note2fhir.document import JSONDict
from note2fhir.fhir.build.common import (
    coding,
    finish,
    narrative_paragraph,
    ref,
    security_meta,
    source_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built
from note2fhir.ids import resource_id

PARTICIPANT_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def build_provenance(ctx: BuildContext, targets: Sequence[Built]) -> Built:
    """The Provenance of ``targets`` (every generated resource but the Device)."""
    rid = resource_id(ctx.doc.source, "Provenance")
    summary = "Resources note2fhir generated from the source document"
    resource: JSONDict = {
        "resourceType": "Provenance",
        "id": rid,
        "meta": security_meta(),
        "text": narrative_paragraph(summary),
        "target": [ref(target.id) for target in targets],
        "recorded": ctx.now,
        "agent": [
            {
                "type": {"coding": [coding(PARTICIPANT_SYSTEM, "assembler", "Assembler")]},
                "who": ref(ctx.device_id),
            }
        ],
        "entity": [{"role": "source", "what": source_reference(ctx.doc.source)}],
    }
    return Built(finish(resource), summary)
