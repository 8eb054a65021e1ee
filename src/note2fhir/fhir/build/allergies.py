"""Allergy statements of one note, read from the document model for the AllergyIntolerance
builder: which medication mentions are allergens, which problem mentions are their reactions,
and where the note says it has no known allergies.

* **Allergen**: a medication mention in the allergy list of an allergies section ("ALLERGIES:
  Penicillin (rash)"; the list ends at the first blank line), or one that an allergy phrase of
  ``allergy_rules.yaml`` names on the same line ("allergic to penicillin and codeine", "allergy
  to MSO4", "sulfa allergy").  Its verification status comes from its assertion: negated →
  ``refuted`` ("no allergy to penicillin", "not allergic to aspirin"), uncertain →
  ``unconfirmed`` ("? allergy to beta blockers"), else ``confirmed``.  A relative's or a
  hypothetical mention is no allergen of the patient.
* **Reaction**: a problem that an allergen (not refuted) ``causes`` by a relation of the
  relations stage ("Penicillin (rash)", "codeine -> hives"); outside an allergy list only one
  after the allergen.  A negated, hypothetical or family problem is none.
* **No known allergies**: a phrase of ``allergy_rules.yaml`` in the allergy list of an
  allergies section or right after the word "allergies" on the same line ("Allergies: NKDA",
  "ALLERGY - none").  It is dropped when the note also names an allergen that is not refuted:
  the list contradicts it.

Problem mentions that are reactions, that are the "allergy" word of an allergen's phrase, or
that lie inside a "no known allergies" phrase make no Condition: the AllergyIntolerance says
what they say.

Phrases are matched over the document's tokens, and the one regular expression (a blank line)
has a single quantifier over one character class, so matching is linear in the note's length.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.document import ClinicalDocument, Entity, EntityType, Section
from note2fhir.ids import resource_id
from note2fhir.medication.phrases import PhraseSet, Word, phrase_elements, single_words, words
from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize

RULES_FILE = "allergy_rules.yaml"
ALLERGY_SECTIONS = frozenset({"allergies"})
"""Sections whose medication mentions are allergens, never medications taken."""

Kind = Literal["all", "drug"]
Verification = Literal["confirmed", "unconfirmed", "refuted"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Headings(_Strict):
    """Heading words that introduce an allergy list, and the words around them."""

    words: list[str] = Field(min_length=1)
    marks: list[str]
    drug_qualifiers: list[str]
    other_qualifiers: list[str]


class NoKnownKind(_Strict):
    """The phrases of one kind of "no known allergies" statement and its ``code.text``."""

    label: str = Field(min_length=1)
    phrases: list[str] = Field(min_length=1)
    anchored: list[str] = Field(default_factory=list)


class NoKnown(_Strict):
    """ "No known allergies" and "no known drug allergies" statements."""

    all: NoKnownKind
    drug: NoKnownKind
    stop_after: list[str]


class Allergens(_Strict):
    """Phrases that make a medication mention outside an allergies section an allergen."""

    before: list[str] = Field(min_length=1)
    after: list[str] = Field(min_length=1)
    list_words: list[str]
    max_list_words: int = Field(ge=0)


class AllergyRuleTable(_Strict):
    """The versioned contents of ``allergy_rules.yaml``."""

    version: int
    headings: Headings
    no_known: NoKnown
    allergens: Allergens


class AllergyRules:
    """The rule table compiled into phrase sets (built once per process)."""

    def __init__(self, table: AllergyRuleTable) -> None:
        self.table = table
        headings = table.headings
        self.heading_words = frozenset(single_words(headings.words))
        self.marks = frozenset(single_words(headings.marks))
        self.drug_qualifiers = frozenset(single_words(headings.drug_qualifiers))
        self.other_qualifiers = frozenset(single_words(headings.other_qualifiers))
        self.labels: dict[Kind, str] = {
            "all": table.no_known.all.label,
            "drug": table.no_known.drug.label,
        }
        self.no_known: PhraseSet[tuple[Kind, bool]] = PhraseSet()
        kinds: tuple[tuple[Kind, NoKnownKind], ...] = (
            ("all", table.no_known.all),
            ("drug", table.no_known.drug),
        )
        for kind, spec in kinds:
            for phrase in spec.phrases:
                self.no_known.add(phrase, (kind, False))
            for phrase in spec.anchored:
                self.no_known.add(phrase, (kind, True))
        self.stop_after = frozenset(single_words(table.no_known.stop_after))
        self.before = tuple(phrase_elements(p) for p in table.allergens.before)
        self.after: PhraseSet[None] = PhraseSet()
        for phrase in table.allergens.after:
            self.after.add(phrase, None)
        self.list_words = frozenset(single_words(table.allergens.list_words))
        self.max_list_words = table.allergens.max_list_words


@cache
def default_allergy_rules() -> AllergyRules:
    """The packaged allergy rules, compiled (once per process)."""
    return AllergyRules(load_data_file(RULES_FILE, AllergyRuleTable))


@dataclass(frozen=True, slots=True)
class NoKnownAllergy:
    """One "no known allergies" statement of a note (every phrase of one kind)."""

    kind: Kind
    label: str
    spans: tuple[tuple[int, int], ...]
    """Working-text spans of the phrases, in text order."""
    id: str


@dataclass(frozen=True, slots=True)
class AllergyFacts:
    """What one note says about allergies (entity ids refer to ``doc.entities``)."""

    allergens: Mapping[str, Verification] = field(default_factory=dict)
    """Medication mention → the verification status of its allergy."""
    reactions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Allergen mention → its reaction problem mentions, in text order."""
    absorbed: frozenset[str] = frozenset()
    """Problem mentions that make no Condition (reactions, allergy words, "no known
    allergies" words)."""
    no_known: tuple[NoKnownAllergy, ...] = ()


