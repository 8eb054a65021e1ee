"""Linked codes: conditions ICD-10-CM codes together when one note names both ("HTN" and
"CHF" in a note are I11.0 Hypertensive heart disease with heart failure, not I10; the
guidelines presume the link).

The rules are data (``resources/linked_codes.yaml``); each combination code must be in the
terminology store, whose display is used, so no code or title is written here.  Only affirmed
mentions of the patient count: a denied, uncertain, planned or relative's condition links
nothing."""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.document import ClinicalDocument, CodeCandidate, Entity, EntityType
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

LINKED_FILE = "linked_codes.yaml"


class LinkRule(BaseModel):
    """A combination code, the codes it replaces and the codes that must be in the note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    replaces: list[str] = Field(min_length=1)
    with_: list[list[str]] = Field(alias="with", min_length=1)
    note: str


class LinkRules(BaseModel):
    """The contents of ``linked_codes.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: list[LinkRule]


def load_link_rules() -> LinkRules:
    """The packaged linked-code rules (validated; unknown keys are an error)."""
    return load_data_file(LINKED_FILE, LinkRules)


def _affirmed(entity: Entity) -> bool:
    a = entity.assertion
    return entity.type is EntityType.PROBLEM and not (
        a.negated or a.uncertain or a.hypothetical or a.family
    )


def _selected_icd(entity: Entity) -> CodeCandidate | None:
    return next((c for c in entity.codes if c.system == ICD10CM and c.selected), None)


class LinkedCodes:
    """The rules whose combination code the store has, in file order."""

    def __init__(self, rules: LinkRules, store: TerminologyStore) -> None:
        self.rules: list[tuple[LinkRule, str]] = []
        for rule in rules.rules:
            concept = store.concept(f"icd10cm:{rule.code}")
            if concept is not None:
                self.rules.append((rule, concept.preferred))
        self.replaced = frozenset(code for rule, _ in self.rules for code in rule.replaces)

    def apply(self, doc: ClinicalDocument) -> None:
        """Select the combination code on each affirmed mention a rule replaces, when the
        note's other affirmed mentions hold every group the rule needs."""
        selected = [
            (entity, code)
            for entity in doc.entities
            if _affirmed(entity) and (code := _selected_icd(entity)) is not None
        ]
        if not any(code.code in self.replaced for _, code in selected):
            return
        codes = [code.code for _, code in selected]
        for entity, code in selected:
            if code.code not in self.replaced:
                continue
            for rule, display in self.rules:
                if code.code not in rule.replaces:
                    continue
                found = [_present(group, codes) for group in rule.with_]
                if all(found):
                    entity.codes = _replaced(entity.codes, code, rule, display, found)
                    break


def _present(group: list[str], codes: list[str]) -> str | None:
    """The first of ``codes`` that starts with a prefix of ``group``, or None."""
    return next((c for c in codes if any(c.startswith(p) for p in group)), None)


def _replaced(
    codes: list[CodeCandidate],
    old: CodeCandidate,
    rule: LinkRule,
    display: str,
    found: list[str | None],
) -> list[CodeCandidate]:
    named = ", ".join(code for code in found if code)
    linked = CodeCandidate(
        system=ICD10CM,
        code=rule.code,
        display=display,
        score=old.score,
        reason=f"the note also names {named}, which the guidelines presume linked "
        f"({rule.code}: {rule.note}) [icd10cm:{rule.code}]",
        selected=True,
    )
    out: list[CodeCandidate] = []
    for cand in codes:
        if cand is old:
            out += [linked, replace(cand, selected=False)]
        elif not (cand.system == ICD10CM and cand.code == rule.code):
            out.append(cand)
    return out
