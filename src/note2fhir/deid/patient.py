"""PHI values of the referenced FHIR Patient, to be found in the note explicitly."""

from __future__ import annotations

from datetime import date
from typing import Any

from note2fhir.deid.transform import MONTHS as LOWER_MONTHS

MONTHS = [name.capitalize() for name in LOWER_MONTHS]


def patient_values(patient: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(value, PHI type) pairs from a Patient resource: names (given and family separately,
    and "Family, Given"), identifier values, telecom values, address parts and the birth date
    in the formats notes use."""
    if not patient:
        return []
    out: list[tuple[str, str]] = []
    for name in patient.get("name") or []:
        given = [g for g in name.get("given") or [] if isinstance(g, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else None
        for part in [*given, family or "", name.get("text") or ""]:
            for word in str(part).replace(",", " ").split():
                if len(word.strip(".")) >= 2:
                    out.append((word.strip("."), "NAME"))
        if family and given:
            out.append((f"{family}, {given[0]}", "NAME"))
            out.append((f"{given[0]} {family}", "NAME"))
    for ident in patient.get("identifier") or []:
        value = ident.get("value")
        if isinstance(value, str) and len(value) >= 3:
            out.append((value, "ID"))
    for telecom in patient.get("telecom") or []:
        value = telecom.get("value")
        if isinstance(value, str) and value:
            out.append((value, "EMAIL" if "@" in value else "PHONE"))
    for address in patient.get("address") or []:
        for line in address.get("line") or []:
            if isinstance(line, str):
                out.append((line, "LOCATION"))
        for key in ("city", "district", "postalCode"):
            value = address.get(key)
            if isinstance(value, str):
                out.append((value, "LOCATION"))
    birth = patient.get("birthDate")
    if isinstance(birth, str):
        out.extend((text, "DATE") for text in _date_forms(birth))
    return out


def _date_forms(value: str) -> list[str]:
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return [value]
    month = MONTHS[day.month - 1]
    return [
        day.isoformat(),
        f"{day.month}/{day.day}/{day.year}",
        f"{day.month:02d}/{day.day:02d}/{day.year}",
        f"{day.month}/{day.day}/{day.year % 100:02d}",
        f"{month} {day.day}, {day.year}",
        f"{month[:3]} {day.day}, {day.year}",
        f"{day.day} {month} {day.year}",
    ]
