"""The UMLS semantic type → entity type table (``terminology/semantic_types.yaml``).

>>> table = load_semantic_types()
>>> table.entity_type(["T047"])
<EntityType.PROBLEM: 'problem'>
>>> table.entity_type(["T109", "T121"])  # Organic Chemical + Pharmacologic Substance
<EntityType.MEDICATION: 'medication'>
>>> table.entity_type(["T033"]) is None  # Finding: deliberately unmapped
True
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator, model_validator

from note2fhir.document import EntityType

RESOURCE = "semantic_types.yaml"

Tui = Annotated[str, StringConstraints(pattern=r"^T\d{3}$")]
"""A UMLS semantic type identifier: ``T`` and three digits (``T047``)."""


class SemanticType(BaseModel):
    """One row: the semantic type's name, its entity type (or null) and why, where not obvious."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entity_type: EntityType | None
    note: str | None = None


class SemanticTypeTable(BaseModel):
    """The whole versioned table; :meth:`entity_type` resolves a concept's TUIs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    description: str
    precedence: list[EntityType]
    types: dict[Tui, SemanticType]

    @field_validator("precedence")
    @classmethod
    def _every_type_once(cls, value: list[EntityType]) -> list[EntityType]:
        if sorted(value) != sorted(EntityType):
            raise ValueError("precedence must list every entity type exactly once")
        return value

    @model_validator(mode="after")
    def _names_unique(self) -> SemanticTypeTable:
        names = [row.name for row in self.types.values()]
        if len(names) != len(set(names)):
            raise ValueError("a semantic type name is listed twice")
        return self

    def entity_type(self, tuis: Iterable[str]) -> EntityType | None:
        """The entity type of a concept with these TUIs (highest ``precedence`` wins), or None.

        >>> load_semantic_types().entity_type(["T060", "T061"])  # e.g. "Biopsy"
        <EntityType.TEST: 'test'>
        """
        found = {row.entity_type for tui in tuis if (row := self.types.get(tui)) is not None}
        for entity_type in self.precedence:
            if entity_type in found:
                return entity_type
        return None


@cache
def load_semantic_types() -> SemanticTypeTable:
    """Load and validate the packaged table (once per process)."""
    text = resources.files("terminology").joinpath(RESOURCE).read_text(encoding="utf-8")
    return SemanticTypeTable.model_validate(yaml.safe_load(text))