NO_ALLERGIES = AllergyFacts()
"""The facts of a note that says nothing about allergies."""


def allergen_status(entity: Entity) -> Verification | None:
    """The verification status of an allergy to the medication ``entity`` (None: it is no
    allergen of the patient).

    >>> from note2fhir.document import Assertion
    >>> allergen_status(Entity("e1", 0, 10, "penicillin", EntityType.MEDICATION,
    ...                        assertion=Assertion(negated=True)))
    'refuted'
    """
    assertion = entity.assertion
    if assertion.family or assertion.hypothetical:
        return None
    if assertion.negated:
        return "refuted"
    if assertion.uncertain:
        return "unconfirmed"
    return "confirmed"


def find_allergies(doc: ClinicalDocument, rules: AllergyRules | None = None) -> AllergyFacts:
    """The allergy statements of ``doc``.

    >>> from note2fhir.document import SourceRef
    >>> doc = ClinicalDocument("d", SourceRef("DocumentReference", "1", None, "p"),
    ...                        "Allergies: NKDA")
    >>> [s.label for s in find_allergies(doc).no_known]
    ['No known drug allergies']
    """
    sections = [s for s in doc.sections if s.name in ALLERGY_SECTIONS]
    if not sections and "allerg" not in doc.text.lower():
        return NO_ALLERGIES
    rules = rules or default_allergy_rules()
    lists = [_list_of(doc, rules, s) for s in sections]
    note = _Note(doc, words(doc.tokens or tokenize(doc.text)))
    allergens: dict[str, Verification] = {}
    cued: dict[str, Entity] = {}
    cue_spans: list[tuple[int, int]] = []
    for entity in note.medications:
        status = allergen_status(entity)
        if status is None:
            continue
        if any(start <= entity.start < end for _, start, end in lists):
            allergens[entity.id] = status
            continue
        cue = _cue_before(note, rules, entity) or _cue_after(note, rules, entity)
        if cue is not None:
            allergens[entity.id] = status
            cued[entity.id] = entity
            cue_spans.append(cue)
    statements = _no_known_phrases(note, rules, lists)
    problems = [e for e in doc.entities if e.type is EntityType.PROBLEM]
    absorbed = {e.id for e in problems if _overlaps(e, cue_spans)}
    absorbed |= {e.id for e in problems if _overlaps(e, [s for s, _ in statements])}
    reactions = _reactions(doc, allergens, cued, absorbed)
    absorbed |= {target for targets in reactions.values() for target in targets}
    positive = any(status != "refuted" for status in allergens.values())
    return AllergyFacts(
        allergens=allergens,
        reactions=reactions,
        absorbed=frozenset(absorbed),
        no_known=() if positive else _statements(doc, rules, statements),
    )


# --- the allergy list of an allergies section ------------------------------------------------

_List = tuple[Section, int, int]
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")  # one quantifier over one class: linear


