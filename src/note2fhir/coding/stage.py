"""The ``coding`` stage: choose the codes that go on each entity's FHIR resource.

It runs last, after ``targets`` and ``assertion``: entities that arrive without candidates
(caller-given target spans, tagged phrases) are looked up in the terminology store first; then
every entity's ranked candidates are marked ``selected`` or kept as alternatives for coders
(see :mod:`note2fhir.coding.select`).  Extraction and selection are separate stages so that a
site can swap the selection policy (or skip codes entirely) without touching extraction.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.coding.acuity import AcuteOnChronic
from note2fhir.coding.billable import BillableCheck
from note2fhir.coding.candidates import code_candidates
from note2fhir.coding.conflicts import CodeConflicts
from note2fhir.coding.family import FamilyCodes, load_family_rules
from note2fhir.coding.history import HistoryCodes, load_history_rules
from note2fhir.coding.laterality import SidedCodes
from note2fhir.coding.links import DiabetesType, LinkedCodes, load_link_rules
from note2fhir.coding.select import SelectionRules, select_codes
from note2fhir.coding.sites import SiteCodes, load_site_rules
from note2fhir.coding.ulcers import UlcerCodes
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity, EntityType
from note2fhir.pipeline import Stage, register_stage
from note2fhir.settings import Settings
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore, default_store

_MEMO_SIZE = 20_000
"""Entries kept by each of the stage's memos before it starts again."""


class CodingOptions(BaseModel):
    """Options of the ``coding`` stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(
        0.85, ge=0, le=1, description="Lowest candidate score that is put on a resource."
    )
    margin: float = Field(
        0.06,
        ge=0,
        le=1,
        description="A concept further than this below the best one is never selected.",
    )
    billable_only: bool = Field(
        True, description="Select ICD-10-CM codes only when billable (leaf codes)."
    )
    cross_codes: bool = Field(
        True, description="A selected concept brings its other codes (UMLS, SNOMED CT)."
    )
    look_up_uncoded: bool = Field(
        True,
        description="Look up entities that arrive without candidates (target spans, tagged "
        "phrases); lexicon tests and procedures stay uncoded.",
    )
    lookup_min_similarity: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Lowest trigram cosine for that lookup; unset: approximate_min_similarity.",
    )
    max_candidates: int = Field(10, ge=1, description="Candidates kept per looked-up entity.")
    history_codes: bool = Field(
        True,
        description="Select the code of an event's history for a historical mention (S/P MI "
        "1992 is I25.2, not I21.9); rules in history_codes.yaml.",
    )
    site_codes: bool = Field(
        True,
        description="Replace a generic code whose category excludes the site the note names "
        "(edema of the brain is G93.6, not R60.9); rules in site_codes.yaml.",
    )
    laterality: bool = Field(
        True,
        description="Select the sided sibling of an unspecified-side code when a side word "
        "stands before the mention (left knee pain is M25.562, not M25.569).",
    )
    family_history_codes: bool = Field(
        True,
        description="Select the family-history code of a relative's condition (mother with "
        "breast cancer is Z80.3, not C50.919); rules in family_history_codes.yaml.",
    )
    acuity: bool = Field(
        True,
        description="Select the acute-on-chronic sibling of a chronic code when the mention's "
        "phrase says it flared (chronic systolic CHF exacerbation is I50.23, not I50.22).",
    )
    pressure_ulcers: bool = Field(
        True,
        description="Select the L89 code of the site and stage the note gives a pressure "
        "ulcer (stage 3 pressure ulcer of sacrum is L89.153, not L89.90).",
    )
    linked_codes: bool = Field(
        True,
        description="Select the combination code of conditions the guidelines presume linked "
        "when one note names both (HTN with CHF is I11.0); rules in linked_codes.yaml.",
    )
    code_conflicts: bool = Field(
        True,
        description="Deselect a code an ICD-10-CM Excludes1 note keeps apart from another "
        "selected code of the note (R73.9 beside E11.65), and a code 'without complications' "
        "beside another of its category (E11.9 beside E11.621); both stay as candidates.",
    )


@register_stage
class CodingStage(Stage):
    """Mark each entity's best codes ``selected``; keep the rest as ranked alternatives."""

    name = "coding"
    requires = frozenset({"entities"})
    assigns = frozenset({"codes"})
    Options = CodingOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.opts = cast(CodingOptions, options)
        self.store: TerminologyStore = default_store(settings)
        self.billable = BillableCheck(self.store.folder)
        self.rules = SelectionRules(
            min_score=self.opts.min_score,
            margin=self.opts.margin,
            billable_only=self.opts.billable_only,
            cross_codes=self.opts.cross_codes,
        )
        self.history = (
            HistoryCodes(load_history_rules(), self.store) if self.opts.history_codes else None
        )
        self.family = (
            FamilyCodes(load_family_rules(), self.store) if self.opts.family_history_codes else None
        )
        self.sites = SiteCodes(load_site_rules(), self.store) if self.opts.site_codes else None
        self.sides = SidedCodes(self.store) if self.opts.laterality else None
        self.ulcers = UlcerCodes(self.store) if self.opts.pressure_ulcers else None
        self.acuity = AcuteOnChronic(self.store) if self.opts.acuity else None
        self.links = LinkedCodes(load_link_rules(), self.store) if self.opts.linked_codes else None
        self.conflicts = CodeConflicts(self.store) if self.opts.code_conflicts else None
        self.diabetes_type = DiabetesType(self.store) if self.opts.linked_codes else None
        self.threshold = (
            self.opts.lookup_min_similarity
            if self.opts.lookup_min_similarity is not None
            else settings.approximate_min_similarity
        )
        # Memos across notes, of pure functions of frozen values: the same mentions ("HTN",
        # "metformin") come back note after note with the same candidates.
        self._looked_up: dict[tuple[str, EntityType], tuple[CodeCandidate, ...]] = {}
        self._selected: dict[tuple[CodeCandidate, ...], tuple[CodeCandidate, ...]] = {}
        self._seen: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_looked_up"] = {}
        state["_selected"] = {}
        state["_seen"] = set()
        return state

    def process(self, doc: ClinicalDocument) -> None:
        """Select codes on every entity of ``doc``."""
        for entity in doc.entities:
            if not entity.codes and self.opts.look_up_uncoded and _may_look_up(entity):
                entity.codes = self._look_up(entity)
            if entity.codes:
                entity.codes = self._select(entity.codes)
                if self.sites is not None:
                    entity.codes = self.sites.apply(entity, doc)
                if self.sides is not None:
                    entity.codes = self.sides.apply(entity, doc)
                if self.ulcers is not None:
                    entity.codes = self.ulcers.apply(entity, doc)
                if self.acuity is not None:
                    entity.codes = self.acuity.apply(entity, doc)
                if self.history is not None:
                    entity.codes = self.history.apply(entity, doc)
                if self.family is not None:
                    entity.codes = self.family.apply(entity, doc)
        if self.diabetes_type is not None:
            self.diabetes_type.apply(doc)
        if self.links is not None:
            self.links.apply(doc)
        if self.conflicts is not None:
            self.conflicts.apply(doc)

    def _select(self, codes: list[CodeCandidate]) -> list[CodeCandidate]:
        key = tuple(codes)
        memo = self._selected
        found = memo.get(key)
        if found is None:
            found = tuple(
                select_codes(_with_defaults(codes, self.billable), self.rules, self.billable)
            )
            # Kept the second time a list is seen (a memo of every list grows the heap, and
            # Python's full garbage collections come sooner); selection tells candidates apart
            # by identity, so a list holding two equal ones would be one key.
            code = hash(key)
            if code not in self._seen:
                if len(self._seen) >= _MEMO_SIZE:
                    self._seen.clear()
                self._seen.add(code)
            elif len(set(key)) == len(key):
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[key] = found
        return list(found)

    def _look_up(self, entity: Entity) -> list[CodeCandidate]:
        key = (entity.text, entity.type)
        memo = self._looked_up
        found = memo.get(key)
        if found is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            found = memo[key] = tuple(self._candidates(entity))
        return list(found)

    def _candidates(self, entity: Entity) -> list[CodeCandidate]:
        if not normalize(entity.text):
            return []
        found = self.store.candidates(
            entity.text,
            threshold=self.threshold,
            entity_types=[entity.type],
            limit=self.opts.max_candidates,
        )
        return code_candidates(found, note=" (looked up by the coding stage)")


