"""Allergy statements of one note, read from the document model for the AllergyIntolerance
builder: which medication mentions are allergens, which problem mentions are their reactions,
and where the note says it has no known allergies.  The rules (``allergy_rules.yaml``) lean
one way: an allergy the note does not state is never made, and "no known allergies" is never
stated when the note names an allergy.

* **Allergy list**: in an allergies section, from the heading to the end of the first line of
  the body, a ";", a heading-like word ("MEDS:", "Rx:") or a word that starts another clause
  ("NKDA. On aspirin", "Codeine (nausea), takes tramadol instead"); then over each following
  ";"-item and line that is an item ("Allergies: penicillin (rash); sulfa (hives)": a ";"
  outside brackets separates items as a line break does, and a "." ends the last one when
  another clause follows: "PCN; sulfa. Takes metoprolol"): it starts (after a bullet, "1."
  or "?") with an allergen, holds at most 12 words, is no heading, and says nothing but an
  allergy: allergens, their reactions, separators and words of ``item_words`` such as
  "severe" ("Allergies:\nPenicillin - rash\nSulfa - hives").  An answer ("Latex - No"; "NA"
  only after a heading word: "Food allergies: NA"), an order ("Metoprolol - continue"), a
  number, a sig or any other clause ("latex gloves used in OR") makes the line no item, and
  the list ends there, as it does at a blank line or a heading.  After "no known allergies" a
  drug line is an item only with its reaction ("Allergies: NKDA\nPenicillin - rash", not
  "...\nLisinopril").  The **allergy block** runs on to the first blank line.
* **Allergen**: a medication mention in an allergy list, or one that an allergy phrase names on
  the same line ("allergic to penicillin and codeine", "allergy to MSO4", "sulfa allergy"; not
  "Claritin Allergy 10 mg", "Flonase and allergy shots", nor a product in a medications
  section).  Its verification status comes from its assertion: uncertain → ``unconfirmed``
  ("? allergy to beta blockers"), negated → ``refuted`` only inside an allergy phrase ("no
  allergy to penicillin"), else ``confirmed``.  A negated drug of a list without such a phrase,
  a drug after "tolerated", a listed drug with a dose or frequency ("Allergies:\nAspirin 81 mg
  daily"), a relative's or a hypothetical mention, and an allergen a checklist answers right
  after it, on any line ("Codeine - denies", "Iodine: OK", "Morphine - tolerated",
  "Penicillin - none", "allergy to latex? no") are no allergens.
* **Other allergen**: a word of the ``other_allergens`` lexicon ("latex", "shellfish",
  "sulfa") that is an item of an allergy list ("Allergies: latex, shellfish (anaphylaxis)") or
  that an allergy phrase names ("allergic to peanuts", "shellfish allergy"); nowhere else
  ("She ate peanuts", "Allergy: latex gloves used in OR").  Its status is read as a drug's,
  by the pipeline's assertion stage with its configured options, except that a negated one is
  none and an uncertain one that a problem mention holds is left to that mention's Condition.
* **Drug taken**: a drug of an allergies section that is no allergen, that causes no problem
  of the block and that the text says is taken: after a word on its line that says so ("NKDA.
  On aspirin 81 mg daily", "MEDS: LASIX"), with a sig outside the list, or answered with an
  order ("Metoprolol - continue") in a note that names no confirmed drug class allergen of
  ``lists.class_allergens`` (beside one it may be of the allergen's class, "Sulfa -
  rash\nBactrim - continue", which the terminology cannot tell; a specific drug, contrast,
  iodine or "? PCN" blocks nothing: "Codeine - nausea\nMetoprolol - continue").  The other
  drugs of the section make nothing: not a tolerated one ("tolerates the hydrocodone"), nor
  a bare one after the block ("Allergies:\nPenicillin - rash\n\nCodeine" is neither an
  allergy nor a drug taken).
* **Reaction**: a problem that an allergen (not refuted) ``causes`` by a relation of the
  relations stage ("Penicillin (rash)", "codeine -> hives"); outside an allergy list only one
  after the allergen.  A negated, hypothetical or family problem is none.
* **No known allergies**: a phrase in an allergy list or right after a heading word that starts
  a line or follows punctuation, "drug" or "known" ("Allergies: NKDA", "ALLERGY - none"; not
  "Tape allergy: none").  "No known allergies" is dropped when the note names any allergy: an
  allergen that is not refuted, an allergy cue that is not negated ("allergic to peanuts",
  "latex allergy", "Allergies: shellfish"), or a problem or medication of the allergy block
  ("Allergies: NKA\\nShellfish - anaphylaxis").  "No known drug allergies" is dropped by an
  allergen (an other allergen only of category medication: "sulfa"), a medication of the block
  that is not taken, or a cue that names anything but non-drug allergens.

Problem mentions that are reactions, that are the "allergy" word of an allergen's phrase or
of a product's name ("Claritin Allergy"), or that lie inside a "no known allergies" phrase make
no Condition: the AllergyIntolerance says what they say.  Nor does a problem of an allergy block
that a drug of the block causes when the rules give that drug no allergen (a reaction, not a
current problem); a bare "allergies" used as a topic ("Medications and allergies reviewed",
"allergy band on"); or a negated bare "allergy"/"allergies" where the note names an
allergy, inside a phrase that a stop word blocked ("no known allergies except
penicillin"), or after a word that names the allergen ("Tape allergy: none": no tape
allergy is no "no allergies"); nor an allergy that its clause gives to another person ("Her
husband, who has a penicillin allergy").

Phrases are matched over the document's tokens, each look is bounded, spans are searched by
bisection, and the one regular expression (a blank line) has a single quantifier over one
character class, so the whole is linear (up to a logarithm) in the note's length.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import accumulate
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.assertion.rules import RELATIVES_FILE, RelativesTable
from note2fhir.document import Assertion, ClinicalDocument, Entity, EntityType, Section
from note2fhir.ids import resource_id
from note2fhir.medication.phrases import PhraseSet, Word, phrase_elements, single_words, words
from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize

RULES_FILE = "allergy_rules.yaml"
ALLERGY_SECTIONS = frozenset({"allergies"})
"""Sections whose medication mentions are allergens, never medications taken."""

Kind = Literal["all", "drug"]
Category = Literal["food", "environment", "medication"]
Verification = Literal["confirmed", "unconfirmed", "refuted"]
Mode = Literal["any", "anchored", "alone"]
ItemReading = Literal["none", "unconfirmed"]
"""What an allergen's own item says of it: no allergy of the patient's, or one in doubt."""
KINDS: tuple[Kind, ...] = ("all", "drug")

TypedSpan = tuple[int, int, EntityType]
SpanAssertions = Callable[[ClinicalDocument, Sequence[TypedSpan]], list[Assertion]]
"""Reads the assertion of working spans ``(start, end, type)`` that are no mention of the
document, as the configured assertion stage would (``AssertionStage.assert_spans``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Headings(_Strict):
    """Heading words that introduce an allergy list, and the words around them."""

    words: list[str] = Field(min_length=1)
    marks: list[str]
    drug_qualifiers: list[str]
    neutral_qualifiers: list[str]
    other_qualifiers: list[str]
    topic_after: list[str]


class NoKnownKind(_Strict):
    """The phrases of one kind of "no known allergies" statement and its ``code.text``."""

    label: str = Field(min_length=1)
    phrases: list[str] = Field(min_length=1)
    anchored: list[str] = Field(default_factory=list)
    alone: list[str] = Field(default_factory=list)


class NoKnown(_Strict):
    """ "No known allergies" and "no known drug allergies" statements."""

    all: NoKnownKind
    drug: NoKnownKind
    stop_after: list[str]
    exceptions: list[str]


class Lists(_Strict):
    """Words that end the allergy list of an allergies section, and what makes a following
    line an item of it."""

    stops: list[str]
    tolerance: list[str]
    bullets: list[str]
    max_item_words: int = Field(ge=1)
    item_words: list[str]
    answers: list[str]
    taking: list[str]
    not_applicable: list[str]
    class_allergens: list[str]


class OtherAllergens(_Strict):
    """Allergens that are no medication mention, by FHIR category."""

    food: list[str]
    environment: list[str]
    medication: list[str]
    list_only: list[str]


class Allergens(_Strict):
    """Phrases that make a medication mention outside an allergy list an allergen."""

    before: list[str] = Field(min_length=1)
    after: list[str] = Field(min_length=1)
    after_blockers: list[str]
    after_excluded_sections: list[str]
    list_words: list[str]
    max_list_words: int = Field(ge=0)
    intolerance: list[str]


class Contradictions(_Strict):
    """What, besides an allergen, contradicts a "no known allergies" statement."""

    negations: list[str]
    window: int = Field(ge=0)
    generic_before: list[str]
    non_drug: list[str]
    drug_classes: list[str]
    filler: list[str]
    reactions: list[str]


class ItemCues(_Strict):
    """What the words of an allergen's own item say about it (denied, in doubt, another
    person's, no allergen at all)."""

    window: int = Field(ge=1)
    none: list[str]
    premedication: list[str]
    unconfirmed: list[str]
    unknown: list[str]
    reaction_nouns: list[str]
    clause_breaks: list[str]
    relatives: list[str]
    child: list[str]
    possessives: list[str]
    informant_before: list[str]
    informant_after: list[str]
    class_words: list[str]
    never: list[str]
    attach: list[str]
    affirmations: list[str]


class AllergyRuleTable(_Strict):
    """The versioned contents of ``allergy_rules.yaml``."""

    version: int
    headings: Headings
    no_known: NoKnown
    lists: Lists
    other_allergens: OtherAllergens
    allergens: Allergens
    contradictions: Contradictions
    item_cues: ItemCues


class AllergyRules:
    """The rule table compiled into word sets and phrase sets (built once per process)."""

    def __init__(self, table: AllergyRuleTable) -> None:
        self.table = table
        headings = table.headings
        self.heading_words = frozenset(single_words(headings.words))
        self.marks = frozenset(single_words(headings.marks))
        self.drug_qualifiers = frozenset(single_words(headings.drug_qualifiers))
        self.neutral_qualifiers = frozenset(single_words(headings.neutral_qualifiers))
        self.other_qualifiers = frozenset(single_words(headings.other_qualifiers))
        self.topic_after = frozenset(single_words(headings.topic_after))
        self.labels: dict[Kind, str] = {
            "all": table.no_known.all.label,
            "drug": table.no_known.drug.label,
        }
        self.no_known: PhraseSet[tuple[Kind, Mode]] = PhraseSet()
        kinds: tuple[tuple[Kind, NoKnownKind], ...] = (
            ("all", table.no_known.all),
            ("drug", table.no_known.drug),
        )
        for kind, spec in kinds:
            modes: tuple[tuple[Mode, list[str]], ...] = (
                ("any", spec.phrases),
                ("anchored", spec.anchored),
                ("alone", spec.alone),
            )
            for mode, phrases in modes:
                for phrase in phrases:
                    self.no_known.add(phrase, (kind, mode))
        self.stop_after = frozenset(single_words(table.no_known.stop_after))
        self.exceptions = frozenset(single_words(table.no_known.exceptions))
        self.list_stops = frozenset(single_words(table.lists.stops))
        self.tolerance = frozenset(single_words(table.lists.tolerance))
        self.bullets = frozenset(single_words(table.lists.bullets))
        self.max_item_words = table.lists.max_item_words
        self.taking = frozenset(single_words(table.lists.taking))
        self.answers = frozenset(single_words(table.lists.answers)) | self.taking
        self.not_applicable: PhraseSet[None] = _phrase_set(table.lists.not_applicable)
        self.class_allergens = frozenset(phrase_elements(p) for p in table.lists.class_allergens)
        others = table.other_allergens
        self.other: PhraseSet[Category] = PhraseSet()
        categories: tuple[tuple[Category, list[str]], ...] = (
            ("food", others.food),
            ("environment", others.environment),
            ("medication", others.medication),
        )
        for category, phrases in categories:
            for phrase in phrases:
                self.other.add(phrase, category)
        self.list_only = frozenset(phrase_elements(p) for p in others.list_only)
        allergens = table.allergens
        self.before = tuple(phrase_elements(p) for p in allergens.before)
        self.after: PhraseSet[None] = _phrase_set(allergens.after)
        self.after_blockers = frozenset(single_words(allergens.after_blockers))
        self.after_excluded_sections = frozenset(allergens.after_excluded_sections)
        self.list_words = frozenset(single_words(allergens.list_words))
        self.max_list_words = allergens.max_list_words
        self.intolerance: PhraseSet[None] = _phrase_set(allergens.intolerance)
        contra = table.contradictions
        self.negations = frozenset(single_words(contra.negations))
        self.window = contra.window
        self.generic_before = frozenset(single_words(contra.generic_before))
        self.non_drug = frozenset(single_words(contra.non_drug))
        self.drug_classes = frozenset(single_words(contra.drug_classes))
        self.filler = frozenset(single_words(contra.filler))
        self.reactions = tuple(phrase_elements(p) for p in contra.reactions)
        self.cue_words = (
            frozenset(cue[0] for cue in (*self.before, *self.reactions) if cue) | self.heading_words
        )
        self.item_words = (
            frozenset(single_words(table.lists.item_words))
            | self.heading_words
            | {w for p in allergens.intolerance for w in phrase_elements(p)}
        )
        cues = table.item_cues
        self.cue_window = cues.window
        self.item_cues: PhraseSet[ItemReading] = PhraseSet()
        for phrase in cues.none:
            self.item_cues.add(phrase, "none")
        for phrase in cues.unconfirmed:
            self.item_cues.add(phrase, "unconfirmed")
        self.premedication = frozenset(single_words(cues.premedication))
        self.unknown = frozenset(single_words(cues.unknown))
        self.reaction_nouns = frozenset(single_words(cues.reaction_nouns))
        self.clause_breaks = frozenset(single_words(cues.clause_breaks))
        relatives = load_data_file(RELATIVES_FILE, RelativesTable)
        self.relatives = frozenset(single_words(cues.relatives)) | {
            term for terms in relatives.relatives.values() for term in terms if " " not in term
        }
        self.child = frozenset(single_words(cues.child))
        self.possessives = frozenset(single_words(cues.possessives))
        self.informant_before = frozenset(single_words(cues.informant_before))
        self.informant_after = frozenset(single_words(cues.informant_after))
        self.class_words = frozenset(single_words(cues.class_words))
        self.never = frozenset(phrase_elements(p) for p in cues.never)
        self.attach = frozenset(single_words(cues.attach))
        self.affirmations = frozenset(single_words(cues.affirmations))


def _phrase_set(phrases: Iterable[str]) -> PhraseSet[None]:
    out: PhraseSet[None] = PhraseSet()
    for phrase in phrases:
        out.add(phrase, None)
    return out


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
class OtherAllergen:
    """An allergen that is no medication mention ("latex", "shellfish", "sulfa"): every
    mention of one allergen word with one verification status."""

    text: str
    """As the first mention reads (``code.text``)."""
    category: Category
    verification: Verification
    spans: tuple[tuple[int, int], ...]
    """Working-text spans of the mentions, in text order."""
    reactions: tuple[str, ...]
    """Its reaction problem mentions, in text order."""
    intolerance: bool
    """The note calls it an intolerance or a side effect: no ``type``."""
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
    intolerances: frozenset[str] = frozenset()
    """Allergen mentions the note calls an intolerance or a side effect ("codeine
    (intolerance)"): their AllergyIntolerance has no ``type``."""
    others: tuple[OtherAllergen, ...] = ()
    """Allergens that are no medication mention, in text order."""
    taken: frozenset[str] = frozenset()
    """Medication mentions of an allergies section that are a drug taken, not an allergen:
    outside the allergy list, after a word that ends it on their line ("Allergies: NKDA. On
    aspirin 81 mg daily", "MEDS: LASIX 40MG"), with a dose or frequency, or after the allergy
    block.  Every other drug of the section makes no MedicationStatement."""


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


def find_allergies(
    doc: ClinicalDocument,
    rules: AllergyRules | None = None,
    *,
    assertions: SpanAssertions | None = None,
) -> AllergyFacts:
    """The allergy statements of ``doc``.  ``assertions`` reads the assertion of words that
    are no mention, as the pipeline's configured assertion stage does
    (:meth:`~note2fhir.assertion.stage.AssertionStage.assert_spans`): without it no allergen
    that is no medication mention ("latex") is read, since its negation, relative or
    hypothesis could not be told ("Mother is allergic to latex").

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
    # the sentences stage's tokens; a document built without that stage is tokenised here
    note = _Note(doc, rules, words(doc.tokens or tokenize(doc.text)))
    blocks = [_block_of(note, rules, s) for s in sections]
    lists = _Spans(span for b in blocks for span in b.spans)
    allergens: dict[str, Verification] = {}
    cue_spans: list[tuple[int, int]] = []
    intolerances: set[str] = set()
    product: list[tuple[int, int]] = []  # "Claritin Allergy 10 mg": no allergy
    dropped: set[str] = set()  # drugs named as no allergen of the patient's: no resource
    for entity in note.medications:
        status = allergen_status(entity)
        first, end = note.first(entity.start), note.first(entity.end)
        if status is None and _family_elsewhere(note, rules, entity, lists, first, end):
            status = allergen_status(
                replace(entity, assertion=replace(entity.assertion, family=False))
            )
        if status is None or _tolerated(note, rules, entity):
            continue
        if _answer(note, rules, end) is not None:
            continue  # "Codeine - denies", "Morphine - tolerated": a checklist's answer
        cue = _cue_before(note, rules, entity) or _cue_after(note, rules, entity)
        listed = lists.covers(entity.start) or _affirmed(note, rules, first, end)
        if cue is None:
            product.extend(_product_word(note, rules, entity))
            if not listed or status == "refuted":
                continue  # "Allergies: NKDA. Not taking aspirin": no allergy phrase refutes it
            if first in note.dosed:
                continue  # "Allergies:\nAspirin 81 mg daily": a drug taken, or a slip; not said
        if status != "refuted":
            reading = _item_reading(note, rules, first, end)
            if reading == "none":
                if _words_of(note, first, end) not in rules.never:
                    dropped.add(entity.id)  # "Wife allergic to penicillin": no drug taken
                continue
            if reading == "unconfirmed":
                status = "unconfirmed"
            elif listed and cue is None:
                status = "confirmed"  # "pcn, ? shellfish": the doubt is shellfish's alone
        allergens[entity.id] = status
        if cue is not None:
            cue_spans.append(cue)
        if _called_intolerance(note, rules, entity.start, note.first(entity.end)):
            intolerances.add(entity.id)
    problems = [e for e in doc.entities if e.type is EntityType.PROBLEM]
    mentions = _Mentions(problems)
    found = _other_candidates(note, rules, blocks, mentions, assertions)
    phrases = _no_known_phrases(note, rules, blocks)
    stated = _Spans(p.span for p in phrases if not p.blocked)
    taken = _taken(note, rules, blocks, allergens, found, dropped)
    contradicted = _contradicted(note, rules, blocks, allergens, phrases, found, taken)
    own = [(note.seq[f.first].start, note.seq[f.end - 1].end) for f in found]
    cues = _Spans([*cue_spans, *product, *own, *(f.cue for f in found if f.cue is not None)])
    absorbed = {e.id for e in problems if cues.overlaps(e) or stated.overlaps(e)}
    absorbed |= _bare_allergy_words(
        note, rules, problems, _Spans(p.span for p in phrases), "all" in contradicted
    )
    reactions = _reactions(note, rules, allergens, absorbed)
    absorbed |= {target for targets in reactions.values() for target in targets}
    other_reactions = _other_reactions(note, rules, found, problems, absorbed)
    absorbed |= {target for targets in other_reactions for target in targets}
    absorbed |= _block_reactions(doc, blocks)
    absorbed |= _answered_allergies(note, rules, problems)
    absorbed |= _relatives_allergies(note, rules, problems)
    absorbed |= dropped
    return AllergyFacts(
        allergens=allergens,
        reactions=reactions,
        absorbed=frozenset(absorbed),
        no_known=_statements(doc, rules, [p for p in phrases if not p.blocked], contradicted),
        intolerances=frozenset(intolerances),
        others=_other_allergens(note, rules, found, other_reactions),
        taken=taken,
    )


# --- the note as words ------------------------------------------------------------------------


@dataclass(slots=True)
class _Note:
    """The words of a note, their lines, and which of them belong to medication mentions."""

    doc: ClinicalDocument
    rules: AllergyRules
    seq: list[Word]
    starts: list[int] = field(init=False)
    lines: list[int] = field(init=False)
    """The line number of each word."""
    medications: list[Entity] = field(init=False)
    drug_words: set[int] = field(init=False)
    drug_starts: set[int] = field(init=False)
    """The first word of each medication mention."""
    dosed: set[int] = field(init=False)
    """The first word of each medication mention with a dose or a frequency ("aspirin 81 mg
    daily"): a drug taken, not an allergen listed (a route alone is no sign: "morphine IV -
    itching")."""
    problem_starts: set[int] = field(init=False)
    """The first word of each problem mention."""
    others: dict[int, tuple[int, Category]] = field(init=False)
    """Words that start an allergen of the ``other_allergens`` lexicon outside every medication
    mention: the index after its last word, and its category (not yet an allergen: see
    :func:`_other_candidates`)."""
    other_ends: dict[int, int] = field(init=False)
    """The last word of each of ``others`` → its first word."""
    other_words: set[int] = field(init=False)
    """Every word of ``others``."""
    reaction_words: set[int] = field(init=False)
    """Every word of a problem mention that no negation, relative or hypothesis takes back:
    what may stand on an item line as a reaction."""

    def __post_init__(self) -> None:
        text = self.doc.text
        self.starts = [w.start for w in self.seq]
        self.lines = []
        line, previous = 0, 0
        for start in self.starts:
            line += text.count("\n", previous, start)  # each character counted once
            self.lines.append(line)
            previous = start
        self.medications = sorted(
            (e for e in self.doc.entities if e.type is EntityType.MEDICATION),
            key=lambda e: (e.start, e.end, e.id),
        )
        self.drug_words = {
            k for e in self.medications for k in range(self.first(e.start), self.first(e.end))
        }
        self.drug_starts = {self.first(e.start) for e in self.medications}
        self.dosed = {self.first(e.start) for e in self.medications if _has_sig(e)}
        self.problem_starts = {
            self.first(e.start) for e in self.doc.entities if e.type is EntityType.PROBLEM
        }
        self.others, self.other_ends = {}, {}
        other, seq, k = self.rules.other, self.seq, 0
        while k < len(seq):
            found = other.match_at(seq, k) if other.may_start(seq[k].norm) else None
            if (
                found is None
                or not self.same_line(k, found.end - 1)
                or any(j in self.drug_words for j in range(k, found.end))
            ):
                k += 1
                continue
            self.others[k] = (found.end, found.payload)
            self.other_ends[found.end - 1] = k
            k = found.end
        self.other_words = {j for k, (end, _) in self.others.items() for j in range(k, end)}
        self.reaction_words = {
            k
            for e in self.doc.entities
            if e.type is EntityType.PROBLEM
            and not (e.assertion.negated or e.assertion.hypothetical or e.assertion.family)
            for k in range(self.first(e.start), self.first(e.end))
        }

    def first(self, offset: int) -> int:
        """Index of the first word that starts at or after ``offset``."""
        return bisect_left(self.starts, offset)

    def norm(self, k: int) -> str:
        """The normalised word ``k`` ("" out of range)."""
        return self.seq[k].norm if 0 <= k < len(self.seq) else ""

    def same_line(self, a: int, b: int) -> bool:
        """Whether words ``a`` and ``b`` exist and stand on one line."""
        n = len(self.seq)
        return 0 <= a < n and 0 <= b < n and self.lines[a] == self.lines[b]

    def heading_like(self, k: int) -> bool:
        """Word ``k`` is a word followed by a colon ("MEDS:", "Rx:"), not an allergy heading."""
        norm = self.norm(k)
        return norm.isalpha() and self.norm(k + 1) == ":" and norm not in self.rules.heading_words

    def starts_clause(self, k: int) -> bool:
        """Word ``k`` starts a clause that says nothing about allergies ("On aspirin", "takes
        tramadol", "tolerated amoxicillin", "MEDS: ASA")."""
        norm = self.norm(k)
        rules = self.rules
        if (
            norm in rules.tolerance
            and self.norm(k - 1) in rules.marks
            and self.norm(k + 1) in {",", ";"}
        ):
            return False  # "Morphine - tolerated, Codeine - hives": an answer; the list goes on
        return norm in rules.list_stops or norm in rules.tolerance or self.heading_like(k)


def _has_sig(entity: Entity) -> bool:
    attrs = entity.medication
    return attrs is not None and any(
        (
            attrs.strength,
            attrs.dose_value is not None,
            attrs.frequency_text,
            attrs.timing,
            attrs.duration,
            attrs.as_needed,
        )
    )


def _is_punctuation(norm: str) -> bool:
    return not any(c.isalnum() for c in norm)


def _is_number(norm: str) -> bool:
    return bool(norm) and norm[0].isdigit()


# --- the allergy list and block of an allergies section ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    """An allergies section's allergy list and block (working offsets)."""

    section: Section
    start: int
    """Where the heading ends."""
    body: int
    """Index of the first word of the list."""
    stop: int
    """Index of the first word after the list."""
    list_end: int
    end: int
    """The first blank line after the list's first line, or the section's end."""
    counted: tuple[tuple[int, int], ...]
    """Spans of the block whose mentions contradict "no known allergies": all of it but the
    rest of a line from a word that starts another clause."""
    items: tuple[tuple[int, int], ...]
    """The list as word ranges ``[first, stop)``: its first line from ``body`` to ``stop``,
    then one per item line that continues it."""
    spans: tuple[tuple[int, int], ...]
    """The working-text spans of ``items`` (the first from the heading's end)."""


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")  # one quantifier over one class: linear


def _block_of(note: _Note, rules: AllergyRules, section: Section) -> _Block:
    """The allergy list and block of an allergies section.  A section runs to the next heading
    the sections stage knows, and in notes whose other headings it does not know ("SOCIAL:",
    "Rx:") that is far beyond the list: the drugs given later are no allergens."""
    text, seq = note.doc.text, note.seq
    start = section.heading_end
    first = start
    while first < section.end and (text[first].isspace() or text[first] in rules.marks):
        first += 1
    blank = _BLANK_LINE.search(text, first, section.end)
    end = blank.start() if blank else section.end
    body, last = note.first(first), note.first(end)
    body = _skip_bullet(note, rules, body, last)
    stop = _item_stop(note, body, last)
    list_end = seq[stop - 1].end if stop > body else first
    items, spans = [(body, stop)], [(start, list_end)]
    # the list goes on over the items after a ";" and over item lines, unless another clause
    # cut its first line
    if stop > body and note.norm(stop) == ";":
        k = stop + 1  # "Allergies: penicillin (rash); sulfa (hives)"
    else:
        k = stop if stop > body and not note.same_line(body, stop) else last
    anchor = _skip_marks(note, rules, body, stop)
    none_known = any(
        _phrase_at(note, rules, j, anchored=j == anchor) is not None for j in range(body, stop)
    )
    while k < last:
        item = _item_line(note, rules, k, last, none_known)
        if item is None:
            break
        items.append(item)
        spans.append((seq[item[0]].start, seq[item[1] - 1].end))
        k = item[1]
        if note.same_line(item[0], k):
            if note.norm(k) == ";":
                k += 1  # "Penicillin - rash; codeine - nausea": the next item is tried
                continue
            break  # cut by a stop word: what follows is another clause
    counted: list[tuple[int, int]] = []
    run: tuple[int, int] | None = None
    stopped = False
    for k in range(note.first(start), last):
        if k == 0 or not note.same_line(k - 1, k):
            stopped = False
        stopped = stopped or note.starts_clause(k)
        if stopped:
            if run is not None:
                counted.append(run)
            run = None
        else:
            run = (run[0] if run is not None else seq[k].start, seq[k].end)
    if run is not None:
        counted.append(run)
    return _Block(
        section, start, body, stop, list_end, end, tuple(counted), tuple(items), tuple(spans)
    )


def _skip_bullet(note: _Note, rules: AllergyRules, k: int, stop: int) -> int:
    """The first word from ``k`` after a bullet ("-", "•") or a number ("1.", "2)")."""
    norm = note.norm(k)
    if norm in rules.bullets and k + 1 < stop and note.same_line(k, k + 1):
        return k + 1
    if (
        norm.isdigit()
        and note.norm(k + 1) in {".", ")"}
        and k + 2 < stop
        and note.same_line(k, k + 2)
    ):
        return k + 2
    return k


def _item_stop(note: _Note, k: int, last: int) -> int:
    """Where the list part of word ``k``'s line ends: its end, a ";" or a word that starts
    another clause."""
    first, depth = k, 0
    while k < last and note.same_line(first, k):
        norm = note.norm(k)
        if (norm == ";" and depth == 0) or note.starts_clause(k):
            break
        depth = _depth(depth, norm)
        k += 1
    return k


def _depth(depth: int, norm: str) -> int:
    """The bracket depth after word ``norm``: a ";" inside brackets is part of its item
    ("codeine (nausea; vomiting)"), no separator."""
    if norm in _OPEN:
        return depth + 1
    if norm in _CLOSE:
        return max(depth - 1, 0)
    return depth


def _item_line(
    note: _Note, rules: AllergyRules, k: int, last: int, none_known: bool
) -> tuple[int, int] | None:
    """The list part ``[first, stop)`` of the line or ";"-item that starts at word ``k`` when
    it is an item of an allergy list: it starts (after a bullet or number) with an allergen, a
    medication mention or one of ``other_allergens``, holds at most ``max_item_words`` words,
    is no heading ("Plan:"), and holds nothing but allergens, their reactions, punctuation,
    list words and ``item_words`` ("Penicillin - rash", "Latex (severe hives)"); None
    otherwise.  A ";" separates items as a line break does ("Penicillin (rash); sulfa
    (hives)"): a ";"-item is read up to the next ";" or the end of its line.  A checklist's
    answer ("Latex - No", "Codeine - denies", "Morphine - tolerated"), an order ("Metoprolol -
    continue"), a number or a sig ("Aspirin 81 mg daily") or any other clause ("latex gloves
    used in OR") makes it no item.  After "no known allergies" a drug starts an item only with
    its reaction ("Allergies: NKDA\nPenicillin - rash", not "Allergies: NKDA\nLisinopril")."""
    if k > 0 and note.same_line(k - 1, k) and note.norm(k - 1) != ";":
        return None
    first = _skip_bullet(note, rules, k, last)
    if note.norm(first) == "?" and note.same_line(first, first + 1):
        first += 1  # "? shellfish": an item in doubt (its item cues read the "?")
    drug = first in note.drug_starts
    if (not drug and first not in note.others) or first in note.dosed:
        return None
    if note.norm(first + 1) == ":" or note.starts_clause(first):
        return None
    count, reaction, j, depth = 0, False, first, 0
    while j < last and note.same_line(k, j) and not (note.norm(j) == ";" and depth == 0):
        na = rules.not_applicable.match_at(note.seq, j)
        if na is not None and note.same_line(j, na.end - 1):
            count += 1  # "Morphine - N/A": its reaction is not known
            j = na.end
            continue
        if note.norm(j) == "." and depth == 0 and j > first and _ends_items(note, rules, j + 1):
            # "Allergies: PCN; sulfa. Takes metoprolol.": the sentence ends the item and list
            if count > rules.max_item_words or (drug and none_known and not reaction):
                return None
            return first, min(j, _item_stop(note, first, last))
        if j in note.dosed or not _item_word(note, rules, j):
            return None
        count += not _is_punctuation(note.norm(j))
        reaction = reaction or j in note.reaction_words
        depth = _depth(depth, note.norm(j))
        j += 1
    if count > rules.max_item_words or (drug and none_known and not reaction):
        return None
    return first, _item_stop(note, first, last)


def _ends_items(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Whether the words from ``k`` to the end of its line (or a ";") hold a word no item
    may hold: a "." before them then ends the item ("sulfa. Takes metoprolol"), where an
    item's words after it go on with it ("Penicillin - rash. Sulfa - hives")."""
    j = k
    while note.same_line(k - 1, j) and note.norm(j) != ";":
        if j in note.dosed or not _item_word(note, rules, j):
            return True
        j += 1
    return False


def _item_word(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Whether word ``k`` may stand on an item line: a word of an allergen or of a reaction
    (a problem mention no negation takes back), punctuation, a list word or one of
    ``item_words``; never a number."""
    norm = note.norm(k)
    if _is_number(norm):
        return False
    return (
        k in note.drug_words
        or k in note.other_words
        or k in note.reaction_words
        or _is_punctuation(norm)
        or norm in rules.list_words
        or norm in rules.item_words
    )


def _answer(note: _Note, rules: AllergyRules, k: int) -> str | None:
    """The checklist answer word ``k`` gives the allergen that ends right before it, past
    marks, brackets, "?" and the word "allergy" on its line: "Latex - No", "Codeine -
    denies", "Iodine: OK", "Morphine - tolerated", "Metoprolol - continue", "Latex allergy?
    no", "Food allergies: NA" (None: no answer; "Codeine - NA" is none).  A tolerance word
    with a drug or an allergen after it is none: "penicillin (tolerated amoxicillin)" says
    nothing against penicillin; nor is an answer word inside a bracket that goes on ("CODEINE
    (N; V)")."""
    line = k - 1
    j, steps = k, 0
    while note.same_line(line, j) and steps < rules.window and _skippable(rules, note.norm(j)):
        j += 1
        steps += 1
    norm = note.norm(j)
    if not note.same_line(line, j):
        return None
    na = rules.not_applicable.match_at(note.seq, j)
    if na is not None and note.same_line(line, na.end - 1):
        # "Food allergies: NA", "Latex allergy: N/A": the heading's kind is denied; after an
        # allergen alone ("Codeine - NA") it is the reaction that is not known
        if not any(note.norm(i) in rules.heading_words for i in range(k - 1, j)):
            return None
        following = note.norm(na.end) if note.same_line(j, na.end) else ""
        return "na" if not following or following in _ANSWER_ENDS else None
    if norm not in rules.answers:
        return None
    following = note.norm(j + 1) if note.same_line(j, j + 1) else ""
    opened = [note.norm(i) for i in range(k, j) if note.norm(i) in _OPEN]
    if opened and following not in _CLOSE:
        return None  # "CODEINE (N; V)": nausea and vomiting, no answer
    if following in _SLASHES or (
        following and following not in _ANSWER_ENDS and norm not in rules.tolerance
    ):
        return None  # "CODEINE-N/V", "Penicillin - not sure of reaction": no answer
    if norm in rules.tolerance:
        after = j + 1
        while note.same_line(j, after) and after - j <= rules.window:
            if after in note.drug_words or after in note.other_words:
                return None  # "tolerated amoxicillin"
            if note.norm(after) not in rules.filler:
                break
            after += 1
    return norm


_BRACKETS = frozenset({"(", ")", "[", "]", "?"})
_SLASHES = frozenset({"/", "\\"})
# what may follow a checklist's answer word: it ends the item ("Latex - No", "Codeine -
# denies, Morphine - hives"); "N/V" or "not sure of reaction" is no answer
_ANSWER_ENDS = frozenset({",", ";", ".", ")", "]", "!"})


def _skippable(rules: AllergyRules, norm: str) -> bool:
    return norm in rules.marks or norm in _BRACKETS or norm in rules.heading_words


# --- allergens --------------------------------------------------------------------------------


def _listed(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Whether word ``k`` may stand inside a list of allergens: a list word or another
    medication mention."""
    return k in note.drug_words or note.norm(k) in rules.list_words


def _walk_back(note: _Note, rules: AllergyRules, k: int) -> int:
    """The first word before word ``k``'s list of allergens (``k`` itself when none)."""
    steps = 0
    while k >= 0 and steps < rules.max_list_words and _listed(note, rules, k):
        k -= 1
        steps += 1
    return k


def _tolerated(note: _Note, rules: AllergyRules, entity: Entity) -> bool:
    """ "tolerated amoxicillin", "tolerates cefazolin and ceftriaxone", "tolerates the
    hydrocodone": no allergen, and no drug taken either."""
    first = note.first(entity.start)
    k = _walk_back(note, rules, first - 1)
    crossed = k != first - 1
    steps = 0
    while note.same_line(k, first) and note.norm(k) in rules.filler and steps < rules.window:
        k -= 1
        steps += 1
    if crossed and note.same_line(k - 1, k) and note.norm(k - 1) in rules.marks:
        return False  # "Morphine - tolerated, Codeine - hives": morphine's answer
    return note.same_line(k, first) and note.norm(k) in rules.tolerance


def _affirmed(note: _Note, rules: AllergyRules, first: int, end: int) -> bool:
    """Whether the drug ``[first, end)`` starts a checklist line answered yes under a line
    that starts with an allergy heading word, with no blank line between ("Allergy screen:\n
    Latex - No\nPenicillin - Yes"): an allergen, never a drug taken."""
    k = _skip_marks(note, rules, end, len(note.seq))
    if not (note.same_line(first, k) and note.norm(k) in rules.affirmations):
        return False
    if note.same_line(first - 1, first):
        return False
    j = first - 1
    while j >= 0 and first - j <= 8 * rules.max_item_words:
        if not note.same_line(j, j + 1) and _BLANK_LINE.search(
            note.doc.text, note.seq[j].end, note.seq[j + 1].start
        ):
            return False
        if note.norm(j) in rules.heading_words and not note.same_line(j - 1, j):
            return True
        j -= 1
    return False


def _cue_before(note: _Note, rules: AllergyRules, entity: Entity) -> tuple[int, int] | None:
    """The span of an allergy phrase that ends right before ``entity`` or the list of
    medications it is in ("allergic to penicillin, codeine"), on the same line."""
    seq = note.seq
    first = note.first(entity.start)
    k = _walk_back(note, rules, first - 1)
    for cue in rules.before:
        start = k - len(cue) + 1
        if start < 0 or tuple(w.norm for w in seq[start : k + 1]) != cue:
            continue
        if note.same_line(start, first):
            return seq[start].start, seq[k].end
    return None


def _cue_after(note: _Note, rules: AllergyRules, entity: Entity) -> tuple[int, int] | None:
    """The span of an allergy word right after ``entity`` or the list of medications it ends
    ("penicillin and sulfa allergies"), on the same line.  Not a heading ("aspirin Allergies:
    NKDA"), a product ("Claritin Allergy 10 mg", a medications section), a noun phrase
    ("allergy shots"), nor a word after a list word ("Flonase and allergy shots")."""
    if entity.section in rules.after_excluded_sections:
        return None
    seq = note.seq
    k = note.first(entity.end)
    steps = 0
    while k < len(seq) and steps < rules.max_list_words and _listed(note, rules, k):
        k += 1
        steps += 1
    if k - 1 not in note.drug_words:
        return None
    found = rules.after.match_at(seq, k)
    if found is None or not note.same_line(note.first(entity.start), found.end - 1):
        return None
    following = note.norm(found.end)
    if (
        following in rules.marks
        or following in rules.stop_after
        or following in rules.after_blockers
        or _is_number(following)
    ):
        return None
    return seq[k].start, seq[found.end - 1].end


def _product_word(note: _Note, rules: AllergyRules, entity: Entity) -> list[tuple[int, int]]:
    """The span of an allergy word right after ``entity`` that is no allergy cue: a word of the
    product's name ("Claritin Allergy 10 mg", "Zyrtec Allergy" in a medications section)."""
    k = note.first(entity.end)
    if k - 1 not in note.drug_words or not note.same_line(k - 1, k):
        return []
    found = rules.after.match_at(note.seq, k)
    return [] if found is None else [(note.seq[k].start, note.seq[found.end - 1].end)]


def _called_intolerance(note: _Note, rules: AllergyRules, start: int, first: int) -> bool:
    """Whether the note calls the allergen at working offset ``start`` an intolerance or a
    side effect: in its list item (from word ``first``, the one after it, up to the next
    allergen, on its line) or in its section's heading."""
    section = note.doc.section_at(start)
    if section is not None and section.name in ALLERGY_SECTIONS:
        for k in range(note.first(section.start), note.first(section.heading_end)):
            if rules.intolerance.match_at(note.seq, k) is not None:
                return True
    k = first
    while (
        k < len(note.seq)
        and k - first < rules.max_list_words
        and note.same_line(first, k)
        and k not in note.drug_words
        and k not in note.others
        and note.norm(k) not in _ITEM_BREAKS
    ):
        if rules.intolerance.match_at(note.seq, k) is not None:
            return True
        k += 1
    return False


# --- what an allergen's own item says of it ----------------------------------------------------

_CLAUSE_MARKS = frozenset({".", ";", "!", ":"})
_OPEN, _CLOSE = frozenset({"(", "["}), frozenset({")", "]"})


def _before_words(note: _Note, rules: AllergyRules, first: int, *, commas: bool) -> range:
    """The words of the allergen's clause before its first word ``first``: back to a ".",
    ";", ":", a clause word ("but"), another non-drug allergen or ``window`` words, on its line;
    and to a "," or a closing bracket unless ``commas`` ("Her husband, who has a peanut
    allergy")."""
    k = first - 1
    while (
        first - k <= rules.cue_window
        and note.same_line(k, first)
        and note.norm(k) not in _CLAUSE_MARKS
        and note.norm(k) not in rules.clause_breaks
        and k not in note.other_words
        and (commas or note.norm(k) not in {",", *_CLOSE})
    ):
        k -= 1
    return range(k + 1, first)


def _after_words(note: _Note, rules: AllergyRules, end: int) -> range:
    """The words of the allergen's item after its last word (``end`` is the one after it):
    up to the next allergen, a ";", a ".", the end of the line, and a "," outside brackets
    unless a mark attaches the item's words to the allergen ("Latex - historical, tested
    negative 2019"); brackets stay with it ("PCN (pt's daughter), sulfa")."""
    k, depth, marked, reacted = end, 0, False, False
    named = _words_of(note, _first_of(note, end - 1), end)
    while k - end < 2 * rules.cue_window and note.same_line(end - 1, k):
        norm = note.norm(k)
        if depth == 0 and (
            norm in _ITEM_BREAKS
            or (k > end and _other_allergen_at(note, k, named))
            or (norm == "," and (not marked or reacted))
            or (norm in rules.list_words and not marked)
        ):
            break
        if norm in _OPEN:
            depth += 1
        elif norm in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and k == end and norm in rules.marks:
            marked = True
        if k in note.reaction_words or (norm in rules.item_words and norm not in _NO_REACTION):
            reacted = True  # "Penicillin - anaphylaxis, possible angioedema": the item ends
        k += 1
    return range(end, k)


# item words that name no reaction: after them a "," does not end a marked item ("Latex -
# historical, tested negative" is one item)
_NO_REACTION = frozenset(
    {
        "mild",
        "moderate",
        "severe",
        "serious",
        "life",
        "threatening",
        "unknown",
        "unk",
        "reaction",
        "reactions",
        "rxn",
        "allergic",
        "sensitive",
        "as",
        "a",
        "child",
        "childhood",
    }
)


def _first_of(note: _Note, k: int) -> int:
    """The first word of the allergen whose last word is ``k``."""
    if k in note.other_ends:
        return note.other_ends[k]
    while k - 1 in note.drug_words and k not in note.drug_starts:
        k -= 1
    return k


def _other_allergen_at(note: _Note, k: int, named: tuple[str, ...]) -> bool:
    """Word ``k`` starts an allergen other than ``named`` ("Contrast - pt given contrast
    without issue" speaks of one allergen)."""
    if k in note.others:
        return _words_of(note, k, note.others[k][0]) != named
    if k in note.drug_starts:
        j = k
        while j + 1 in note.drug_words and j + 1 not in note.drug_starts:
            j += 1
        return _words_of(note, k, j + 1) != named
    return False


def _item_reading(note: _Note, rules: AllergyRules, first: int, end: int) -> ItemReading | None:
    """What the words of the allergen ``[first, end)``'s own item say of it: "none" when it
    is another person's ("Wife allergic to shellfish", "PCN (pt's daughter)"), denied,
    negative, outgrown or tolerated ("eggs - pt not allergic", "Egg allergy resolved", "took
    penicillin as a child with no reaction"), a premedication ("premedicate with prednisone")
    or no allergen at all ("carries EpiPen", "Sulfa (Sulfonamide Antibiotics)"); "unconfirmed"
    when it is in doubt ("allergy to PCN questionable", "pcn, ? shellfish", "Latex -
    unknown"); None when they say nothing against it."""
    seq = note.seq
    named = _words_of(note, first, end)
    if named in rules.never:
        return "none"
    if len(named) == 1 and named[0] in rules.class_words:
        previous = note.norm(first - 1)
        if (
            note.same_line(first - 1, first)
            and previous.isalpha()
            and not (previous in rules.list_words or previous in rules.cue_words)
        ):
            return "none"  # "Sulfonamide Antibiotics": a qualifier of the allergen before
    before = _before_words(note, rules, first, commas=False)
    after = _after_words(note, rules, end)
    if _relatives_own(note, rules, before, after):
        return "none"
    if any(note.norm(k) in rules.premedication for k in before):
        return "none"
    if any(note.norm(k) in _SCREENING for k in before):
        return "none"  # "Screen for peanut allergy before starting solids": a plan
    reading: ItemReading | None = None
    for scope in (before, after):
        k = scope.start
        while k < scope.stop:
            found = rules.item_cues.match_at(seq, k)
            if found is not None and found.end <= scope.stop:
                if found.payload == "none":
                    if not _about_others(note, found.end, scope.stop):
                        return "none"
                elif not any(
                    note.norm(j) in rules.reaction_nouns
                    for j in range(found.end, min(found.end + 2, scope.stop))
                ):
                    reading = "unconfirmed"  # not "not sure of reaction": the reaction's doubt
                k = found.end
                continue
            if note.norm(k) in rules.unknown and not (
                note.norm(k - 1) in rules.reaction_nouns or note.norm(k + 1) in rules.reaction_nouns
            ):
                j = k - 1
                while j >= end and note.norm(j) in rules.marks:
                    j -= 1
                if j >= end and note.norm(j) in rules.heading_words and j < k - 1:
                    return "none"  # "Latex allergy: unknown": nothing is known
                if not (j == end - 1 and j < k - 1):
                    reading = "unconfirmed"
                # else "Codeine - unknown": its reaction is unknown, the allergy is not
            k += 1
    return reading


# words before an allergen that make its allergy a plan, not a finding
_SCREENING = frozenset({"screen", "screening", "screened", "evaluate", "evaluation", "eval"})
# words of a relative's clause between the relative and the allergen ("Wife is allergic to
# shellfish", "Mother has a peanut allergy", "husband also allergic to PCN")
_RELATIVE_LINKS = frozenset(
    {
        "is",
        "has",
        "had",
        "was",
        "also",
        "allergic",
        "allergy",
        "allergies",
        "to",
        "a",
        "an",
        "with",
        "the",
        "of",
        "history",
        ":",
        "-",
    }
)


def _about_others(note: _Note, k: int, stop: int) -> bool:
    """Whether the words from ``k`` after a "none" cue speak of other allergies or drugs:
    "denies other drug allergies", "no reaction to cephalexin"."""
    j = k
    while j < stop and j - k < 4:
        if note.norm(j) in {"other", "others", "any"} or j in note.drug_words:
            return True
        if j in note.others:
            return True
        j += 1
    return False


def _family_elsewhere(
    note: _Note, rules: AllergyRules, entity: Entity, lists: _Spans, first: int, end: int
) -> bool:
    """Whether the assertion stage reads the listed allergen ``entity`` as a relative's only
    for a relative outside its own item: "Allergies: amoxicillin (son), penicillin" lists
    penicillin as the patient's."""
    if not (entity.assertion.family and lists.covers(entity.start)):
        return False
    if entity.assertion.hypothetical:
        return False
    before = _before_words(note, rules, first, commas=False)
    after = _after_words(note, rules, end)
    return not any(_relative_word(note, rules, k) for k in (*before, *after))


def _relative_word(note: _Note, rules: AllergyRules, k: int) -> bool:
    norm = note.norm(k)
    for suffix in ("'s", "’s"):
        norm = norm.removesuffix(suffix)
    if norm in rules.child:
        return note.norm(k - 1) in rules.possessives
    return norm in rules.relatives or norm in _FAMILY_WORDS


_FAMILY_WORDS = frozenset(
    {
        "mother",
        "mom",
        "father",
        "dad",
        "sister",
        "brother",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "cousin",
        "niece",
        "nephew",
        "parent",
        "parents",
        "sibling",
        "siblings",
    }
)


def _relatives_own(note: _Note, rules: AllergyRules, before: range, after: range) -> bool:
    """Whether the allergen's own clause gives it to another person, by narrow patterns only:
    "<relative> (is/has) allergic to X", "<relative> has a X allergy", "family history of X
    allergy", "X (<relative>)" and "X - <relative>" where the bracket or the item names nothing
    but the relative.  An informant keeps the patient's allergy ("amoxicillin - rash per her
    son", "Daughter at bedside states pt is allergic to X", "Penicillin (pt and sister)")."""
    words = [note.norm(k) for k in before]
    if "family" in words and "history" in words:
        return True
    if (
        words[:1] == ["who"]
        and note.norm(before.start - 1) == ","
        and _relative_word(note, rules, before.start - 2)
    ):
        return True  # "Her husband, who has a peanut allergy"
    after_words = [note.norm(k) for k in after]
    if "family" in after_words and "history" in after_words:
        return True  # "nuts - family history only"
    for i, k in enumerate(before):
        if not _relative_word(note, rules, k):
            continue
        head = words[:i]
        if any(w not in rules.possessives for w in head):
            continue
        rest = words[i + 1 :]
        if rest and all(w in _RELATIVE_LINKS for w in rest):
            return True
    # after the allergen: a bracket or a marked item that names only the relative
    segment: list[int] = []
    for k in (*after, None):
        if k is None or note.norm(k) == ",":
            if _names_only_relative(note, rules, segment):
                return True  # "shellfish - wife, not patient", "Latex (family hx)"
            segment = []
        elif note.norm(k) not in rules.marks and note.norm(k) not in _BRACKETS:
            segment.append(k)
    return False


# words that may stand with a relative in a bracket or item that names only the relative
_WITH_RELATIVE = frozenset({"only", "'s", "hx", "history", "member", "members"})


def _names_only_relative(note: _Note, rules: AllergyRules, segment: list[int]) -> bool:
    named = [k for k in segment if _relative_word(note, rules, k)]
    return bool(named) and all(
        _relative_word(note, rules, k)
        or note.norm(k) in rules.possessives
        or note.norm(k) in _WITH_RELATIVE
        for k in segment
    )


# --- allergens that are no medication mention -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """A mention of one of ``other_allergens`` that the note states as an allergen."""

    first: int
    end: int
    """Its words are ``[first, end)``."""
    category: Category
    status: Verification
    cue: tuple[int, int] | None
    """The span of the allergy phrase that names it (None: an item of an allergy list)."""


def _other_candidates(
    note: _Note,
    rules: AllergyRules,
    blocks: Sequence[_Block],
    mentions: _Mentions,
    assertions: SpanAssertions | None,
) -> list[_Found]:
    """The mentions of ``other_allergens`` the note states as allergens, in text order: an
    item of an allergy list ("Allergies: latex, shellfish (anaphylaxis)") or the object of an
    allergy phrase ("allergic to peanuts and latex", "shellfish allergy"); not one a checklist
    answers ("Latex - No"), a negation, a relative or a hypothesis takes back (as
    ``assertions`` reads it: none without it), nor a word of a longer problem ("Cat scratch
    fever").  After a heading-like phrase ("Allergy:") only what ends its list item counts:
    "Allergy: latex gloves used in OR without problem" names no latex allergy."""
    if assertions is None:
        return []
    seq = note.seq
    spotted: dict[int, tuple[int, int, tuple[int, int] | None]] = {}  # first → end, at, cue
    for block in blocks:
        for first, stop in block.items:
            for k in _list_allergens(note, rules, first, stop):
                spotted.setdefault(k, (note.others[k][0], k, None))
    for k, word in enumerate(seq):
        if word.norm not in rules.cue_words:
            continue
        for cue in rules.before:  # "allergic to peanuts and latex"
            end = k + len(cue)
            if tuple(w.norm for w in seq[k:end]) != cue or not note.same_line(k, end - 1):
                continue
            span = (word.start, seq[end - 1].end)
            if cue[-1] in rules.marks:  # "Allergy: latex, eggs" is a list
                named = _list_allergens(note, rules, end, _item_stop(note, end, len(seq)))
            else:
                named = _named_after(note, rules, end)
            for j in named:
                spotted.setdefault(j, (note.others[j][0], k, span))
        found = rules.after.match_at(seq, k)
        if found is not None and _other_cue_after(note, rules, k, found.end):
            span = (word.start, seq[found.end - 1].end)
            for j in _named_before_cue(note, rules, k):
                spotted.setdefault(j, (note.others[j][0], j, span))
    order = [k for k in sorted(spotted) if _answer(note, rules, spotted[k][0]) is None]
    if not order:
        return []  # nothing to ask the assertion stage (which may be built on demand)
    kinds = {"medication": EntityType.MEDICATION}
    read = assertions(
        note.doc,
        [
            (
                seq[first].start,
                seq[spotted[first][0] - 1].end,
                kinds.get(note.others[first][1], EntityType.PROBLEM),
            )
            for first in order
        ],
    )
    out = []
    for first, assertion in zip(order, read, strict=True):
        end, at, named_by = spotted[first]
        status = _other_status(note, rules, first, end, at, mentions, assertion)
        if status is None:
            continue
        reading = _item_reading(note, rules, first, end)
        if reading == "none":
            continue  # "Wife allergic to shellfish", "eggs - pt not allergic", "outgrew"
        if reading == "unconfirmed":
            status = "unconfirmed"
        elif named_by is None:
            status = "confirmed"  # "pcn, ? shellfish": the doubt is shellfish's alone
        out.append(_Found(first, end, note.others[first][1], status, named_by))
    return out


def _list_allergens(note: _Note, rules: AllergyRules, first: int, stop: int) -> Iterator[int]:
    """The first word of each of ``other_allergens`` that is an item of the allergy list
    ``[first, stop)``: it starts the list or follows a list word ("latex, shellfish"), and
    its item ends with it (a mark, a list word, an allergy word or the list's end follows:
    not "Allergies: NKDA, cats at home")."""
    anchor = _skip_marks(note, rules, first, stop)
    for k in range(first, stop):
        other = note.others.get(k)
        if other is None:
            continue
        j = k - 1
        while j >= first and note.norm(j) == "?":  # "pcn, ? shellfish": an item in doubt
            j -= 1
        if j + 1 != anchor and note.norm(j) not in rules.list_words:
            continue
        end = other[0]
        following = note.norm(end)
        if (
            end >= stop
            or _is_punctuation(following)
            or following in rules.list_words
            or rules.after.match_at(note.seq, end) is not None
            or rules.intolerance.match_at(note.seq, end) is not None
            or _informant(note, rules, end, stop)
        ):
            yield k


# who may tell an allergy after "per" besides a relative ("sulfa per pt", "PCN per chart")
_INFORMANTS = frozenset({"pt", "patient", "chart", "records", "record"})


def _informant(note: _Note, rules: AllergyRules, k: int, stop: int) -> bool:
    """Whether words ``k``... up to ``stop``, a punctuation mark or a list word name only who
    tells the allergy: "sulfa per daughter", "latex per pt" (the item still ends with the
    allergen; "Latex (wife)" is the relative's own, "per" makes her the informant)."""
    if note.norm(k) not in rules.informant_before:
        return False
    j, named = k + 1, False
    while j < stop and note.same_line(k, j):
        norm = note.norm(j)
        if _is_punctuation(norm) or norm in rules.list_words:
            break
        if _relative_word(note, rules, j) or norm in _INFORMANTS:
            named = True
        elif norm not in rules.possessives:
            return False
        j += 1
    return named


def _named_after(note: _Note, rules: AllergyRules, k: int) -> Iterator[int]:
    """The first word of each of ``other_allergens`` an allergy phrase ending before word
    ``k`` names, on its line: "allergic to penicillin, latex and eggs" names latex and
    eggs (drugs are the allergen rules')."""
    first = k
    while k < len(note.seq) and k - first < rules.max_list_words and note.same_line(first, k):
        other = note.others.get(k)
        if other is not None:
            if _words_of(note, k, other[0]) not in rules.list_only:
                yield k
            k = other[0]
            continue
        norm = note.norm(k)
        if not (k in note.drug_words or norm in rules.list_words or norm in rules.filler):
            return
        k += 1


def _other_cue_after(note: _Note, rules: AllergyRules, k: int, end: int) -> bool:
    """Whether the allergy word(s) ``[k, end)`` make the words before them an allergen ("latex
    allergy"): not before a mark ("Latex allergy: none"), "to", a noun such as "shots" or a
    number."""
    following = note.norm(end)
    return note.same_line(k - 1, k) and not (
        following in rules.marks
        or following in rules.stop_after
        or following in rules.after_blockers
        or _is_number(following)
    )


def _named_before_cue(note: _Note, rules: AllergyRules, k: int) -> Iterator[int]:
    """The first word of each of ``other_allergens`` listed right before the allergy word
    ``k``: "peanut and latex allergies", "penicillin and shellfish allergy"."""
    j, steps = k - 1, 0
    while note.same_line(j, k) and steps < rules.max_list_words:
        start = note.other_ends.get(j)
        if start is not None:
            if _words_of(note, start, j + 1) not in rules.list_only:
                yield start
            j = start - 1
        elif j in note.drug_words:
            while j in note.drug_words and note.same_line(j, k):
                j -= 1
        else:
            return
        if not (note.same_line(j, k) and note.norm(j) in rules.list_words):
            return
        j -= 1
        steps += 1


def _words_of(note: _Note, first: int, end: int) -> tuple[str, ...]:
    return tuple(w.norm for w in note.seq[first:end])


def _other_status(
    note: _Note,
    rules: AllergyRules,
    first: int,
    end: int,
    at: int,
    mentions: _Mentions,
    assertion: Assertion,
) -> Verification | None:
    """The verification status of the allergen ``[first, end)`` named from word ``at`` (its
    first, or the allergy phrase's), ``assertion`` the assertion stage's reading of it: None
    when a negation ("denies latex allergy", "NKA, no latex"), a relative or a hypothesis
    takes it back, or when it is a word of a longer problem ("Cat scratch fever").  A negated
    one is lost rather than refuted: no drug rule vouches for the negation's scope here, and
    the problem extractor's refuted Condition ("Latex allergy: none") stays.  So does its
    unconfirmed Condition for an uncertain one that a problem mention holds ("Screen for
    latex allergy"): only a confirmed allergen takes the place of the Condition."""
    seq = note.seq
    start, stop = seq[first].start, seq[end - 1].end
    assertions = [assertion]
    own = set(_words_of(note, first, end))
    for entity in mentions.overlapping(start, stop):
        named = set(_words_of(note, note.first(entity.start), note.first(entity.end)))
        if not (named <= own or named & rules.cue_words):
            return None  # "Cat scratch fever", "dog bite": the word names no allergen there
        assertions.append(entity.assertion)
    # "sulfa per daughter": the relative tells the patient's allergy, it is not hers
    told = _informant(note, rules, end, len(seq))
    if _negated_before(note, rules, min(first, at)) or any(
        a.negated or (a.family and not told) or a.hypothetical for a in assertions
    ):
        return None
    if any(a.uncertain for a in assertions):
        return None if len(assertions) > 1 else "unconfirmed"
    return "confirmed"


def _other_reactions(
    note: _Note,
    rules: AllergyRules,
    found: Sequence[_Found],
    problems: Sequence[Entity],
    absorbed: set[str],
) -> list[tuple[str, ...]]:
    """The reactions of each allergen of ``found``: the affirmed problems of its own item that
    a mark, a bracket or a word such as "causes" attaches to it ("Shellfish - anaphylaxis",
    "latex (hives)", "Latex allergy (hives)", "latex causes rash"), up to the end of the item
    (see :func:`_attached_end`).  A problem that merely follows it is another item of the
    same list ("Known latex allergy, HTN, DM2": HTN stays a Condition)."""
    eligible = sorted(
        (
            e
            for e in problems
            if e.id not in absorbed
            and not (e.assertion.negated or e.assertion.hypothetical or e.assertion.family)
        ),
        key=_position,
    )
    starts = [e.start for e in eligible]
    problem_starts = {note.first(e.start) for e in eligible}
    out: list[tuple[str, ...]] = []
    for f in found:
        after = note.seq[f.end - 1].end
        end = _attached_end(note, rules, f.end, problem_starts)
        if end is None:
            out.append(())
            continue
        i = bisect_left(starts, after)
        targets = []
        while i < len(eligible) and eligible[i].start < end:
            targets.append(eligible[i].id)
            i += 1
        out.append(tuple(targets))
    return out


def _attached_end(note: _Note, rules: AllergyRules, k: int, problem_starts: set[int]) -> int | None:
    """Where the reactions of the non-drug allergen whose words end before word ``k`` end
    (a working offset), or None when nothing attaches reactions to it.  After the allergy
    words ("latex allergy") a mark, an opening bracket or one of ``attach`` must follow
    ("latex - hives", "shellfish (anaphylaxis)", "peanuts: swelling", "latex causes rash");
    the reactions then run to the end of the bracket, or to a ".", ";", ",", list word,
    clause word or another allergen on the line, except that a "," or list word followed by a
    reaction word of ``item_words`` goes on ("shellfish - hives, swelling")."""
    seq = note.seq
    found = rules.after.match_at(seq, k) or rules.intolerance.match_at(seq, k)
    if found is not None and note.same_line(k - 1, found.end - 1):
        k = found.end
    if not note.same_line(k - 1, k):
        return None
    opener = note.norm(k)
    if not (opener in rules.marks or opener in _OPEN or opener in rules.attach):
        return None
    first, depth = k, 0
    while note.same_line(first, k):
        norm = note.norm(k)
        if norm in _OPEN:
            depth += 1
        elif norm in _CLOSE:
            depth -= 1
            if depth <= 0 and opener in _OPEN:
                break
        elif k > first and (k in note.drug_words or k in note.others):
            break
        elif depth <= 0 and k > first:
            if norm in _ITEM_BREAKS or note.starts_clause(k):
                break
            if norm in rules.list_words and not (
                k + 1 in problem_starts and note.norm(k + 1) in rules.item_words
            ):
                break
        k += 1
    return seq[k].start if k < len(seq) else len(note.doc.text)


def _other_allergens(
    note: _Note, rules: AllergyRules, found: Sequence[_Found], reactions: Sequence[tuple[str, ...]]
) -> tuple[OtherAllergen, ...]:
    """One allergen per allergen word and status, its mentions and reactions gathered."""
    doc, seq = note.doc, note.seq
    groups: dict[tuple[tuple[str, ...], Verification], list[int]] = {}
    for n, f in enumerate(found):
        groups.setdefault((_words_of(note, f.first, f.end), f.status), []).append(n)
    out = []
    for (key, status), members in groups.items():
        spans = tuple((seq[found[n].first].start, seq[found[n].end - 1].end) for n in members)
        targets = dict.fromkeys(t for n in members for t in reactions[n])
        first = found[members[0]]
        offset = doc.original_span(*spans[0])[0]
        out.append(
            OtherAllergen(
                text=" ".join(doc.text[spans[0][0] : spans[0][1]].split()),
                category=first.category,
                verification=status,
                spans=spans,
                reactions=tuple(targets),
                intolerance=any(
                    _called_intolerance(note, rules, seq[found[n].first].start, found[n].end)
                    for n in members
                ),
                id=resource_id(doc.source, "AllergyIntolerance", " ".join(key), offset),
            )
        )
    return tuple(out)


# --- drugs of an allergies section that are taken ---------------------------------------------


def _taken(
    note: _Note,
    rules: AllergyRules,
    blocks: Sequence[_Block],
    allergens: Mapping[str, Verification],
    others: Sequence[_Found],
    dropped: set[str],
) -> frozenset[str]:
    """The drugs of an allergies section the note says the patient takes: a line that starts
    with the drug and orders it continued ("Allergies: Latex\nMetoprolol - continue"), unless
    the note names a drug class as a confirmed allergen (``lists.class_allergens``): the drug
    may then be of that class ("Sulfa - rash\nBactrim - continue", "Penicillin - hives\n
    Amoxicillin - continue"), which the terminology cannot tell (it holds no drug classes), so
    it is neither taken nor an allergen.  A specific drug ("Codeine - nausea\nMetoprolol -
    continue"), contrast, iodine, a food, latex, an allergen in doubt ("? PCN") or one its
    line takes back ("PCN - tolerated amoxicillin, not true allergy") blocks nothing.  A dosed
    line makes none either ("Sulfa - rash\nBactrim DS 1 tab bid").  Nothing
    else makes one, and no word such as "on", "taking" or "using" does: the narrative
    of an allergies section tells of reactions ("Aspirin - GI bleed on aspirin 325 mg",
    "developed SJS while taking Bactrim", "takes amoxicillin without problems"), so its
    drugs are lost rather than made active.  Never a drug named like an allergen, a tolerated
    one, one named as no allergen ("premedicate with prednisone") or one that causes a
    problem of the block."""
    spans = [
        (note.first(e.start), note.first(e.end))
        for e in note.medications
        if allergens.get(e.id) == "confirmed"
    ]
    spans += [(f.first, f.end) for f in others if f.status == "confirmed"]
    if any(_class_allergen(note, rules, first, end) for first, end in spans):
        return frozenset()
    doc = note.doc
    inside = _Spans((block.section.start, block.section.end) for block in blocks)
    block_spans = _Spans((block.start, block.end) for block in blocks)
    entities = {e.id: e for e in doc.entities}
    told = set()
    for rel in doc.relations:
        source, target = entities.get(rel.source), entities.get(rel.target)
        if (
            rel.type == "causes"
            and source is not None
            and target is not None
            and block_spans.covers(source.start)
            and block_spans.covers(target.start)
        ):
            told.add(source.id)
    named = {entities[i].text.lower() for i in allergens if i in entities}
    out = set()
    for entity in note.medications:
        if (
            entity.section not in ALLERGY_SECTIONS
            or entity.id in allergens
            or entity.id in told
            or entity.id in dropped
            or entity.text.lower() in named
            or not inside.covers(entity.start)
            or _tolerated(note, rules, entity)
        ):
            continue
        first = note.first(entity.start)
        answer = _answer(note, rules, note.first(entity.end))
        if answer in rules.taking and _starts_line(note, rules, first):
            out.add(entity.id)  # "Metoprolol - continue"
    return frozenset(out)


def _class_allergen(note: _Note, rules: AllergyRules, first: int, end: int) -> bool:
    """Whether the allergen ``[first, end)`` is a drug class of ``lists.class_allergens``
    ("sulfa", "PCN", "ACE inhibitors") that nothing after it on its line or ";"-item takes
    back: no tolerance word and no "none" cue ("PCN - tolerated amoxicillin, not true
    allergy")."""
    if _words_of(note, first, end) not in rules.class_allergens:
        return False
    k = end
    while note.same_line(first, k) and note.norm(k) != ";":
        if note.norm(k) in rules.tolerance:
            return False
        found = rules.item_cues.match_at(note.seq, k)
        if found is not None and found.payload == "none":
            return False
        k = found.end if found is not None else k + 1
    return True


def _starts_line(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Word ``k`` is the first of its line, past a bullet or a number ("- Metoprolol")."""
    j = k - 1
    while note.same_line(j, k) and (
        note.norm(j) in rules.bullets or _is_number(note.norm(j)) or note.norm(j) in {".", ")"}
    ):
        j -= 1
    return not note.same_line(j, k)


def _line_has_problem(note: _Note, k: int) -> bool:
    """A problem mention stands on word ``k``'s line ("Diphenhydramine 25 mg prn itching")."""
    j = k
    while note.same_line(j - 1, k):
        j -= 1
    while note.same_line(j, k):
        if j in note.problem_starts:
            return True
        j += 1
    return False


# --- reactions --------------------------------------------------------------------------------


def _reactions(
    note: _Note,
    rules: AllergyRules,
    allergens: Mapping[str, Verification],
    absorbed: set[str],
) -> dict[str, tuple[str, ...]]:
    """The problems each allergen (not refuted) causes, by ``causes`` relations, inside its
    own item: after the allergen, before the next drug or the next item ("Penicillin (rash),
    sulfa - hives": hives is sulfa's even where sulfa is no medication mention), on its line.
    What comes before the allergen is another item of the same list ("Asthma and allergy to
    aspirin", "Pregnancy, coagulopathy, allergy to bupivacaine")."""
    doc = note.doc
    problems = {
        e.id: e
        for e in doc.entities
        if e.type is EntityType.PROBLEM
        and e.id not in absorbed
        and not (e.assertion.negated or e.assertion.hypothetical or e.assertion.family)
    }
    sources = {e.id: e for e in note.medications if allergens.get(e.id, "refuted") != "refuted"}
    problem_starts = {note.first(e.start) for e in problems.values()}
    ends: dict[str, int] = {}
    found: dict[str, dict[str, Entity]] = {}
    for rel in doc.relations:
        target, source = problems.get(rel.target), sources.get(rel.source)
        if rel.type != "causes" or target is None or source is None:
            continue
        if source.id not in ends:
            ends[source.id] = _item_end(
                note, rules, note.first(source.start), note.first(source.end), problem_starts
            )
        if source.end <= target.start < ends[source.id]:
            found.setdefault(source.id, {})[target.id] = target
    for source_id, targets in found.items():
        # "codeine (nausea; vomiting)": the bracket right after the allergen holds its
        # reactions, where the relations stage linked only the first of them
        k = note.first(sources[source_id].end)
        if note.norm(k) not in _OPEN or not note.same_line(k - 1, k):
            continue
        close = k + 1
        while note.same_line(k, close) and note.norm(close) not in _CLOSE:
            close += 1
        if not note.same_line(k, close):
            continue
        for problem in problems.values():
            if note.seq[k].end <= problem.start and problem.end <= note.seq[close].start:
                targets[problem.id] = problem
    return {
        source: tuple(e.id for e in sorted(targets.values(), key=_position))
        for source, targets in found.items()
    }


_ITEM_BREAKS = frozenset({".", ";"})


def _item_end(
    note: _Note, rules: AllergyRules, first: int, k: int, problem_starts: set[int]
) -> int:
    """Where the list item of the allergen whose words are ``[first, k)`` ends: at the next
    allergen, the end of its line or sentence, or a list mark outside brackets that no problem
    mention follows ("penicillin (rash), sulfa - hives" ends before "sulfa"; "codeine -> hives,
    nausea" runs on)."""
    seq = note.seq
    depth = 0
    while note.same_line(first, k) and k not in note.drug_words and k not in note.others:
        norm = seq[k].norm
        if norm == "." or (norm == ";" and depth == 0):
            break  # "codeine (nausea; vomiting)": both are its reactions
        if norm == "(":
            depth += 1
        elif norm == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and norm in rules.list_words and k + 1 not in problem_starts:
            break
        k += 1
    return seq[k].start if k < len(seq) else len(note.doc.text)


def _block_reactions(doc: ClinicalDocument, blocks: Sequence[_Block]) -> set[str]:
    """Problems of an allergy block that a drug of the block ``causes``, allergen or not: a
    reaction the rules could not give an allergen ("ALLERGIES: NKDA\nHad a rash with
    penicillin", a line that is no list item) is no current problem either, so makes no
    Condition."""
    spans = _Spans((block.start, block.end) for block in blocks)
    entities = {e.id: e for e in doc.entities}
    out = set()
    for rel in doc.relations:
        source, target = entities.get(rel.source), entities.get(rel.target)
        if rel.type != "causes" or source is None or target is None:
            continue
        if source.type is not EntityType.MEDICATION or target.type is not EntityType.PROBLEM:
            continue
        if target.assertion.negated or target.assertion.family:
            continue
        if spans.covers(source.start) and spans.covers(target.start):
            out.add(target.id)
    return out


# --- "no known allergies" ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A "no known allergies" phrase; ``blocked`` when a stop word follows ("no known allergies
    except penicillin"): no statement then."""

    span: tuple[int, int]
    kind: Kind
    blocked: bool
    end: int
    """Index of the word after the phrase."""


def _no_known_phrases(note: _Note, rules: AllergyRules, blocks: Sequence[_Block]) -> list[_Phrase]:
    """The "no known allergies" phrases: in the allergy list of an allergies section, or right
    after a heading word ("Allergies: NKDA", span from the heading word)."""
    seq = note.seq
    found: dict[int, _Phrase] = {}  # by the index of the phrase's first word
    for block in blocks:
        heading = {w.norm for w in seq[note.first(block.section.start) : note.first(block.start)]}
        if heading & rules.other_qualifiers:
            continue
        narrowed = bool(heading & rules.drug_qualifiers)
        anchor = _skip_marks(note, rules, block.body, block.stop)
        for k in range(block.body, block.stop):
            phrase = _phrase_at(note, rules, k, anchored=k == anchor)
            if phrase is None or phrase.span[1] > block.list_end:
                continue
            if narrowed and k == anchor:
                phrase = _Phrase(phrase.span, "drug", phrase.blocked, phrase.end)
            found.setdefault(k, phrase)
    for i, word in enumerate(seq):
        if word.norm not in rules.heading_words or not _opens_statement(note, rules, i):
            continue
        k = _skip_marks(note, rules, i + 1, len(seq))
        if not note.same_line(i, k):
            continue
        phrase = _phrase_at(note, rules, k, anchored=True)
        if phrase is None:
            continue
        before = note.norm(i - 1) if note.same_line(i - 1, i) else ""
        narrowed = before in rules.drug_qualifiers
        qualified = narrowed or before in rules.neutral_qualifiers
        start = seq[i - 1].start if qualified else word.start
        earlier = found.get(k)
        if earlier is not None:
            start = min(start, earlier.span[0])
            narrowed = narrowed or earlier.kind == "drug"
        kind: Kind = "drug" if narrowed else phrase.kind
        found[k] = _Phrase((start, phrase.span[1]), kind, phrase.blocked, phrase.end)
    return [found[k] for k in sorted(found)]


def _opens_statement(note: _Note, rules: AllergyRules, i: int) -> bool:
    """Whether heading word ``i`` may introduce "no known allergies": nothing, punctuation or
    a drug or neutral qualifier before it on its line ("Allergies: none", "Drug allergies:
    none"; not "Tape allergy: none", "Penicillin allergy: none")."""
    if not note.same_line(i - 1, i):
        return True
    before = note.norm(i - 1)
    return (
        _is_punctuation(before)
        or before in rules.drug_qualifiers
        or before in rules.neutral_qualifiers
    )


def _skip_marks(note: _Note, rules: AllergyRules, k: int, stop: int) -> int:
    """The first word from ``k`` on that is no heading mark (":" "-")."""
    while k < stop and note.seq[k].norm in rules.marks:
        k += 1
    return k


def _phrase_at(note: _Note, rules: AllergyRules, k: int, *, anchored: bool) -> _Phrase | None:
    """The "no known allergies" phrase that starts at word ``k``; an anchored-only phrase
    ("none") counts only where the allergy list starts, and an "alone" one ("denies") only with
    nothing but punctuation after it on its line."""
    seq = note.seq
    if k >= len(seq) or not rules.no_known.may_start(seq[k].norm):
        return None
    found = rules.no_known.match_at(seq, k)
    if found is None:
        return None
    kind, mode = found.payload
    if mode != "any" and not anchored:
        return None
    if mode == "alone" and not _line_ends(note, k, found.end):
        return None
    following = note.norm(found.end)
    blocked = following in rules.stop_after or following in rules.exceptions
    return _Phrase((seq[k].start, seq[found.end - 1].end), kind, blocked, found.end)


def _line_ends(note: _Note, k: int, j: int) -> bool:
    """Whether nothing but punctuation follows, from word ``j`` to the end of word ``k``'s
    line."""
    while note.same_line(k, j):
        if not _is_punctuation(note.seq[j].norm):
            return False
        j += 1
    return True


def _statements(
    doc: ClinicalDocument,
    rules: AllergyRules,
    phrases: Iterable[_Phrase],
    contradicted: set[Kind],
) -> tuple[NoKnownAllergy, ...]:
    """One statement per kind the note does not contradict; "no known allergies" makes "no
    known drug allergies" moot."""
    spans: dict[Kind, list[tuple[int, int]]] = {}
    for phrase in phrases:
        if phrase.kind not in contradicted:
            spans.setdefault(phrase.kind, []).append(phrase.span)
    if "all" in spans:
        spans.pop("drug", None)
    out = []
    for kind, found in spans.items():
        label = rules.labels[kind]
        first_offset = doc.original_span(*found[0])[0]
        rid = resource_id(doc.source, "AllergyIntolerance", label.lower(), first_offset)
        out.append(NoKnownAllergy(kind, label, tuple(found), rid))
    return tuple(sorted(out, key=lambda s: s.spans[0]))


# --- what contradicts "no known allergies" ----------------------------------------------------


def _contradicted(
    note: _Note,
    rules: AllergyRules,
    blocks: Sequence[_Block],
    allergens: Mapping[str, Verification],
    phrases: Sequence[_Phrase],
    others: Sequence[_Found],
    taken: frozenset[str],
) -> set[Kind]:
    """The kinds of "no known allergies" statement the note contradicts: an allergen that is
    no medication mention contradicts "no known allergies", and "no known drug allergies" too
    when it is a drug class ("sulfa", "PCN")."""
    if any(status != "refuted" for status in allergens.values()):
        return set(KINDS)
    if any(f.category == "medication" for f in others):
        return set(KINDS)
    out: set[Kind] = {"all"} if others else set()
    zone = _Spans(span for block in blocks for span in block.counted)
    stated = _Spans(p.span for p in phrases if not p.blocked)
    for entity in note.doc.entities:
        if entity.type not in (EntityType.PROBLEM, EntityType.MEDICATION):
            continue
        assertion = entity.assertion
        if assertion.negated or assertion.family or assertion.hypothetical:
            continue
        if not zone.covers(entity.start) or stated.overlaps(entity) or entity.id in taken:
            continue
        if entity.type is EntityType.MEDICATION:
            return set(KINDS)  # "ALLERGIES: NKDA\nHad a rash with penicillin"
        out.add("all")  # "Allergies: NKA\nShellfish - anaphylaxis"
    taken_words = {
        k
        for e in note.medications
        if e.id in taken
        for k in range(note.first(e.start), note.first(e.end))
    }
    for k, word in enumerate(note.seq):  # "Allergies: NKDA; PCN", "NKA; latex"
        if k in taken_words:
            continue  # "Allergies: NKDA\nAspirin 81 mg daily": a drug taken, no allergen
        kind = _allergen_word_kind(note, rules, k)
        if kind is None or not zone.covers(word.start):
            continue
        if kind == "drug":
            return set(KINDS)
        out.add("all")
    # the item of an allergen that is no drug names nothing more: "NKDA, latex (hives)"
    seq = note.seq
    explained = _Spans(
        (seq[f.first].start, _item_end(note, rules, f.first, f.end, note.problem_starts))
        for f in others
    )
    for named in _allergy_cues(note, rules, blocks, phrases, explained):
        out.add("all")
        if not named or not all(note.seq[k].norm in rules.non_drug for k in named):
            return set(KINDS)  # "allergic reaction", "allergic to PCNX": maybe a drug
    return out


def _allergen_word_kind(note: _Note, rules: AllergyRules, k: int) -> Kind | None:
    """Whether word ``k`` names an allergen class the drug lexicon may not know ("drug":
    sulfa, PCN, contrast) or no drug ("all": latex, shellfish), said without a negation just
    before or after it ("no latex", "Latex - No"); such a word in an allergy block speaks
    against a "no known allergies" statement there, wherever it stands in the list."""
    norm = note.seq[k].norm
    kind: Kind | None = (
        "drug" if norm in rules.drug_classes else "all" if norm in rules.non_drug else None
    )
    if kind is None or _negated_before(note, rules, k):
        return None
    for j in range(k + 1, min(k + 4, len(note.seq))):
        after = note.seq[j].norm
        if not note.same_line(k, j) or after in rules.exceptions:
            break
        if after in rules.negations or after in {"ok", "okay", "tolerated", "tolerates"}:
            return None
    return kind


def _allergy_cues(
    note: _Note,
    rules: AllergyRules,
    blocks: Sequence[_Block],
    phrases: Sequence[_Phrase],
    explained: _Spans,
) -> Iterator[list[int]]:
    """The words each allergy cue of the note names ([] when it names none), for the cues that
    no negation, relative or hypothesis takes back: "allergic to peanuts and latex", "latex
    allergy", "Allergies: shellfish", "Allergies: NKA, latex", "no known allergies except
    shellfish", "allergic reaction".  A medication mention is left to the allergen rules."""
    seq = note.seq
    quiet = _Spans(
        (e.start, e.end)
        for e in note.doc.entities
        if e.type is EntityType.PROBLEM
        and (e.assertion.negated or e.assertion.family or e.assertion.hypothetical)
    )
    for block in blocks:  # "Allergies:\nShellfish - hives", "Allergies: NKA, latex"
        for first, stop in block.items:
            items = _list_items(note, rules, first, stop, quiet, explained)
            if items:
                yield items
    for phrase in phrases:  # "Allergies: none except latex"
        if note.norm(phrase.end) in rules.exceptions:
            yield _named(note, rules, phrase.end + 1, len(seq))
    for k, word in enumerate(seq):
        if rules.no_known.may_start(word.norm):  # "no known allergies other than bees"
            found = rules.no_known.match_at(seq, k)
            if (
                found is not None
                and found.payload[1] == "any"
                and note.norm(found.end) in rules.exceptions
            ):
                yield _named(note, rules, found.end + 1, len(seq))
        if word.norm not in rules.cue_words:
            continue
        if _after_cue(note, rules, k, quiet):
            yield _named_before(note, rules, k - 1)
        for cue in (*rules.before, *rules.reactions):
            end = k + len(cue)
            if tuple(w.norm for w in seq[k:end]) != cue or not note.same_line(k, end - 1):
                continue
            if _negated_before(note, rules, k) or quiet.overlaps_span(word.start, seq[end - 1].end):
                continue
            if cue in rules.reactions:
                yield _named(note, rules, end, len(seq))
            elif cue[-1] in rules.marks:  # "Food allergies: peanuts", "Allergies: NKA, latex"
                items = _list_items(note, rules, end, len(seq), quiet, explained)
                if items:
                    yield items
            elif note.same_line(k, end) and _names_allergy(note, rules, end, quiet):
                yield _named(note, rules, end, len(seq))


_SENTENCE_ENDS = frozenset({";", ".", "!"})


def _list_items(
    note: _Note, rules: AllergyRules, k: int, stop: int, quiet: _Spans, explained: _Spans
) -> list[int]:
    """The words of an allergy list from word ``k`` (to ``stop``, the end of its line or
    sentence, a ";" or a word that starts another clause) that name an allergen no other rule
    reads, after its "no known allergies" phrase if it has one ("Allergies: NKA, latex" names
    latex; "The patient has no known drug allergies" names nothing): not a medication mention,
    a negated problem, what a negation word starts ("NKA, no latex"), nor a word of an
    ``explained`` span (the item of an allergen that is no drug, its reaction too)."""
    seq = note.seq
    first = k
    anchor = _skip_marks(note, rules, k, stop)
    out: list[int] = []
    negated = False
    while (
        k < stop
        and note.same_line(first, k)
        and seq[k].norm not in _SENTENCE_ENDS
        and not note.starts_clause(k)
    ):
        phrase = _phrase_at(note, rules, k, anchored=k == anchor)
        if phrase is not None:
            out, negated = [], False  # what came before the phrase introduced it
            k = phrase.end
            continue
        word = seq[k]
        if word.norm in rules.negations:
            negated = True
        elif _is_punctuation(word.norm) and word.norm not in rules.marks:
            negated = False
        elif not (
            negated
            or _is_punctuation(word.norm)
            or word.norm in rules.list_words
            or word.norm in rules.filler
            or word.norm in rules.stop_after
            or word.norm in rules.exceptions
            or k in note.drug_words
            or quiet.overlaps_span(word.start, word.end)
            or explained.overlaps_span(word.start, word.end)
        ):
            out.append(k)
        k += 1
    return out


def _after_cue(note: _Note, rules: AllergyRules, k: int, quiet: _Spans) -> bool:
    """Whether word ``k`` is the allergy word of "X allergy" that names an allergy: X a word
    on its line that names an allergen (not "no", "known", "drug"; a drug too, even where the
    allergen rules do not read it: "Meds: ... Penicillin allergy."), no noun or number after it
    ("allergy shots", "Claritin Allergy 10 mg"), no "none" after a mark ("Tape allergy: none"),
    and no negation before X ("denies penicillin allergy")."""
    if rules.after.match_at(note.seq, k) is None or not note.same_line(k - 1, k):
        return False
    before = note.norm(k - 1)
    if (
        not before.isalpha()
        or before in rules.generic_before
        or before in rules.negations
        or before in rules.list_words
        or before in rules.heading_words
    ):
        return False
    following = note.norm(k + 1)
    if following in rules.after_blockers or _is_number(following):
        return False
    if following in rules.marks:
        after = _skip_marks(note, rules, k + 1, len(note.seq))
        if note.same_line(k, after) and not _names_allergy(note, rules, after, quiet):
            return False
    seq = note.seq
    return not _negated_before(note, rules, k - 1) and not quiet.overlaps_span(
        seq[k - 1].start, seq[k].end
    )


def _names_allergy(note: _Note, rules: AllergyRules, k: int, quiet: _Spans) -> bool:
    """Whether what starts at word ``k`` names an allergen no other rule reads: not a "no known
    allergies" phrase ("none"), a negation ("nothing"), a medication mention, nor a negated
    problem."""
    if k >= len(note.seq):
        return False
    norm = note.seq[k].norm
    if norm in rules.negations or k in note.drug_words:
        return False
    if _phrase_at(note, rules, k, anchored=True) is not None:
        return False
    return not quiet.overlaps_span(note.seq[k].start, note.seq[k].end)


def _negated_before(note: _Note, rules: AllergyRules, k: int) -> bool:
    """Whether a negation word stands within the window before word ``k`` on its line, with no
    punctuation or exception ("but") between."""
    j = k - 1
    while j >= 0 and k - j <= rules.window and note.same_line(j, k):
        norm = note.seq[j].norm
        if norm in rules.negations:
            return True
        if (_is_punctuation(norm) and norm != "?") or norm in rules.exceptions:
            return False
        j -= 1
    return False


def _named(note: _Note, rules: AllergyRules, k: int, stop: int) -> list[int]:
    """The words a cue names from word ``k`` on: words of its line up to punctuation other than
    a list mark, or a word that starts another clause ("peanuts and latex")."""
    out: list[int] = []
    first = k
    while k < stop and k - first < rules.max_list_words and note.same_line(first, k):
        norm = note.seq[k].norm
        if norm in rules.list_words or norm in rules.filler:
            k += 1
            continue
        if _is_punctuation(norm) or note.starts_clause(k):
            break
        out.append(k)
        k += 1
    return out


def _named_before(note: _Note, rules: AllergyRules, k: int) -> list[int]:
    """The words "X allergy" names: X, and the words listed before it ("peanut and latex
    allergies")."""
    out = [k]
    while note.same_line(k - 2, k) and note.norm(k - 1) in rules.list_words:
        k -= 2
        if not note.norm(k).isalpha():
            break
        out.append(k)
    return out


# --- problems that make no Condition ----------------------------------------------------------


def _bare_allergy_words(
    note: _Note,
    rules: AllergyRules,
    problems: Iterable[Entity],
    phrases: _Spans,
    allergy_named: bool,
) -> set[str]:
    """Problem mentions that are only the word "allergy"/"allergies" and make no Condition: a
    topic ("Medications and allergies reviewed"), or a negated one where the note names an
    allergy, inside a "no known allergies" phrase (a blocked one too: "no known allergies
    except penicillin"), or after a word that names the allergen ("Tape allergy: none" says
    nothing of other allergies)."""
    bare = rules.heading_words | rules.drug_qualifiers | rules.neutral_qualifiers
    out = set()
    for entity in problems:
        first, after = note.first(entity.start), note.first(entity.end)
        names = {note.seq[k].norm for k in range(first, after)}
        if not names & rules.heading_words or not names <= bare:
            continue
        if not entity.assertion.negated:
            if note.same_line(first, after) and note.norm(after) in rules.topic_after:
                out.add(entity.id)
        elif allergy_named or phrases.overlaps(entity) or _qualified(note, rules, entity):
            out.add(entity.id)
    return out


def _answered_allergies(note: _Note, rules: AllergyRules, problems: Iterable[Entity]) -> set[str]:
    """Problem mentions that name an allergy, that no negation takes back, and that a
    checklist answers with a denial right after them: "Penicillin allergy - No", "Latex
    allergy? no".  Their Condition would state the allergy the answer denies."""
    out = set()
    for entity in problems:
        if entity.assertion.negated:
            continue  # "Penicillin allergy: none" is the refuted Condition it says
        first, after = note.first(entity.start), note.first(entity.end)
        if not any(note.norm(k) in rules.heading_words for k in range(first, after)):
            continue
        answer = _answer(note, rules, after)
        if answer is not None and answer not in rules.taking:
            out.add(entity.id)
    return out


def _relatives_allergies(note: _Note, rules: AllergyRules, problems: Iterable[Entity]) -> set[str]:
    """Problem mentions that name an allergy ("penicillin allergy") in a clause that gives it to
    another person, by the narrow patterns of an allergen's own item ("Her husband, who has a
    penicillin allergy, is at the bedside", "Wife has a latex allergy"): no Condition of the
    patient's.  The assertion stage reads no spouse as a relative, and "who" ends its scopes;
    one it reads as a relative's is left to it (a FamilyMemberHistory)."""
    out = set()
    for entity in problems:
        assertion = entity.assertion
        if assertion.negated or assertion.family or assertion.hypothetical:
            continue
        first, after = note.first(entity.start), note.first(entity.end)
        if not any(note.norm(k) in rules.heading_words for k in range(first, after)):
            continue
        if first - 1 in note.other_ends and note.same_line(first - 1, first):
            first = note.other_ends[first - 1]  # "a peanut [allergy]": from the allergen on
        elif first - 1 in note.drug_words and note.same_line(first - 1, first):
            first = _first_of(note, first - 1)
        before = _before_words(note, rules, first, commas=False)
        if _relatives_own(note, rules, before, _after_words(note, rules, after)):
            out.add(entity.id)
    return out


def _qualified(note: _Note, rules: AllergyRules, entity: Entity) -> bool:
    """Whether a word that names an allergen stands right before ``entity`` on its line."""
    k = note.first(entity.start)
    before = note.norm(k - 1)
    return (
        note.same_line(k - 1, k)
        and before.isalpha()
        and before not in rules.generic_before
        and before not in rules.negations
        and before not in rules.list_words
    )


# --- helpers ----------------------------------------------------------------------------------


class _Spans:
    """Working-text spans, searched by bisection (no span-by-span scan per mention)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self.starts = [start for start, _ in ordered]
        self.reach = list(accumulate((end for _, end in ordered), max))
        """The furthest end among the spans up to each one."""

    def overlaps_span(self, start: int, end: int) -> bool:
        """Whether a span overlaps ``[start, end)``."""
        i = bisect_left(self.starts, end)
        return i > 0 and self.reach[i - 1] > start

    def overlaps(self, entity: Entity) -> bool:
        """Whether a span overlaps the mention."""
        return self.overlaps_span(entity.start, entity.end)

    def covers(self, offset: int) -> bool:
        """Whether a span holds ``offset``."""
        i = bisect_right(self.starts, offset)
        return i > 0 and self.reach[i - 1] > offset


class _Mentions:
    """Mentions searched by where they lie (bisection over their starts)."""

    _LOOK_BACK = 8
    """How many mentions that start before a span are checked for overlap: mentions of one
    kind seldom nest deeper."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities = sorted(entities, key=_position)
        self.starts = [e.start for e in self.entities]

    def overlapping(self, start: int, end: int) -> list[Entity]:
        """The mentions that overlap ``[start, end)`` (a bounded look back)."""
        i = bisect_left(self.starts, end)
        return [e for e in self.entities[max(i - self._LOOK_BACK, 0) : i] if e.end > start]


def _position(entity: Entity) -> tuple[int, int, str]:
    return entity.start, entity.end, entity.id
