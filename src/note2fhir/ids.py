"""Deterministic identifiers, so re-processing the same note yields the same resources.

A generated resource's id is a UUIDv5 of the source document key, the resource kind, the
normalised concept and the first offset of its first mention.  The same value is its
``identifier`` (``urn:uuid:...``), which transaction bundles use for conditional creates.
"""

from __future__ import annotations

import uuid

from note2fhir.document import SourceRef

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:note2fhir")
"""Root namespace of every note2fhir UUID (fixed forever: changing it changes every id)."""


def source_key(source: SourceRef) -> str:
    """A stable key for one attachment of one source resource."""
    ref = source.reference or f"{source.resource_type}/{source.resource_id or ''}"
    if not (source.reference or source.resource_id) and source.identifier:
        ref = f"{source.resource_type}?identifier={source.identifier.get('system', '')}|" + str(
            source.identifier.get("value", "")
        )
    return f"{ref}|{source.attachment_path}"


def stable_uuid(*parts: object) -> str:
    """A UUIDv5 (as a string) of the given parts, joined with ``|``."""
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def resource_id(source: SourceRef, kind: str, *parts: object) -> str:
    """The id of a resource of ``kind`` generated from ``source``.

    >>> ref = SourceRef("DocumentReference", "a", "DocumentReference/a",
    ...                 "DocumentReference.content[0].attachment")
    >>> resource_id(ref, "Condition", "icd10cm:I10", 12) == resource_id(ref, "Condition",
    ...                                                                 "icd10cm:I10", 12)
    True
    """
    return stable_uuid(source_key(source), kind, *parts)
