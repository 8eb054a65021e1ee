"""Family-history codes: a relative's condition coded as the patient's family history
("mother with breast cancer" is Z80.3 Family history of malignant neoplasm of breast, not
C50.919, which would say the patient has it).

The rules are data (``resources/family_history_codes.yaml``); each family code must be in the
terminology store, whose display is used.  The relative's own code stays on the mention,
unselected, and :func:`relative_codes` gives it back to the FamilyMemberHistory builder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.coding.candidates import first_of_each, icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

FAMILY_FILE = "family_history_codes.yaml"
_STANDS_FOR = re.compile(r"\Afamily history of ([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?):")
"""The start of a family code's reason, which names the relative's code it stands for."""
NOT_BLOOD = frozenset(
    {"SPS", "HUSB", "WIFE", "STPFTH", "STPMTH", "STPBRO", "STPSIS", "MTHINLAW", "FTHINLAW"}
    | {"SIGOTHR", "ROOM", "FRND"}
)
"""v3-RoleCodes of a spouse, step-relative, in-law, partner, roommate or friend: no blood
relative, so their condition is no family history of the patient."""


TITLE_NOTE = "title"
"""A rule's ``note`` when the family code has no inclusion note that takes the relative's
code but its title is "Family history of " and that code's title (Z83.72, D13.91)."""


class FamilyRule(BaseModel):
    """A family-history code and the relative's conditions it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    relative: list[str] = Field(min_length=1)
    note: str
    site: str | None = None


class FamilyRules(BaseModel):
    """The contents of ``family_history_codes.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: list[FamilyRule]


def load_family_rules() -> FamilyRules:
    """The packaged family-history rules (validated; unknown keys are an error)."""
    return load_data_file(FAMILY_FILE, FamilyRules)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One ``relative`` entry: a code prefix, or a range of categories ``[low, high]``."""

    low: str
    high: str
    prefix: bool
    rule: FamilyRule
    display: str

    def covers(self, code: str) -> bool:
        if self.prefix:
            return code.startswith(self.low)
        return category_key(self.low) <= category_key(code[:3]) <= category_key(self.high)

    def rank(self) -> tuple[int, int, str]:
        """Most specific first: longer code prefixes, then single categories, then ranges
        by width (compared by their ends, which share the chapter letter)."""
        if self.prefix:
            return (0, -len(self.low), self.low)
        width = 0 if self.low == self.high else 1
        return (1 + width, _span(self.low, self.high), self.low)


LETTER_CATEGORIES = {
    "C4A": "C43", "C7A": "C75", "C7B": "C75", "D3A": "D36", "I1A": "I16",
    "I5A": "I52", "J4A": "J44", "M1A": "M08", "O9A": "O99", "Z3A": "Z36",
}  # fmt: skip
"""Categories with a letter in the third place, and the category the tabular list puts them
after (C4A Merkel cell carcinoma comes after C43 melanoma, so C40-C49 takes it); checked
against the release in tests/coding/test_family_history_codes.py."""


def category_key(category: str) -> tuple[str, int]:
    """A category's place among those of its letter in the tabular list, for range tests:
    "C43" → ("C", 430), "C4A" → ("C", 435), "C7B" → ("C", 756)."""
    after = LETTER_CATEGORIES.get(category)
    if after is not None:
        return after[0], int(after[1:3]) * 10 + 5 + (ord(category[2]) - ord("A"))
    if not category[1:3].isdigit():
        return category[:1], 10_000  # "QA0": after the numbered categories of its letter
    return category[0], int(category[1:3]) * 10


def _span(low: str, high: str) -> int:
    """A rough width of a category range ("C15-C26": 11), for ordering only."""

    def number(category: str) -> int:
        digits = "".join(c if c.isdigit() else "9" for c in category[1:3])
        return (ord(category[0]) - ord("A")) * 100 + int(digits)

    return number(high) - number(low)


def parse_entry(entry: str) -> tuple[str, str, bool]:
    """``(low, high, is_prefix)`` of a ``relative`` entry: "C15-C26" → ("C15", "C26", False);
    "C50" → ("C50", "C50", False); "E78.01" → ("E78.01", "E78.01", True)."""
    low, _, high = entry.partition("-")
    if "." in low:
        return low, low, True
    return low, high or low, False


class FamilyCodes:
    """The rules whose family code the store knows, most specific entry first."""

    def __init__(self, rules: FamilyRules, store: TerminologyStore) -> None:
        entries: list[_Entry] = []
        for rule in rules.rules:
            title = store.title(ICD10CM, rule.family)
            if title is None:
                continue  # an artifact without it: the relative's code stays
            for entry in rule.relative:
                low, high, prefix = parse_entry(entry)
                entries.append(_Entry(low, high, prefix, rule, title))
        self.entries = sorted(entries, key=_Entry.rank)

    def code_for(self, relative_code: str) -> _Entry | None:
        """The most specific entry covering a relative's ICD-10-CM code, if any."""
        return next((e for e in self.entries if e.covers(relative_code)), None)

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with the family code selected in place of the selected ICD-10-CM
        code of an affirmed mention of a relative's condition.  A denied or doubted one ("no
        family history of CAD", "? mother had MS") gets none, nor a spouse's ("pt's wife
        has a form of dementia")."""
        a = entity.assertion
        if not a.family or a.negated or a.uncertain or a.hypothetical or a.relative in NOT_BLOOD:
            return entity.codes
        if _no_blood_kin(entity, doc):
            return entity.codes
        out: list[CodeCandidate] = []
        changed = False
        for cand in entity.codes:
            entry = (
                self.code_for(cand.code)
                if cand.system == ICD10CM and cand.selected and not changed
                else None
            )
            if entry is None:
                out.append(cand)
                continue
            why = (
                "title names it"
                if entry.rule.note == TITLE_NOTE
                else f"inclusion note takes it ({entry.rule.note})"
            )
            reason = (
                f"family history of {cand.code}: the note gives it a relative, and "
                f"{entry.rule.family}'s {why} [icd10cm:{entry.rule.family}]"
            )
            out.append(icd_in_place_of(cand, entry.rule.family, entry.display, reason))
            out.append(replace(cand, selected=False))
            changed = True
        if not changed:
            return entity.codes
        return first_of_each(out)