def _list_of(doc: ClinicalDocument, rules: AllergyRules, section: Section) -> _List:
    """The section with the working span of its allergy list: from the heading to the first
    blank line after the list's first line.  A section runs to the next heading the sections
    stage knows, and in notes whose other headings it does not know ("SOCIAL:", "PRESENT
    HX:") that is far beyond the list: the drugs given later are no allergens."""
    text = doc.text
    start = section.heading_end
    first = start
    while first < section.end and (text[first].isspace() or text[first] in rules.marks):
        first += 1
    blank = _BLANK_LINE.search(text, first, section.end)
    return section, start, blank.start() if blank else section.end


# --- the note as words ------------------------------------------------------------------------


@dataclass(slots=True)
class _Note:
    """The words of a note, and which of them belong to medication mentions."""

    doc: ClinicalDocument
    seq: list[Word]
    starts: list[int] = field(init=False)
    medications: list[Entity] = field(init=False)
    drug_words: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [w.start for w in self.seq]
        self.medications = sorted(
            (e for e in self.doc.entities if e.type is EntityType.MEDICATION),
            key=lambda e: (e.start, e.end, e.id),
        )
        self.drug_words = {
            k for e in self.medications for k in range(self.first(e.start), self.first(e.end))
        }

    def first(self, offset: int) -> int:
        """Index of the first word that starts at or after ``offset``."""
        return bisect_left(self.starts, offset)

    def one_line(self, start: int, end: int) -> bool:
        """Whether the working text ``[start, end)`` holds no line break."""
        return "\n" not in self.doc.text[start:end]


def _cue_before(note: _Note, rules: AllergyRules, entity: Entity) -> tuple[int, int] | None:
    """The span of an allergy phrase that ends right before ``entity`` or the list of
    medications it is in ("allergic to penicillin, codeine"), on the same line."""
    seq = note.seq
    k = note.first(entity.start) - 1
    steps = 0
    while k >= 0 and steps < rules.max_list_words and _listed(note, rules, k):
        k -= 1
        steps += 1
    for cue in rules.before:
        start = k - len(cue) + 1
        if start < 0 or tuple(w.norm for w in seq[start : k + 1]) != cue:
            continue
        if note.one_line(seq[start].start, entity.start):
            return seq[start].start, seq[k].end
    return None


def _cue_after(note: _Note, rules: AllergyRules, entity: Entity) -> tuple[int, int] | None:
    """The span of an allergy word right after ``entity`` or the list of medications it is
    in ("penicillin and sulfa allergies"), on the same line; not a heading ("Allergies:")
    nor the start of a phrase about something else ("aspirin, allergies to ...")."""
    seq = note.seq
    k = note.first(entity.end)
    steps = 0
    while k < len(seq) and steps < rules.max_list_words and _listed(note, rules, k):
        k += 1
        steps += 1
    found = rules.after.match_at(seq, k)
    if found is None or not note.one_line(entity.end, seq[found.end - 1].end):
        return None
    following = seq[found.end].norm if found.end < len(seq) else ""
    if following in rules.marks or following in rules.stop_after:
        return None
    return seq[k].start, seq[found.end - 1].end


