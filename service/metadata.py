"""``GET /fhir/metadata``: the CapabilityStatement of what this service implements.

It lists the ``$process`` operation on DocumentReference and DiagnosticReport, the
system-level ``batch`` interaction (``POST /fhir``; a transaction Bundle is accepted and
processed like a batch, not atomically), bearer-token security, and whatever other areas
add through :attr:`ServiceState.capabilities` (the subscription receiver).  It is validated
against the R4 model when the app is built, so a mistake fails at start-up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from flask import Blueprint, Response
from pydantic import ValidationError

from note2fhir import __version__
from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields
from service.errors import fhir_response
from service.state import ServiceState, get_state

bp = Blueprint("metadata", __name__, url_prefix="/fhir")

OPERATION_BASE = "urn:note2fhir:OperationDefinition:"
"""Canonical prefix of the ``$process`` operation definitions."""

PROCESS_DOC = (
    "Runs the note2fhir pipeline over the {type}'s attachments and returns the result "
    "Bundle (a collection of per-attachment Bundles when it has several). Input: the {type}, "
    "or a Parameters resource with it as the 'resource' parameter and an optional "
    "'bundleType' (collection | transaction | document)."
)


def capability_statement(state: ServiceState, *, date: datetime) -> dict[str, Any]:
    """The CapabilityStatement (R4 JSON) of this service."""
    resources: dict[str, dict[str, Any]] = {}
    for rtype in ("DocumentReference", "DiagnosticReport"):
        resources[rtype] = {
            "type": rtype,
            "operation": [
                {
                    "name": "process",
                    "definition": f"{OPERATION_BASE}{rtype}-process",
                    "documentation": PROCESS_DOC.format(type=rtype),
                }
            ],
        }
    for rtype, interaction in state.capabilities:
        entry = resources.setdefault(rtype, {"type": rtype})
        codes = entry.setdefault("interaction", [])
        if {"code": interaction} not in codes:
            codes.append({"code": interaction})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.isoformat(timespec="seconds"),
        "publisher": "note2fhir",
        "kind": "instance",
        "software": {"name": "note2fhir", "version": __version__},
        "implementation": {"description": "note2fhir: clinical notes to coded FHIR R4"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Clinical notes in, coded FHIR R4 Bundles out. Errors are "
                "OperationOutcomes with codes from urn:note2fhir:error-code.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": "Bearer token",
                        }
                    ],
                    "description": "Every request needs 'Authorization: Bearer <token>': a "
                    "configured static token, or a JWT signed by the configured JWKS.",
                },
                "resource": list(resources.values()),
                "interaction": [
                    {
                        "code": "batch",
                        "documentation": "POST /fhir with a batch (or transaction) Bundle "
                        "of DocumentReference/DiagnosticReport entries (or Parameters with "
                        "them): a batch-response with one entry per request entry, each with "
                        "its own status. Transactions are not atomic here.",
                    }
                ],
            }
        ],
    }


def validated(statement: dict[str, Any]) -> dict[str, Any]:
    """``statement`` after checking it against the FHIR model; OUTPUT_INVALID when it fails."""
    try:
        CapabilityStatement.model_validate(statement)
    except ValidationError as exc:
        raise Note2FhirError(
            ErrorCode.OUTPUT_INVALID,
            resource_type="CapabilityStatement",
            fields=validation_fields(exc),
        ) from None
    return statement


@bp.get("/metadata")
def metadata() -> Response:
    """The CapabilityStatement."""
    return fhir_response(cached_statement(get_state()))


def cached_statement(state: ServiceState) -> dict[str, Any]:
    """The validated CapabilityStatement, built once per process."""
    if state.capability is None:
        state.capability = validated(capability_statement(state, date=state.started_at))
    return state.capability
