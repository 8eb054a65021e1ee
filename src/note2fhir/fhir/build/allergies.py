"""Allergy statements of one note, read from the document model for the AllergyIntolerance
builder: which medication mentions are allergens, which problem mentions are their reactions,
and where the note says it has no known allergies.  The rules (``allergy_rules.yaml``) lean
one way: an allergy the note does not state is never made, and "no known allergies" is never
stated when the note names an allergy.

* **Allergy list**: in an allergies section, from the heading to the end of the first line of
  the body, a ";", a heading-like word ("MEDS:", "Rx:") or a word that starts another clause
  ("NKDA. On aspirin", "Codeine (nausea), takes tramadol instead").  The **allergy block** runs
  on to the first blank line.
* **Allergen**: a medication mention in an allergy list, or one that an allergy phrase names on
  the same line ("allergic to penicillin and codeine", "allergy to MSO4", "sulfa allergy"; not
  "Claritin Allergy 10 mg", "Flonase and allergy shots", nor a product in a medications
  section).  Its verification status comes from its assertion: uncertain → ``unconfirmed``
  ("? allergy to beta blockers"), negated → ``refuted`` only inside an allergy phrase ("no
  allergy to penicillin"), else ``confirmed``.  A negated drug of a list without such a phrase,
  a drug after "tolerated", and a relative's or a hypothetical mention are no allergens.
* **Reaction**: a problem that an allergen (not refuted) ``causes`` by a relation of the
  relations stage ("Penicillin (rash)", "codeine -> hives"); outside an allergy list only one
  after the allergen.  A negated, hypothetical or family problem is none.
* **No known allergies**: a phrase in an allergy list or right after a heading word that starts
  a line or follows punctuation, "drug" or "known" ("Allergies: NKDA", "ALLERGY - none"; not
  "Tape allergy: none").  "No known allergies" is dropped when the note names any allergy: an
  allergen that is not refuted, an allergy cue that is not negated ("allergic to peanuts",
  "latex allergy", "Allergies: shellfish"), or a problem or medication of the allergy block
  ("Allergies: NKA\\nShellfish - anaphylaxis").  "No known drug allergies" is dropped by an
  allergen, a medication of the block, or a cue that names anything but non-drug allergens.

Problem mentions that are reactions, that are the "allergy" word of an allergen's phrase or
of a product's name ("Claritin Allergy"), or that lie inside a "no known allergies" phrase make
no Condition: the AllergyIntolerance says what they say.  Nor does a problem of an allergy block
that a drug of the block causes when the rules give that drug no allergen (a reaction, not a
current problem); a bare "allergies" used as a topic ("Medications and allergies reviewed");
or a negated bare "allergy"/"allergies" where the note names an allergy, inside a phrase that a
stop word blocked ("no known allergies except penicillin"), or after a word that names the
allergen ("Tape allergy: none": no tape allergy is no "no allergies").

Phrases are matched over the document's tokens, each look is bounded, spans are searched by
bisection, and the one regular expression (a blank line) has a single quantifier over one
character class, so the whole is linear (up to a logarithm) in the note's length.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
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
Mode = Literal["any", "anchored", "alone"]
KINDS: tuple[Kind, ...] = ("all", "drug")


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
    """Words that end the allergy list of an allergies section."""

    stops: list[str]
    tolerance: list[str]


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


class AllergyRuleTable(_Strict):
    """The versioned contents of ``allergy_rules.yaml``."""

    version: int
    headings: Headings
    no_known: NoKnown
    lists: Lists
    allergens: Allergens
    contradictions: Contradictions


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
    # the sentences stage's tokens; a document built without that stage is tokenised here
    note = _Note(doc, rules, words(doc.tokens or tokenize(doc.text)))
    blocks = [_block_of(note, rules, s) for s in sections]
    lists = _Spans((b.start, b.list_end) for b in blocks)
    allergens: dict[str, Verification] = {}
    cue_spans: list[tuple[int, int]] = []
    intolerances: set[str] = set()
    product: list[tuple[int, int]] = []  # "Claritin Allergy 10 mg": no allergy
    for entity in note.medications:
        status = allergen_status(entity)
        if status is None or _tolerated(note, rules, entity):
            continue
        cue = _cue_before(note, rules, entity) or _cue_after(note, rules, entity)
        listed = lists.covers(entity.start)
        if cue is None:
            product.extend(_product_word(note, rules, entity))
            if not listed or status == "refuted":
                continue  # "Allergies: NKDA. Not taking aspirin": no allergy phrase refutes it
        allergens[entity.id] = status
        if cue is not None:
            cue_spans.append(cue)
        if _called_intolerance(note, rules, entity):
            intolerances.add(entity.id)
    phrases = _no_known_phrases(note, rules, blocks)
    stated = _Spans(p.span for p in phrases if not p.blocked)
    contradicted = _contradicted(note, rules, blocks, allergens, phrases)
    problems = [e for e in doc.entities if e.type is EntityType.PROBLEM]
    cues = _Spans([*cue_spans, *product])
    absorbed = {e.id for e in problems if cues.overlaps(e) or stated.overlaps(e)}
    absorbed |= _bare_allergy_words(
        note, rules, problems, _Spans(p.span for p in phrases), "all" in contradicted
    )
    reactions = _reactions(note, rules, allergens, absorbed)
    absorbed |= {target for targets in reactions.values() for target in targets}
    absorbed |= _block_reactions(doc, blocks)
    return AllergyFacts(
        allergens=allergens,
        reactions=reactions,
        absorbed=frozenset(absorbed),
        no_known=_statements(doc, rules, [p for p in phrases if not p.blocked], contradicted),
        intolerances=frozenset(intolerances),
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
        return norm in rules.list_stops or norm in rules.tolerance or self.heading_like(k)


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
    stop = body
    while (
        stop < last
        and note.same_line(body, stop)
        and seq[stop].norm != ";"
        and not note.starts_clause(stop)
    ):
        stop += 1
    list_end = seq[stop - 1].end if stop > body else first
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
    return _Block(section, start, body, stop, list_end, end, tuple(counted))


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
    """ "tolerated amoxicillin", "tolerates cefazolin and ceftriaxone": no allergen."""
    first = note.first(entity.start)
    k = _walk_back(note, rules, first - 1)
    return note.same_line(k, first) and note.norm(k) in rules.tolerance


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


def _called_intolerance(note: _Note, rules: AllergyRules, entity: Entity) -> bool:
    """Whether the note calls the allergen an intolerance or a side effect: in its list item
    (up to the next drug, on its line) or in its section's heading."""
    section = note.doc.section_at(entity.start)
    if section is not None and section.name in ALLERGY_SECTIONS:
        for k in range(note.first(section.start), note.first(section.heading_end)):
            if rules.intolerance.match_at(note.seq, k) is not None:
                return True
    first = note.first(entity.end)
    k = first
    while (
        k < len(note.seq)
        and k - first < rules.max_list_words
        and note.same_line(first, k)
        and k not in note.drug_words
    ):
        if rules.intolerance.match_at(note.seq, k) is not None:
            return True
        k += 1
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
            ends[source.id] = _item_end(note, rules, source, problem_starts)
        if source.end <= target.start < ends[source.id]:
            found.setdefault(source.id, {})[target.id] = target
    return {
        source: tuple(e.id for e in sorted(targets.values(), key=_position))
        for source, targets in found.items()
    }