def _listed(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Whether word ``k`` may stand inside a list of allergens: a list word or another
    medication mention."""
    return k in note.drug_words or note.seq[k].norm in rules.list_words


# --- reactions --------------------------------------------------------------------------------


def _reactions(
    doc: ClinicalDocument,
    allergens: Mapping[str, Verification],
    cued: Mapping[str, Entity],
    absorbed: set[str],
) -> dict[str, tuple[str, ...]]:
    """The problems each allergen (not refuted) causes, by ``causes`` relations.  Outside an
    allergy list the reaction follows the allergen ("allergic to penicillin (hives)"): what
    comes before the allergy phrase is another item of the same list ("Asthma and allergy to
    aspirin", "Pregnancy, coagulopathy, allergy to bupivacaine")."""
    problems = {
        e.id: e
        for e in doc.entities
        if e.type is EntityType.PROBLEM
        and e.id not in absorbed
        and not (e.assertion.negated or e.assertion.hypothetical or e.assertion.family)
    }
    found: dict[str, dict[str, Entity]] = {}
    for rel in doc.relations:
        target = problems.get(rel.target)
        if rel.type != "causes" or target is None:
            continue
        if allergens.get(rel.source, "refuted") == "refuted":
            continue
        if rel.source in cued and target.start < cued[rel.source].end:
            continue
        found.setdefault(rel.source, {})[target.id] = target
    return {
        source: tuple(e.id for e in sorted(targets.values(), key=_position))
        for source, targets in found.items()
    }


# --- "no known allergies" ---------------------------------------------------------------------

_Phrase = tuple[tuple[int, int], Kind]


def _no_known_phrases(note: _Note, rules: AllergyRules, lists: Sequence[_List]) -> list[_Phrase]:
    """Working spans and kinds of the "no known allergies" phrases: in the allergy list of an
    allergies section, or right after a heading word ("Allergies: NKDA", span from the
    heading word)."""
    seq = note.seq
    found: dict[int, _Phrase] = {}  # by the index of the phrase's first word
    for section, start, end in lists:
        body, stop = note.first(start), note.first(end)
        anchor = _skip_marks(note, rules, body, stop)
        heading = {w.norm for w in seq[note.first(section.start) : body]}
        if heading & rules.other_qualifiers:
            continue
        narrowed = bool(heading & rules.drug_qualifiers)
        for k in range(body, stop):
            phrase = _phrase_at(note, rules, k, anchored=k == anchor)
            if phrase is None or phrase[0][1] > end:
                continue
            span, kind = phrase
            found.setdefault(k, (span, "drug" if narrowed and k == anchor else kind))
    for i, word in enumerate(seq):
        if word.norm not in rules.heading_words:
            continue
        before = seq[i - 1].norm if i else ""
        if before in rules.other_qualifiers:
            continue
        k = _skip_marks(note, rules, i + 1, len(seq))
        phrase = _phrase_at(note, rules, k, anchored=True)
        if phrase is None or not note.one_line(word.end, phrase[0][0]):
            continue
        (_, end), kind = phrase
        narrowed = before in rules.drug_qualifiers
        start = seq[i - 1].start if narrowed else word.start
        earlier = found.get(k)
        if earlier is not None:
            start = min(start, earlier[0][0])
            narrowed = narrowed or earlier[1] == "drug"
        found[k] = ((start, end), "drug" if narrowed else kind)
    return [found[k] for k in sorted(found)]


def _skip_marks(note: _Note, rules: AllergyRules, k: int, stop: int) -> int:
    """The first word from ``k`` on that is no heading mark (":" "-")."""
    while k < stop and note.seq[k].norm in rules.marks:
        k += 1
    return k


def _phrase_at(note: _Note, rules: AllergyRules, k: int, *, anchored: bool) -> _Phrase | None:
    """The "no known allergies" phrase that starts at word ``k``; an anchored-only phrase
    ("none") counts only where the allergy list starts."""
    seq = note.seq
    if k >= len(seq) or not rules.no_known.may_start(seq[k].norm):
        return None
    found = rules.no_known.match_at(seq, k)
    if found is None:
        return None
    kind, anchored_only = found.payload
    if anchored_only and not anchored:
        return None
    if found.end < len(seq) and seq[found.end].norm in rules.stop_after:
        return None  # "no known allergies except penicillin"
    return (seq[k].start, seq[found.end - 1].end), kind


def _statements(
    doc: ClinicalDocument, rules: AllergyRules, phrases: Iterable[_Phrase]
) -> tuple[NoKnownAllergy, ...]:
    """One statement per kind; "no known allergies" makes "no known drug allergies" moot."""
    spans: dict[Kind, list[tuple[int, int]]] = {}
    for span, kind in phrases:
        spans.setdefault(kind, []).append(span)
    if "all" in spans:
        spans.pop("drug", None)
    out = []
    for kind, found in spans.items():
        label = rules.labels[kind]
        first_offset = doc.original_span(*found[0])[0]
        rid = resource_id(doc.source, "AllergyIntolerance", label.lower(), first_offset)
        out.append(NoKnownAllergy(kind, label, tuple(found), rid))
    return tuple(sorted(out, key=lambda s: s.spans[0]))


# --- helpers ----------------------------------------------------------------------------------


def _overlaps(entity: Entity, spans: Iterable[tuple[int, int]]) -> bool:
    return any(entity.start < end and start < entity.end for start, end in spans)


def _position(entity: Entity) -> tuple[int, int, str]:
    return entity.start, entity.end, entity.id
