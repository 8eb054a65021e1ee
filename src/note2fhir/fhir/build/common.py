"""Helpers every FHIR builder shares: references, provenance markers, codes, narrative, checks.

Builders produce plain JSON dicts; the Bundle that holds them is validated once against the
fhir.resources R4B models (identical to R4 for the resources we emit), see ``validation``.

Text that goes out is always taken from the WORKING text of the document (which is what the
de-identification stage rewrites), never from the original text; offsets that go out are always
ORIGINAL offsets (``doc.original_span``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from note2fhir.document import (
    ClinicalDocument,
    CodeCandidate,
    DocumentContext,
    Entity,
    JSONDict,
    SourceRef,
)
from note2fhir.fhir.build.context import BuildContext, MentionGroup
from note2fhir.settings import Settings

DERIVATION_URL = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
DATA_ABSENT_URL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
XHTML_NS = "http://www.w3.org/1999/xhtml"

UCUM_UNITS = frozenset(
    {
        "mg", "g", "kg", "ug", "ng", "L", "dL", "mL", "uL", "U", "[iU]", "meq", "mmol",
        "mol", "%", "mg/kg", "ug/kg", "mg/mL", "mg/h", "mL/h", "U/h", "U/kg", "[drp]",
        "mg/d", "ug/h", "mg/m2", "[iU]/h", "[iU]/kg", "ug/kg/min", "ug/kg/h", "ug/min",
        "mg/min", "mg/kg/d", "mL/kg", "meq/h", "L/min",
    }
)  # fmt: skip
"""Dose units written exactly as UCUM (case-sensitive) codes."""

AI_ASSERTED: JSONDict = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}

# XML 1.0 forbids most C0 controls (PDF text layers carry form feeds); FHIR strings and the
# XHTML narrative must not contain them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DATE_TIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_REFERENCE_KEYS = ("reference", "type", "identifier")


# --- text -----------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """``text`` with XML-invalid characters removed and whitespace runs collapsed.

    >>> clean_text("chest\\n  pain\\x0c")
    'chest pain'
    """
    return " ".join(_XML_INVALID.sub(" ", text).split())


def mention_text(doc: ClinicalDocument, entity: Entity) -> str:
    """The mention as it reads in the WORKING text (de-identified once that stage ran)."""
    return clean_text(doc.text[entity.start : entity.end]) or clean_text(entity.text)


def concept_key(doc: ClinicalDocument, entity: Entity) -> str:
    """The first selected code as ``system|code``, else the lowercased mention text."""
    codes = entity.selected_codes
    if codes:
        return f"{codes[0].system}|{codes[0].code}"
    return mention_text(doc, entity).lower()


def format_number(value: float | int) -> str:
    """A number as a person writes it: ``25.0`` → ``25``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- dates ----------------------------------------------------------------------------------


