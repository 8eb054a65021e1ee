"""Linked codes: conditions ICD-10-CM codes together when one note names both ("HTN" and
"CHF" in a note are I11.0 Hypertensive heart disease with heart failure, not I10; the
guidelines presume the link).

The rules are data (``resources/linked_codes.yaml``); each combination code must be in the
terminology store, whose display is used, so no code or title is written here.  Only affirmed
mentions of the patient count: a denied, uncertain, planned, ended or relative's condition
links nothing, nor one whose cause or kind the note states ("HTN 2/2 CKD", "renal
hypertension", "CKD due to IgA nephropathy") or whose link it denies ("unrelated")."""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.coding.candidates import current, deselected, icd_in_place_of, selected_icd
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
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
    includes: list[str] = Field(default_factory=list)
    without: list[str] = Field(default_factory=list)
    present: bool = False


class LinkRules(BaseModel):
    """The contents of ``linked_codes.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: list[LinkRule]


def load_link_rules() -> LinkRules:
    """The packaged linked-code rules (validated; unknown keys are an error)."""
    return load_data_file(LINKED_FILE, LinkRules)


_CAUSE_AFTER = re.compile(
    r"[ \t]*,?[ \t]*(?:due[ \t]+to|secondary[ \t]+to|2[ \t]*/[ \t]*2|d/t|caused[ \t]+by|"
    r"from|related[ \t]+to)\b",
    re.IGNORECASE,
)
"""A cause stated right after the mention ("HTN 2/2 CKD", "CKD due to IgA nephropathy"): the
note links it itself, to what it names."""
_KIND_BEFORE = re.compile(
    r"\b(?:renal|renovascular|secondary|white[ \t-]*coat|gestational|pregnancy|"
    r"pregnancy[ \t-]*induced|postpartum|peripartum|portal|pulmonary|intracranial)[ \t-]+$",
    re.IGNORECASE,
)
"""A kind of hypertension the guidelines code elsewhere (I15, O10-O16, R03.0, I27 ...)."""
_UNRELATED = re.compile(
    r"\b(?:unrelated|not[ \t]+related|non-?diabetic|not[ \t]+diabetic)\b", re.IGNORECASE
)
"""Words near a mention that deny a link ("CKD, unrelated to his hypertension")."""


def _affirmed(entity: Entity, text: str, cause_linked: bool = False) -> bool:
    """Whether a problem mention is the patient's, affirmed, not over, with no other cause
    (unless ``cause_linked``: the cause stated is its link partner) or kind stated and no
    denied link nearby."""
    if not current(entity):
        return False
    if not cause_linked and _CAUSE_AFTER.match(text, entity.end):
        return False
    if _KIND_BEFORE.search(text, max(0, entity.start - 30), entity.start):
        return False
    return _UNRELATED.search(text, max(0, entity.start - 80), entity.end + 80) is None


def _past_event(entity: Entity) -> bool:
    """Whether a cue of the mention's own sentence puts it in the past ("Hx of unstable
    angina 2015"); a past-history section alone does not: a chronic condition listed there
    ("PMH: CAD. Exertional angina") is still the patient's."""
    return any(
        c.category == "historical" and not c.rule.startswith("section.")
        for c in entity.assertion.cues
    )


class LinkedCodes:
    """The rules whose combination code the store has, in file order."""

    def __init__(self, rules: LinkRules, store: TerminologyStore) -> None:
        self.rules: list[tuple[LinkRule, str]] = []
        for rule in rules.rules:
            title = store.title(ICD10CM, rule.code)
            if title is not None:
                self.rules.append((rule, title))
        self.replaced = frozenset(code for rule, _ in self.rules for code in rule.replaces)

    def _cause_is_partner(
        self,
        entity: Entity,
        code: CodeCandidate,
        coded: list[tuple[Entity, CodeCandidate]],
        text: str,
    ) -> bool:
        """Whether the cause a note states right after a mention is the mention a rule links
        it with: "CKD 4 due to HTN" states the link the guidelines presume ("HTN 2/2 CKD"
        names a kind of hypertension coded elsewhere, and does not)."""
        stated = _CAUSE_AFTER.match(text, entity.end)
        if stated is None:
            return False
        at = stated.end()
        cause = next(
            (c for e, c in coded if e.start >= at and not text[at : e.start].strip()), None
        )
        return cause is not None and any(
            cause.code in rule.replaces
            and any(code.code.startswith(tuple(group)) for group in rule.with_)
            for rule, _ in self.rules
        )

    def apply(self, doc: ClinicalDocument) -> None:
        """Select the combination code on each affirmed mention a rule replaces, when the
        note's other affirmed mentions hold every group the rule needs."""
        coded = [(e, code) for e in doc.entities if (code := selected_icd(e)) is not None]
        if not any(code.code in self.replaced for _, code in coded):
            return  # most notes: no code a rule replaces, no text to read
        selected = [
            (e, code)
            for e, code in coded
            if _affirmed(e, doc.text, self._cause_is_partner(e, code, coded, doc.text))
        ]
        codes = [code.code for _, code in selected]
        now = [code.code for e, code in selected if not _past_event(e)]
        for entity, code in selected:
            if code.code not in self.replaced:
                continue
            for rule, display in self.rules:
                if code.code not in rule.replaces:
                    continue
                pool = now if rule.present else codes
                found = [_present(group, pool) for group in rule.with_]
                if all(found) and not (rule.without and _present(rule.without, codes)):
                    entity.codes = _replaced(entity.codes, code, rule, display, found)
                    for other, own in selected:
                        if own.code.startswith(tuple(rule.includes)) and other is not entity:
                            other.codes = _included(other.codes, own, rule)
                    break


