"""The relation rule table (``relation_rules.yaml``) and its compiled form."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from note2fhir.document import EntityType
from note2fhir.medication import STATUS_WORDS
from note2fhir.medication.phrases import SLOTS, PhraseSet, single_words
from note2fhir.resources.loader import load_data_file

RULES_FILE = "relation_rules.yaml"

RELATION_TYPES: dict[str, tuple[EntityType, EntityType]] = {
    "treats": (EntityType.MEDICATION, EntityType.PROBLEM),
    "causes": (EntityType.MEDICATION, EntityType.PROBLEM),
    "reveals": (EntityType.TEST, EntityType.PROBLEM),
}
"""Relation types the FHIR builders read, with their (source, target) entity types."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Context(_Model):
    """Where a rule applies: in one of ``sections``, in a unit holding one of ``cues``, or
    (``unsectioned``) anywhere in a note without sections.  Empty: everywhere."""

    sections: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    unsectioned: bool = False


class Rule(_Model):
    """One relation rule (see the comment at the top of ``relation_rules.yaml``)."""

    id: str = Field(pattern=r"^[a-z]+\.[a-z0-9-]+$")
    type: Literal["treats", "causes", "reveals"]
    source: EntityType
    target: EntityType
    order: Literal["source_first", "target_first"]
    triggers: list[str] = Field(min_length=1)
    before_gap: int = Field(ge=0)
    after_gap: int = Field(ge=0)
    blockers: list[str] = Field(default_factory=list)
    tail_blockers: list[str] = Field(default_factory=list)
    """Words right after the pair that undo it ("DKA from insulin noncompliance")."""
    context: Context | None = None
    separator: list[str] = Field(default_factory=list)
    """When set, one of these words must stand between the first mention and the trigger
    ("HTN - on lisinopril", not "rash on amoxicillin")."""
    nested: bool = False
    """Also link a source inside its target: "[heparin]-induced thrombocytopenia"."""
    exclude_status: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.source, self.target) != RELATION_TYPES[self.type]:
            raise ValueError(f"rule {self.id}: {self.type} links {RELATION_TYPES[self.type]}")
        unknown = set(self.exclude_status) - set(STATUS_WORDS)
        if unknown:
            raise ValueError(f"rule {self.id}: unknown statuses {sorted(unknown)}")
        if not self.id.startswith(f"{self.type}."):
            raise ValueError(f"rule {self.id} must start with '{self.type}.'")
        return self


class ProblemItems(_Model):
    """Problem-headed items of an assessment and plan and how they link drugs."""

    id: str = Field(pattern=r"^treats\.[a-z0-9-]+$")
    sections: list[str]
    unsectioned: bool = False
    separators: list[str] = Field(min_length=1)
    exclude_status: list[str] = Field(default_factory=list)


class RuleTable(_Model):
    """The versioned contents of ``relation_rules.yaml``."""

    version: int
    max_words: int = Field(gt=0)
    coordinators: list[str]
    word_lists: dict[str, list[str]] = Field(default_factory=dict)
    """Shared word lists that rules refer to through YAML anchors (documentation only)."""
    rules: list[Rule] = Field(min_length=1)
    problem_items: ProblemItems

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleTable:
        ids = [r.id for r in self.rules] + [self.problem_items.id]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its phrase sets built."""

    index: int
    rule: Rule
    triggers: PhraseSet[None]
    blockers: frozenset[str]
    tail_blockers: frozenset[str]
    cues: PhraseSet[None] | None
    separators: frozenset[str]


class RelationRules:
    """The table compiled (built once per process)."""

    def __init__(self, table: RuleTable) -> None:
        self.table = table
        self.coordinators = frozenset(single_words(table.coordinators))
        self.item_separators = frozenset(single_words(table.problem_items.separators))
        self.rules = [self._compile(index, rule) for index, rule in enumerate(table.rules)]

    @staticmethod
    def _compile(index: int, rule: Rule) -> CompiledRule:
        triggers: PhraseSet[None] = PhraseSet()
        for phrase in rule.triggers:
            if set(triggers.add(phrase, None)) & SLOTS:
                raise ValueError(f"rule {rule.id}: triggers take no slots")
        cues: PhraseSet[None] | None = None
        if rule.context is not None and rule.context.cues:
            cues = PhraseSet()
            for phrase in rule.context.cues:
                cues.add(phrase, None)
        return CompiledRule(
            index,
            rule,
            triggers,
            frozenset(single_words(rule.blockers)),
            frozenset(single_words(rule.tail_blockers)),
            cues,
            frozenset(single_words(rule.separator)),
        )


@cache
def default_rules() -> RelationRules:
    """The packaged relation rules, compiled (once per process)."""
    return RelationRules(load_data_file(RULES_FILE, RuleTable))