def fhir_instant(moment: datetime) -> str:
    """``moment`` as a FHIR instant to the second; it must carry a time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return moment.isoformat(timespec="seconds")


def fhir_date_time(value: str | None) -> str | None:
    """``value`` when it is a valid FHIR dateTime (a date or a zoned date-time), else None."""
    if value and _DATE_TIME.fullmatch(value):
        return value
    return None


# --- references -----------------------------------------------------------------------------


def urn(resource_id: str) -> str:
    """The ``urn:uuid:`` fullUrl of a generated resource."""
    return f"urn:uuid:{resource_id}"


def ref(resource_id: str) -> JSONDict:
    """A reference to a generated resource in the same Bundle."""
    return {"reference": urn(resource_id)}


def source_reference(source: SourceRef) -> JSONDict:
    """How output resources point at the source document.

    The source's own reference when it has one (``DocumentReference/123`` or a Bundle
    fullUrl); else a logical reference by its business identifier; else a display-only
    reference (valid FHIR, though not resolvable) typed with the source resource type.
    """
    if source.reference:
        return {"reference": source.reference}
    if source.resource_id:
        return {"reference": f"{source.resource_type}/{source.resource_id}"}
    if source.identifier:
        return {"type": source.resource_type, "identifier": dict(source.identifier)}
    return {"type": source.resource_type, "display": "source document"}


def context_reference(value: JSONDict | None) -> JSONDict | None:
    """The source's subject/encounter reference, without its ``display``.

    The display of a patient reference is often the patient's name: it is PHI that the
    de-identification stage does not see, so only ``reference``, ``type`` and ``identifier``
    are carried over.
    """
    if not value:
        return None
    kept = {key: value[key] for key in _REFERENCE_KEYS if value.get(key)}
    return kept or None


def subject_reference(context: DocumentContext) -> JSONDict:
    """The subject for resources where FHIR requires one (Condition.subject is 1..1).

    Without a known subject this is a reference carrying the standard
    ``data-absent-reason`` extension (``unknown``) and a display, which R4 and HAPI accept.
    """
    return context_reference(context.subject) or {
        "extension": [{"url": DATA_ABSENT_URL, "valueCode": "unknown"}],
        "display": "unknown subject",
    }


def encounter_reference(context: DocumentContext) -> JSONDict | None:
    """The encounter of the source document, when it had one."""
    return context_reference(context.encounter)


# --- provenance markers ---------------------------------------------------------------------


def identifier(settings: Settings, resource_id: str) -> JSONDict:
    """The business identifier every generated resource carries (same value as its id)."""
    return {"system": settings.identifier_system, "value": urn(resource_id)}


def security_meta() -> JSONDict:
    """``meta`` labelling a resource as asserted by artificial intelligence (AIAST)."""
    return {"security": [dict(AI_ASSERTED)]}


def derivation_extension(doc: ClinicalDocument, entity: Entity) -> JSONDict:
    """The ``derivation-reference`` extension pointing at one mention in the ORIGINAL text."""
    return span_derivation_extension(doc, entity.start, entity.end)


def span_derivation_extension(doc: ClinicalDocument, work_start: int, work_end: int) -> JSONDict:
    """The ``derivation-reference`` extension of a working-text span (a mention, or the
    stated result of a test), in ORIGINAL-text offsets."""
    start, end = doc.original_span(work_start, work_end)
    parts: list[JSONDict] = [{"url": "reference", "valueReference": source_reference(doc.source)}]
    if doc.source.attachment_path:
        parts.append({"url": "path", "valueString": doc.source.attachment_path})
    parts.append({"url": "offset", "valueInteger": start})
    parts.append({"url": "length", "valueInteger": end - start})
    return {"url": DERIVATION_URL, "extension": parts}


def base_resource(
    ctx: BuildContext, resource_type: str, group: MentionGroup, summary: str
) -> JSONDict:
    """The elements every mention-derived resource shares: id, AIAST label, narrative,
    one derivation-reference per mention and the note2fhir identifier (as a list)."""
    return {
        "resourceType": resource_type,
        "id": group.id,
        "meta": security_meta(),
        "text": narrative_paragraph(summary),
        "extension": [derivation_extension(ctx.doc, m) for m in group.mentions],
        "identifier": [identifier(ctx.settings, group.id)],
    }


# --- codes ----------------------------------------------------------------------------------


def coding(system: str, code: str, display: str | None = None) -> JSONDict:
    """A Coding; an empty display is left out."""
    out: JSONDict = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def codeable(codes: Iterable[CodeCandidate], text: str | None = None) -> JSONDict:
    """A CodeableConcept from code candidates (order kept, duplicates dropped) and text."""
    seen: set[tuple[str, str]] = set()
    codings: list[JSONDict] = []
    for cand in codes:
        if not cand.code or (cand.system, cand.code) in seen:
            continue
        seen.add((cand.system, cand.code))
        codings.append(coding(cand.system, cand.code, cand.display))
    return compact({"coding": codings, "text": text})


def mentions_concept(doc: ClinicalDocument, mentions: Sequence[Entity]) -> JSONDict:
    """The CodeableConcept of mentions of one concept: the selected codes of every mention
    (first mention first, each best first), text = the first mention."""
    codes = [code for mention in mentions for code in mention.selected_codes]
    return codeable(codes, mention_text(doc, mentions[0]))


def group_concept(ctx: BuildContext, group: MentionGroup) -> JSONDict:
    """The group's CodeableConcept (see :func:`mentions_concept`)."""
    return mentions_concept(ctx.doc, group.mentions)


def quantity(value: float | int, unit: str) -> JSONDict:
    """A Quantity; UCUM system and code only for units known to be UCUM, since a validator
    rejects a word such as "tablet" as a UCUM code (the unit text is kept either way)."""
    out: JSONDict = {"value": value, "unit": unit}
    if unit in UCUM_UNITS:
        out.update({"system": UCUM, "code": unit})
    return out


def status_concept(system: str, code: str, display: str) -> JSONDict:
    """A CodeableConcept holding one code of an HL7 status code system."""
    return {"coding": [coding(system, code, display)]}


# --- narrative ------------------------------------------------------------------------------


def _div(body: str) -> JSONDict:
    return {"status": "generated", "div": f'<div xmlns="{XHTML_NS}">{body}</div>'}


def escape(text: str) -> str:
    """``text`` cleaned and escaped for XHTML content."""
    return html.escape(clean_text(text), quote=False)


def narrative_paragraph(text: str) -> JSONDict:
    """A generated Narrative holding one paragraph."""
    return _div(f"<p>{escape(text)}</p>")


def narrative_list(items: Sequence[str]) -> JSONDict:
    """A generated Narrative holding a bulleted list."""
    rows = "".join(f"<li>{escape(item)}</li>" for item in items)
    return _div(f"<ul>{rows}</ul>")


# --- output ---------------------------------------------------------------------------------


def compact(data: Mapping[str, Any]) -> JSONDict:
    """``data`` without the keys whose value is None or an empty list, dict or string."""
    return {key: value for key, value in data.items() if value not in (None, [], {}, "")}


def dedupe(items: Iterable[JSONDict]) -> list[JSONDict]:
    """The distinct dicts of ``items`` (by value), first occurrence kept."""
    out: list[JSONDict] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def finish(resource: JSONDict) -> JSONDict:
    """A built resource, ready for its Bundle.

    Validation happens once, on the whole Bundle (``validation.validated``): validating every
    resource and then the Bundle that holds them did the same work twice.
    """
    return resource