_NOT_BLOOD = re.compile(r"\b(?:step|adopt\w*|foster|in[- ]laws?)\b|-in-law", re.IGNORECASE)
"""Words beside a relative that make them no blood relative ("step-father", "adoptive
mother", "mother-in-law")."""


_SPOUSE = re.compile(
    r"\b(?:wife|husband|spouse|partner|boyfriend|girlfriend|fianc[eé]e?)\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[\n.;]")


def _no_blood_kin(entity: Entity, doc: ClinicalDocument) -> bool:
    """Whether the relative a family cue names is a step-, adoptive, foster or in-law one,
    read around the cue (the relative's own words, a few characters on either side), or a
    spouse the clause names before the mention ("FH: wife with breast cancer", where the
    section, not a relative's phrase, made it family)."""
    before = doc.text[max(0, entity.start - 40) : entity.start]
    cuts = list(_CLAUSE_END.finditer(before))
    if _SPOUSE.search(before[cuts[-1].end() :] if cuts else before):
        return True
    for cue in entity.assertion.cues:
        if cue.category != "family" or cue.start is None or cue.end is None:
            continue
        around = doc.text[max(0, cue.start - 10) : cue.end + 8]
        if _NOT_BLOOD.search(around):
            return True
    return False


def stands_for(candidate: CodeCandidate) -> str | None:
    """The relative's ICD-10-CM code a family-history code was put in place of, if it is
    one ("family history of C50.919: ..." → "C50.919")."""
    if candidate.system != ICD10CM:
        return None
    match = _STANDS_FOR.match(candidate.reason)
    return match.group(1) if match else None


def relative_codes(entity: Entity) -> list[CodeCandidate]:
    """The selected codes of a mention as the relative's condition: a family-history code
    gives way to the code it stands for (FamilyMemberHistory.condition is the relative's
    breast cancer, C50.919, not the patient's Z80.3)."""
    out: list[CodeCandidate] = []
    for cand in entity.selected_codes:
        code = stands_for(cand)
        if code is None:
            out.append(cand)
            continue
        own = next((c for c in entity.codes if c.system == ICD10CM and c.code == code), None)
        if own is not None:
            out.append(replace(own, selected=True))
    return out