DEFAULT_PENALTY = 0.01
"""How much lower an "unspecified" default scores than the category it stands for."""


def _with_defaults(codes: list[CodeCandidate], billable: BillableCheck) -> list[CodeCandidate]:
    """``codes`` with, after each non-billable ICD-10-CM category, its unspecified billable
    default (see :meth:`BillableCheck.unspecified_default`), so a coder gets a code that can
    be billed and the choice says where it came from."""
    have = {(c.system, c.code) for c in codes}
    out: list[CodeCandidate] = []
    for cand in codes:
        out.append(cand)
        if cand.system != ICD10CM or billable(cand.code):
            continue
        found = billable.unspecified_default(cand.code, cand.display)
        if found is None or (ICD10CM, found[0]) in have:
            continue
        have.add((ICD10CM, found[0]))
        out.append(
            CodeCandidate(
                system=ICD10CM,
                code=found[0],
                display=found[1],
                score=round(max(cand.score - DEFAULT_PENALTY, 0.0), 4),
                reason=f"the unspecified code under {cand.code}, which the note names "
                f"without more detail [icd10cm:{found[0]}]",
                selected=False,
            )
        )
    return out


def _may_look_up(entity: Entity) -> bool:
    """Lexicon matches are uncoded on purpose (no open code system names lab tests), and so
    is a drug the dictionary knows by this exact name without a code: a name that looks like
    it is another molecule ("epoetin alfa" is not "efepoetin alfa")."""
    if entity.source.startswith("lexicon:") or len(entity.text) > 200:
        return False
    return not (entity.type is EntityType.MEDICATION and entity.source.endswith(" exact"))
