"""Device: note2fhir itself, the author of the Composition and agent of the Provenance.

Its id depends only on the tool and terminology versions, so every document processed by one
release points at the same Device (and a transaction creates it once).
"""

from __future__ import annotations

from note2fhir.document import JSONDict
from note2fhir.fhir.build.common import finish, identifier, narrative_paragraph
from note2fhir.fhir.build.context import Built
from note2fhir.ids import stable_uuid
from note2fhir.settings import Settings

TOOL_NAME = "note2fhir"


def device_id(tool_version: str, terminology_version: str | None = None) -> str:
    """The deterministic id of the note2fhir Device of these versions."""
    return stable_uuid("Device", TOOL_NAME, tool_version, terminology_version or "")


def build_device(
    settings: Settings, tool_version: str, terminology_version: str | None = None
) -> Built:
    """The note2fhir Device: name, tool version and, when loaded, the terminology version."""
    rid = device_id(tool_version, terminology_version)
    versions: list[JSONDict] = [{"value": tool_version}]
    if terminology_version:
        versions.append({"type": {"text": "terminology"}, "value": terminology_version})
    summary = f"{TOOL_NAME} {tool_version}"
    resource: JSONDict = {
        "resourceType": "Device",
        "id": rid,
        "text": narrative_paragraph(summary),
        "identifier": [identifier(settings, rid)],
        "deviceName": [{"name": TOOL_NAME, "type": "manufacturer-name"}],
        "version": versions,
    }
    return Built(finish(resource), summary)
