"""Turn FHIR resources and text records into :class:`ClinicalDocument` s.

One document is made per attachment: each ``DocumentReference.content[i].attachment`` and
each ``DiagnosticReport.presentedForm[i]``.  A Bundle of any type (collection, searchset,
transaction, history, a subscription notification, a document or message Bundle) is read
entry by entry, and a Patient entry named by a document's ``subject`` rides along as
``context.patient`` (de-identification uses it).

Readers never raise for bad input: they yield a :class:`Note2FhirError` in place of each
document that could not be made, with the location it came from, and go on with the rest.
Messages name fields, never values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeGuard

from note2fhir.document import (
    ClinicalDocument,
    DocumentContext,
    EntityType,
    JSONDict,
    SourceRef,
    TargetSpan,
)
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.attachments import decode_attachment
from note2fhir.fhir.fetch import AttachmentFetcher
from note2fhir.settings import Settings

DOCUMENT_TYPES = frozenset({"DocumentReference", "DiagnosticReport"})
"""Resource types that carry a note."""

TEXT_ATTACHMENT_PATH = "DocumentReference.content[0].attachment"
"""The attachment path given to documents made from plain text or text records."""

_ENTERED_IN_ERROR = "entered-in-error"
_ENTITY_VALUES = frozenset(t.value for t in EntityType)
_ENTITY_TYPES = ", ".join(t.value for t in EntityType)
_MAX_NAME = 64


def documents_from_resource(
    resource: Any,
    *,
    location: str,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
) -> Iterator[ClinicalDocument | Note2FhirError]:
    """Yield a document per attachment of ``resource``, or an error in its place.

    ``resource`` is any parsed JSON value: a DocumentReference, a DiagnosticReport or a
    Bundle of them; anything else yields one error.  ``location`` (``notes.ndjson line 4``)
    says where it was read from.  A discharge-summary DocumentReference with one text/plain
    attachment yields one document whose id is the resource id.
    """
    if not isinstance(resource, dict):
        yield _error(ErrorCode.INPUT_NOT_RESOURCE, location, found=_json_kind(resource))
        return
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        yield _error(ErrorCode.INPUT_NOT_RESOURCE, location, found="an object without resourceType")
        return
    if resource_type == "Bundle":
        yield from _bundle(resource, location=location, settings=settings, fetcher=fetcher)
    elif resource_type in DOCUMENT_TYPES:
        yield from _documents(
            resource,
            location=location,
            settings=settings,
            fetcher=fetcher,
            full_url=None,
            patients={},
        )
    else:
        yield _error(
            ErrorCode.RESOURCE_TYPE_UNSUPPORTED, location, resource_type=_safe_name(resource_type)
        )


def document_from_text_record(record: Any, *, location: str) -> ClinicalDocument | Note2FhirError:
    """Make a document from a JSON Lines text record, or return the error that stops it.

    A record is ``{"id": "n1", "text": "Denies chest pain.", "targets": [{"start": 7,
    "end": 17, "type": "problem"}]}``; ``id`` and ``targets`` are optional (the id defaults
    to ``location``).  Targets are spans the pipeline must treat as entities.
    """
    if not isinstance(record, dict):
        return _record_error(location, f"the record is {_json_kind(record)}, not an object")
    text = record.get("text")
    if not isinstance(text, str):
        return _record_error(location, "'text' is missing or not a string")
    raw_id = record.get("id", location)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        return _record_error(location, "'id' must be a non-empty string")
    targets = _targets(record.get("targets"), len(text))
    if isinstance(targets, str):
        return _record_error(location, targets)
    doc = document_from_plain_text(text, doc_id=str(raw_id), location=location)
    doc.targets = targets
    return doc


def document_from_plain_text(text: str, *, doc_id: str, location: str) -> ClinicalDocument:
    """Make a document from a plain-text note (a ``.txt`` file, stdin, an API body).

    It is treated as the first attachment of a DocumentReference with id ``doc_id`` that has
    no server reference.
    """
    source = SourceRef(
        resource_type="DocumentReference",
        resource_id=doc_id,
        reference=None,
        attachment_path=TEXT_ATTACHMENT_PATH,
        location=location,
    )
    return ClinicalDocument(id=doc_id, source=source, original_text=text)


# -- bundles --------------------------------------------------------------------------------


def _bundle(
    bundle: JSONDict,
    *,
    location: str,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
) -> Iterator[ClinicalDocument | Note2FhirError]:
    entries = bundle.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        yield _invalid("Bundle", location, "entry is not a list", "Bundle.entry")
        return
    patients = _bundle_patients(entries)
    found = False
    for index, entry in enumerate(entries):
        where = f"{location} entry[{index}]"
        if not isinstance(entry, dict):
            yield _invalid("Bundle", where, f"entry[{index}] is not an object", "Bundle.entry")
            continue
        resource = entry.get("resource")
        if resource is None:
            continue  # a history DELETE, an id-only notification: nothing to read
        if not isinstance(resource, dict):
            yield _invalid(
                "Bundle", where, f"entry[{index}].resource is not an object", "Bundle.entry"
            )
            continue
        entry_type = resource.get("resourceType")
        if not isinstance(entry_type, str) or entry_type not in DOCUMENT_TYPES:
            continue
        found = True
        full_url = entry.get("fullUrl")
        yield from _documents(
            resource,
            location=where,
            settings=settings,
            fetcher=fetcher,
            full_url=full_url if isinstance(full_url, str) and full_url else None,
            patients=patients,
        )
    if not found:
        yield _error(ErrorCode.BUNDLE_EMPTY, location)


def _bundle_patients(entries: list[Any]) -> dict[str, JSONDict]:
    """Patient resources of a Bundle by every reference that may name them."""
    patients: dict[str, JSONDict] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            patients.setdefault(full_url, resource)
        patient_id = resource.get("id")
        if isinstance(patient_id, str) and patient_id:
            patients.setdefault(f"Patient/{patient_id}", resource)
    return patients


# -- documents ------------------------------------------------------------------------------


def _documents(
    resource: JSONDict,
    *,
    location: str,
    settings: Settings,
    fetcher: AttachmentFetcher | None,
    full_url: str | None,
    patients: dict[str, JSONDict],
) -> Iterator[ClinicalDocument | Note2FhirError]:
    resource_type: str = resource["resourceType"]
    is_report = resource_type == "DiagnosticReport"
    field = "presentedForm" if is_report else "content"
    if resource.get("status") == _ENTERED_IN_ERROR or (
        not is_report and resource.get("docStatus") == _ENTERED_IN_ERROR
    ):
        yield _error(ErrorCode.DOCUMENT_ENTERED_IN_ERROR, location, resource_type=resource_type)
        return
    items = resource.get(field)
    if items is None or items == []:
        yield _error(
            ErrorCode.NO_ATTACHMENT,
            location,
            resource_type=resource_type,
            expression=f"{resource_type}.{field}",
        )
        return
    if not isinstance(items, list):
        yield _invalid(
            resource_type, location, f"{field} is not a list", f"{resource_type}.{field}"
        )
        return

    raw_id = resource.get("id")
    resource_id = raw_id if isinstance(raw_id, str) and raw_id else None
    base_id = resource_id or full_url or location
    reference = f"{resource_type}/{resource_id}" if resource_id else full_url
    identifier = _first_identifier(resource)
    context = _report_context(resource) if is_report else _docref_context(resource)
    context.patient = _patient(resource, context.subject, patients)
    many = len(items) > 1

    for index, item in enumerate(items):
        where = f"{location} {field}[{index}]" if many else location
        if is_report:
            path = f"DiagnosticReport.presentedForm[{index}]"
            attachment = item
        else:
            path = f"DocumentReference.content[{index}].attachment"
            if not isinstance(item, dict):
                yield _invalid(resource_type, where, f"content[{index}] is not an object", path)
                continue
            attachment = item.get("attachment")
            if attachment is None:
                yield _invalid(
                    resource_type, where, f"content[{index}].attachment is missing", path
                )
                continue
        if not isinstance(attachment, dict):
            yield _invalid(resource_type, where, f"{path} is not an object", path)
            continue
        try:
            decoded = decode_attachment(attachment, path=path, settings=settings, fetcher=fetcher)
        except Note2FhirError as err:
            if err.expression is None:
                err.expression = path
            yield err.at(where)
            continue
        if index == 0 and not context.title:
            title = attachment.get("title")
            context.title = title if isinstance(title, str) and title else None
        source = SourceRef(
            resource_type=resource_type,
            resource_id=resource_id,
            reference=reference,
            attachment_path=path,
            attachment_index=index,
            content_type=decoded.content_type,
            location=where,
            identifier=identifier,
        )
        yield ClinicalDocument(
            id=base_id if index == 0 else f"{base_id}#{index}",
            source=source,
            original_text=decoded.original_text,
            text=decoded.text,
            offsets=decoded.offsets,
            context=_copy_context(context),
        )


def _docref_context(resource: JSONDict) -> DocumentContext:
    """Context of a DocumentReference (R4; R5's list-valued ``context`` is read too)."""
    encounter: JSONDict | None = None
    ctx = resource.get("context")
    if isinstance(ctx, dict):
        encounter = _first_dict(ctx.get("encounter"))
    elif isinstance(ctx, list):
        encounter = _first_dict(ctx)
    return DocumentContext(
        subject=_dict(resource.get("subject")),
        encounter=encounter,
        date=_str(resource.get("date")),
        type=_dict(resource.get("type")),
        category=_dicts(resource.get("category")),
        author=_dicts(resource.get("author")),
        title=_str(resource.get("description")),
    )


def _report_context(resource: JSONDict) -> DocumentContext:
    """Context of a DiagnosticReport: the clinically relevant time first, then ``issued``."""
    period = _dict(resource.get("effectivePeriod")) or {}
    date = (
        _str(resource.get("effectiveDateTime"))
        or _str(period.get("start"))
        or _str(resource.get("issued"))
    )
    code = _dict(resource.get("code"))
    return DocumentContext(
        subject=_dict(resource.get("subject")),
        encounter=_dict(resource.get("encounter")),
        date=date,
        type=code,
        category=_dicts(resource.get("category")),
        author=_dicts(resource.get("resultsInterpreter")) + _dicts(resource.get("performer")),
        title=_str(code.get("text")) if code else None,
    )


def _patient(
    resource: JSONDict, subject: JSONDict | None, patients: dict[str, JSONDict]
) -> JSONDict | None:
    """The Patient resource ``subject`` points at, from the Bundle or ``contained``."""
    if subject is None:
        return None
    ref = subject.get("reference")
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith("#"):
        for contained in _dicts(resource.get("contained")):
            if contained.get("resourceType") == "Patient" and contained.get("id") == ref[1:]:
                return contained
        return None
    found = patients.get(ref)
    if found is None and "/Patient/" in ref:  # an absolute url to a Patient in the Bundle
        found = patients.get("Patient/" + ref.rsplit("/Patient/", 1)[1].split("/_history")[0])
    return found


def _copy_context(context: DocumentContext) -> DocumentContext:
    """A context per document, so a stage that edits one leaves its siblings alone."""
    return DocumentContext(
        subject=context.subject,
        encounter=context.encounter,
        date=context.date,
        type=context.type,
        category=list(context.category),
        author=list(context.author),
        title=context.title,
        patient=context.patient,
    )


def _first_identifier(resource: JSONDict) -> JSONDict | None:
    identifier = resource.get("identifier")
    if isinstance(identifier, dict):  # DocumentReference.masterIdentifier-like single value
        return identifier
    first = _first_dict(identifier)
    return first if first is not None else _dict(resource.get("masterIdentifier"))


# -- text records ---------------------------------------------------------------------------


def _targets(value: Any, length: int) -> list[TargetSpan] | str:
    """The target spans of a text record, or the reason they are invalid."""
    if value is None:
        return []
    if not isinstance(value, list):
        return "'targets' must be a list"
    spans: list[TargetSpan] = []
    for index, item in enumerate(value):
        name = f"targets[{index}]"
        if not isinstance(item, dict):
            return f"{name} must be an object"
        start, end = item.get("start"), item.get("end")
        if not (_is_int(start) and _is_int(end)):
            return f"{name} needs integer 'start' and 'end'"
        if not 0 <= start <= end <= length:
            return f"{name} is outside the text or has start > end"
        kind = item.get("type")
        if kind is None:
            spans.append(TargetSpan(start, end))
            continue
        if not isinstance(kind, str) or kind not in _ENTITY_VALUES:
            return f"{name}.type must be one of {_ENTITY_TYPES}"
        spans.append(TargetSpan(start, end, EntityType(kind)))
    return spans


# -- small helpers --------------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value: Any) -> JSONDict | None:
    return value if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: Any) -> list[JSONDict]:
    if isinstance(value, dict):  # a 0..1 element in an older version, or a sender's slip
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _first_dict(value: Any) -> JSONDict | None:
    items = _dicts(value)
    return items[0] if items else None


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object without resourceType"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _safe_name(value: str) -> str:
    """A resource type fit for a message: FHIR type names are short ASCII letters."""
    if len(value) <= _MAX_NAME and value.isascii() and value.isalpha():
        return value
    return "(invalid)"


def _error(
    code: ErrorCode, location: str, *, expression: str | None = None, **params: Any
) -> Note2FhirError:
    return Note2FhirError(code, location=location, expression=expression, **params)


def _invalid(resource_type: str, location: str, reason: str, expression: str) -> Note2FhirError:
    return _error(
        ErrorCode.RESOURCE_INVALID,
        location,
        resource_type=resource_type,
        reason=reason,
        expression=expression,
    )


def _record_error(location: str, reason: str) -> Note2FhirError:
    return _error(ErrorCode.TEXT_RECORD_INVALID, location, reason=reason)
