"""Validation of the output Bundle with the fhir.resources R4B models, element by element.

fhir.resources checks each element on its own: pydantic checks the element's fields, then the
model's validators look at that element's own fields only, and a parent takes an already
validated child model as it is.  So the Bundle is validated bottom-up here, each element once,
and an element whose exact JSON was validated before as the same type is not validated again:
its model comes from a bounded cache keyed by that JSON.  Codings, status concepts, security
labels and the source reference repeat within a note and across notes; ids and narratives do
not, and the elements that hold them are validated every time.

The elements that hold a resource (the Bundle, its entries, the resources) are never cached:
their ids make them unique.  Cached models are shared, never modified.  Any failure is checked
again by validating the whole resource at once, which decides and names the error as
fhir.resources does for it.  tests/fhir_build/test_validation.py pins that both ways decide
alike, on valid Bundles and on randomly broken ones, with a cold and a warm cache.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import ValidationError

from note2fhir.document import JSONDict
from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields

ELEMENT_CACHE_SIZE = 4096
"""Validated elements kept, least recently used out first (about 1.6 KiB each, 6.5 MiB in
all): the codes, labels and references that recur across notes stay, a note's own offsets and
narratives fall out.  Twice as many saved 4 % of the validations on 400 notes."""

Model = type[FHIRAbstractModel]
_JSON = json.JSONEncoder()  # json.dumps with its defaults, less the cost of reading arguments
ANY_RESOURCE = None
"""Field type marker: any resource, whose model is named by its ``resourceType``."""


def validated(resource: JSONDict) -> JSONDict:
    """Validate a resource (a Bundle holds them all) with the fhir.resources R4B models and
    return it unchanged.

    A failure raises ``OUTPUT_INVALID`` naming the failed fields only (pydantic's messages
    quote values, which may be PHI, so the exception is not chained).
    """
    try:
        validate_elements(resource)
    except (ValidationError, ValueError, KeyError, TypeError):
        _validate_whole(resource)  # the authority: it raises, naming the failed entry and fields
    # The builders already write the JSON the model would dump (a test pins that on the
    # golden Bundles), so the models are not dumped back.  One difference is wanted: a dateTime
    # keeps its source's spelling ("...16.824-05:00"), where the dump would pad it to
    # microseconds and write "+00:00" as "Z"; both are valid R4.
    return resource


def _validate_whole(resource: JSONDict) -> None:
    """Validate ``resource`` in one call, raising ``OUTPUT_INVALID`` on failure."""
    resource_type = str(resource.get("resourceType", ""))
    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except (ValidationError, KeyError, ValueError) as exc:
        fields = validation_fields(exc) if isinstance(exc, ValidationError) else "resourceType"
        if isinstance(exc, ValidationError):
            resource_type = _failed_entry_type(resource, exc) or resource_type
        raise Note2FhirError(
            ErrorCode.OUTPUT_INVALID, resource_type=resource_type or "resource", fields=fields
        ) from None


def _failed_entry_type(bundle: JSONDict, exc: ValidationError) -> str | None:
    """The resource type of the Bundle entry that failed validation (``entry.3.resource...``)."""
    loc = exc.errors()[0]["loc"] if exc.errors() else ()
    if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[2] == "resource":
        try:
            return str(bundle["entry"][loc[1]]["resource"]["resourceType"])
        except (KeyError, IndexError, TypeError):
            return None
    return None


# --- element by element ---------------------------------------------------------------------


def validate_elements(resource: JSONDict) -> None:
    """Validate ``resource`` element by element, reusing the models of elements validated
    before; raises what fhir.resources raises (``ValidationError``, or ``ValueError`` for an
    unknown resource type)."""
    _element(_resource_model(resource), resource)


def _element(model: Model, data: JSONDict) -> FHIRAbstractModel:
    """``data`` validated as ``model``, its child elements validated first."""
    fields = _element_fields(model)
    children: JSONDict = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        child_model, is_list = field
        if is_list and isinstance(value, list):
            children[key] = [_child(child_model, item) for item in value]
        elif not is_list:
            children[key] = _child(child_model, value)
    # The constructor runs the model's whole validation once; ``model_validate`` would run
    # its after-validators a second time on the same instance (fhir.resources models have a
    # custom ``__init__``), which halves the cost and decides nothing more.
    return model(**({**data, **children} if children else data))


def _child(model: Model | None, value: Any) -> Any:
    """The validated model of a child element; anything but an object is left for the
    parent's own validation to judge."""
    if not isinstance(value, dict):
        return value
    if model is ANY_RESOURCE:
        model = _resource_model(value)
    if _holds_resource(model):
        return _element(model, value)
    try:
        text = _JSON.encode(value)
    except (TypeError, ValueError):  # not JSON: validated as it is, uncached
        return _element(model, value)
    return _cached_element(model, text)


@functools.lru_cache(maxsize=ELEMENT_CACHE_SIZE)
def _cached_element(model: Model, text: str) -> FHIRAbstractModel:
    # The element validated is the one its JSON text reads back as, so the cache key is the
    # very value validated (and what the Bundle's JSON says).
    return _element(model, json.loads(text))


def _resource_model(resource: JSONDict) -> Model:
    """The R4B model named by ``resourceType`` (ValueError for an unknown one)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValueError("resourceType")
    model: Model = get_fhir_model_class(resource_type)
    return model


@functools.cache
def _element_fields(model: Model) -> dict[str, tuple[Model | None, bool]]:
    """The JSON names of ``model``'s fields that hold one element type (or any resource),
    with that model and whether the field is a list."""
    out: dict[str, tuple[Model | None, bool]] = {}
    for name, info in model.model_fields.items():
        field_type = _field_type(info.annotation)
        if field_type is not None:
            out[info.alias or name] = field_type
    return out


def _field_type(annotation: Any) -> tuple[Model | None, bool] | None:
    """``(model, is_list)`` of an ``X | None`` or ``list[X] | None`` field of a FHIR element
    type X (model None: any resource), else None (the parent validates the value itself)."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        elif origin is list and not is_list and len(args) == 1:
            annotation, is_list = args[0], True
        elif origin is None:
            break
        else:
            return None
    if not (isinstance(annotation, type) and issubclass(annotation, FhirBase)):
        return None
    model = annotation.get_model_klass()
    if issubclass(annotation, FhirElementOrResourceBase):
        return (ANY_RESOURCE, is_list) if model.__name__ == "Resource" else None
    return model, is_list


@functools.cache
def _holds_resource(model: Model) -> bool:
    """Whether ``model`` is a resource or has a field holding one (a Bundle entry)."""
    return bool(model.has_resource_base()) or any(
        child is ANY_RESOURCE for child, _ in _element_fields(model).values()
    )
