"""Loading the packaged data files: YAML parsed and validated against a pydantic model."""

from __future__ import annotations

from importlib import resources
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields

Model = TypeVar("Model", bound=BaseModel)


def load_data_file(name: str, model: type[Model]) -> Model:
    """Parse ``note2fhir/resources/<name>`` (YAML) into ``model``; unknown keys are an error
    because the models forbid extras."""
    text = resources.files("note2fhir.resources").joinpath(name).read_text(encoding="utf-8")
    try:
        return model.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise Note2FhirError(
            ErrorCode.PIPELINE_INVALID, reason=f"data file {name}: {validation_fields(exc)}"
        ) from None