def _included(
    codes: list[CodeCandidate], old: CodeCandidate, rule: LinkRule
) -> list[CodeCandidate]:
    """``codes`` with ``old``, which ``rule``'s combination code includes, deselected."""
    return deselected(codes, old, f"deselected: {rule.code} includes it ({rule.note})")


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
    reason = (
        f"the note also names {named}, which the guidelines presume linked "
        f"({rule.code}: {rule.note}) [icd10cm:{rule.code}]"
    )
    linked = icd_in_place_of(old, rule.code, display, reason)
    out: list[CodeCandidate] = []
    for cand in codes:
        if cand is old:
            out += [linked, replace(cand, selected=False)]
        elif not (cand.system == ICD10CM and cand.code == rule.code):
            out.append(cand)
    return out


_TYPE_2 = re.compile(
    r"type[ \t-]*(?:2|ii|two)\b|\bt2|\bdm[ \t-]*(?:2|ii)\b|niddm|non[ \t-]*insulin", re.IGNORECASE
)
"""Words of a mention that state type 2 diabetes (DM2, T2DM, type II, NIDDM)."""
TYPE_1, TYPE_2 = "E10", "E11"


class DiabetesType:
    """The diabetes type a note documents, carried to a complication coded by default as type
    2 (guideline I.C.4.a.2: E11 is the default only when the type is not documented): in a
    note whose diabetes is type 1 only, "DKA" is E10.10, not E11.10.  The type 1 code is the
    type 2 code's sibling whose store title differs only by the type."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store
        self._found: dict[str, tuple[str, str] | None] = {}

    def type_1(self, code: str) -> tuple[str, str] | None:
        """(code, title) of the type 1 code of type 2 ``code`` (E11.10 -> E10.10), if any."""
        if code in self._found:
            return self._found[code]
        found = None
        other = f"{TYPE_1}{code[3:]}"
        mine = self.store.title(ICD10CM, code)
        theirs = self.store.title(ICD10CM, other)
        if mine is not None and theirs is not None:
            expected = mine.replace("Type 2 diabetes", "Type 1 diabetes", 1)
            if expected != mine and theirs == expected:
                found = (other, theirs)
        self._found[code] = found
        return found

    def apply(self, doc: ClinicalDocument) -> None:
        """Give each type 2 code of a mention that names no type the type 1 code, when the
        note's other diabetes mentions are type 1 and none states type 2."""
        coded = [(e, c) for e in doc.entities if (c := selected_icd(e)) is not None]
        typed = [(e, c) for e, c in coded if _affirmed(e, doc.text)]
        if not any(c.code.startswith(TYPE_1) for _, c in typed):
            return
        if any(c.code.startswith(TYPE_2) and _TYPE_2.search(e.text) for e, c in typed):
            return
        for entity, code in typed:
            if not code.code.startswith(TYPE_2) or _TYPE_2.search(entity.text):
                continue
            found = self.type_1(code.code)
            if found is None:
                continue
            reason = (
                f"the note documents type 1 diabetes only, and {code.code} is the type 2 "
                f"default of a mention that names no type (guideline I.C.4.a.2) "
                f"[icd10cm:{found[0]}]"
            )
            linked = icd_in_place_of(code, found[0], found[1], reason)
            entity.codes = [linked, replace(code, selected=False)] + [
                c
                for c in entity.codes
                if c is not code and not (c.system == ICD10CM and c.code == found[0])
            ]
