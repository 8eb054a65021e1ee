"""Our Composition kind sections use the LOINC codes and displays of the HL7 IPS examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

from note2fhir.fhir.build.composition import KIND_SECTIONS

FSH_LOINC = re.compile(r'\$loinc#(\d+-\d)\s+"([^"]+)"')


def ips_displays(ips: Path) -> dict[str, set[str]]:
    """LOINC code -> every display the IPS examples give it (FSH and JSON)."""
    found: dict[str, set[str]] = {}
    for fsh in ips.glob("fsh-head/*.fsh"):
        for code, display in FSH_LOINC.findall(fsh.read_text("utf-8")):
            found.setdefault(code, set()).add(display)
    for path in ips.glob("json-xml-2024/*.json"):
        bundle = json.loads(path.read_text("utf-8"))
        for entry in bundle.get("entry", []):
            for section in entry.get("resource", {}).get("section", []):
                for coding in section.get("code", {}).get("coding", []):
                    found.setdefault(coding["code"], set()).add(coding.get("display", ""))
    return found


def test_kind_section_displays_match_ips(shared_data: Path) -> None:
    displays = ips_displays(shared_data / "fhir-examples" / "ips")
    checked = 0
    for kind in KIND_SECTIONS:
        if kind.code in displays:
            assert kind.display in displays[kind.code], (kind.code, displays[kind.code])
            checked += 1
    # problems, medications, results and allergies are in the IPS examples
    assert checked >= 4