_ITEM_BREAKS = frozenset({".", ";"})


def _item_end(note: _Note, rules: AllergyRules, entity: Entity, problem_starts: set[int]) -> int:
    """Where the list item of an allergen ends: at the next drug, the end of its line or
    sentence, or a list mark outside brackets that no problem mention follows ("penicillin
    (rash), sulfa - hives" ends before "sulfa"; "codeine -> hives, nausea" runs on)."""
    seq = note.seq
    first = note.first(entity.start)
    k = note.first(entity.end)
    depth = 0
    while note.same_line(first, k) and k not in note.drug_words:
        norm = seq[k].norm
        if norm in _ITEM_BREAKS:
            break
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
    reaction the rules could not give an allergen ("ALLERGIES: NKDA\nPenicillin - rash", the
    penicillin on the line after the list) is no current problem either, so makes no
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
) -> set[Kind]:
    """The kinds of "no known allergies" statement the note contradicts."""
    if any(status != "refuted" for status in allergens.values()):
        return set(KINDS)
    out: set[Kind] = set()
    zone = _Spans(span for block in blocks for span in block.counted)
    stated = _Spans(p.span for p in phrases if not p.blocked)
    for entity in note.doc.entities:
        if entity.type not in (EntityType.PROBLEM, EntityType.MEDICATION):
            continue
        assertion = entity.assertion
        if assertion.negated or assertion.family or assertion.hypothetical:
            continue
        if not zone.covers(entity.start) or stated.overlaps(entity):
            continue
        if entity.type is EntityType.MEDICATION:
            return set(KINDS)  # "ALLERGIES: NKDA\nPenicillin - rash"
        out.add("all")  # "Allergies: NKA\nShellfish - anaphylaxis"
    for k, word in enumerate(note.seq):  # "Allergies: NKDA; PCN", "NKA; latex"
        kind = _allergen_word_kind(note, rules, k)
        if kind is None or not zone.covers(word.start):
            continue
        if kind == "drug":
            return set(KINDS)
        out.add("all")
    for named in _allergy_cues(note, rules, blocks, phrases):
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
    note: _Note, rules: AllergyRules, blocks: Sequence[_Block], phrases: Sequence[_Phrase]
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
        items = _list_items(note, rules, block.body, block.stop, quiet)
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
                items = _list_items(note, rules, end, len(seq), quiet)
                if items:
                    yield items
            elif note.same_line(k, end) and _names_allergy(note, rules, end, quiet):
                yield _named(note, rules, end, len(seq))


_SENTENCE_ENDS = frozenset({";", ".", "!"})


def _list_items(note: _Note, rules: AllergyRules, k: int, stop: int, quiet: _Spans) -> list[int]:
    """The words of an allergy list from word ``k`` (to ``stop``, the end of its line or
    sentence, a ";" or a word that starts another clause) that name an allergen no other rule
    reads, after its "no known allergies" phrase if it has one ("Allergies: NKA, latex" names
    latex; "The patient has no known drug allergies" names nothing): not a medication mention,
    a negated problem, nor what a negation word starts ("NKA, no latex")."""
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


def _position(entity: Entity) -> tuple[int, int, str]:
    return entity.start, entity.end, entity.id
