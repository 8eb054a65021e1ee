"""The ``extract`` stage: problem, medication, test and procedure mentions by dictionary.

How a note is read, fastest first:

1. **Exact names.**  Word windows of up to ``max_words`` normalised words are probed against
   an in-memory set of the terminology store's names (and word bags, for "diabetes mellitus
   type 2"), with British spellings and plurals tried as variants; only hits go to the store
   for ranked candidates.  The curated clinical lexicon (labs, vitals, studies, procedures,
   drug classes) is probed the same way, so tests are found although no open code system
   names them.
2. **Combination titles.**  A problem followed by "with"/"due to" is tried, approximately,
   with up to ``combination_max_words`` more words: "type 2 diabetes with diabetic
   nephropathy" reaches E11.21 rather than stopping at E11.9.
3. **Misspellings.**  Windows around words the vocabulary does not know ("hypertenson") are
   looked up approximately (character-trigram cosine), a bounded number per note.
4. **Semantic tags.**  A phrase printed with a SNOMED CT tag ("stress (finding)") is a
   problem or procedure even when no dictionary knows it.

Matches are resolved longest first, then by score, then by specificity; each keeps its ranked
code candidates (none selected: the ``coding`` stage chooses) and, for tests, the result
stated right after it.  Ambiguous abbreviations ("PE", "MS", "RA") need support from their
section, their capitals or a neighbouring word; stop words and short lower-case words never
match alone.

Measured on the open default artifact (2-CPU dev container): the name index (183k names of up
to 8 words, 82k word bags, 53k words) takes about 0.6 s to build and holds about 40 MiB; the
stage pickles without it (about 0.3 MB) and rebuilds it on first use in a worker process.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import accumulate, pairwise
from typing import Any, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.coding.candidates import code_candidates, rescored
from note2fhir.coding.laterality import SIDES
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity, EntityType
from note2fhir.extract.context import SectionLookup, acronym_allowed, ambiguous_verdict
from note2fhir.extract.index import TermIndex
from note2fhir.extract.lexicon import (
    ClinicalLexicon,
    LexiconForm,
    lexicon_forms,
    load_lexicon,
)
from note2fhir.extract.panels import names_its_test
from note2fhir.extract.rules import (
    WordRuleIndex,
    defined_elsewhere,
    defined_short_form,
    long_form_explains,
    rule_hits,
)
from note2fhir.extract.semantic_tags import tagged_phrases
from note2fhir.extract.values import ValueReader
from note2fhir.extract.words import Word, document_words, is_upper_written, mostly_upper
from note2fhir.pipeline import Stage, register_stage
from note2fhir.settings import Settings
from note2fhir.terminology.candidates import Candidate, resolve_system
from note2fhir.terminology.normalize import BAG_STOPWORDS, normalize
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore, default_store

log = logging.getLogger(__name__)

TAGGED_PART_SCORE = 0.9
"""Highest score of a code of a name inside a tagged phrase ("sinusitis" in "viral sinusitis
(disorder)"): a broader code the phrase may still take."""
CONTRADICTED_MAX_SCORE = 0.8
"""Highest score of such a code whose title the phrase contradicts: below the coding stage's
``min_score`` (0.85), so it stays an alternative for coders ("pathological fracture due to
osteoporosis" is no M81.0 "Age-related osteoporosis without current pathological fracture",
"acute bacterial sinusitis" no J32.9 "Chronic sinusitis, unspecified")."""
_WITHOUT = re.compile(r"\bwithout ([a-z ,-]+)")
_OPPOSITES = (("acute", "chronic"), ("chronic", "acute"))
_LETTERS = re.compile(r"[a-z]+")
STEM = 5
"""Letters two words must share at the start to count as the same word stem."""

_SEPARATOR = frozenset(",;:")
_MEMO_SIZE = 50_000
_DROP = object()
"""The verdict of a problem match that names no problem in its context."""
_HEAD_GAP = re.compile(r"[ \t)\-]{1,4}")
"""What may stand between a name and its head word: "covid-19) vaccine", "HIV-antibody"."""
_POSITIVE_RESULT = re.compile(
    r"[ \t]{0,2}(?:(?:was|were|is|are|came[ \t]back|returned|tested)[ \t]{1,2})?"
    r"(?:positive|pos\b|reactive|detected|\([ \t]?\+[ \t]?\))",
    re.IGNORECASE,
)
"""A positive result right after a test's head word."""
_LAB_VALUE = re.compile(
    r"[ \t]{0,2}(?:(?:of|was|were|is|at|:|=)[ \t]{0,2})?[<>≤≥]?[ \t]?\d+(?:[.,]\d+)?[ \t]{0,2}"
    r"(?:(?:[µμu]|m|n|p)?mol[ \t]?/[ \t]?d?l"
    r"|(?:ng|pg)[ \t]?/[ \t]?(?:d?l|ml)"
    r"|(?:[µμu]g|mcg|mg)[ \t]?/[ \t]?d?l"
    r"|(?:m|[µμu])iu[ \t]?/[ \t]?(?:l|ml)|i?u[ \t]?/[ \t]?l)\b",
    re.IGNORECASE,
)
"""A measured concentration right after a drug name, in a laboratory unit ("total carnitine of
41.3 μmol/L", "GH 0.50 ng/ml", "zinc 90 ug/dL"): the drug is the analyte.  A product's
strength is an amount per millilitre ("budesonide 0.25 mg/ml", "heparin 100 u/ml",
"potassium chloride 2 mmol/ml") and a dose mass per day or per 24 hours ("aspirin 100
mg/day", a patch's "21 mg/24 hr"), so those are left out."""
_LIST_WORDS = frozenset(
    {"and", "or", "but", "mic", "resistant", "sensitive", "susceptible", "intermediate", "to"}
)
"""Words of a susceptibility list besides its drugs and numbers."""
_ANTIBIOGRAM_WORDS = 16
"""Words looked back from a drug for "resistant to" and its kind."""
_RATE_BEFORE = re.compile(
    r"\d[ \t]*(?:mg|mcg|ug|µg|μg|g|u|units?|iu|meq|mmol|ml|mls|cc|l|gtt|gtts|ng)"
    r"(?:/(?:kg|m2))?/$",
    re.IGNORECASE,
)
"""An amount of a drug and a slash right before a word ("10MG/", "2 mcg/kg/"), unlike a
vital sign's value ("98.6F/HR 78", "118/76 mmHg/HR 64")."""
_NUMBER_NEXT = re.compile(r"[ \t]{0,2}[:=]?[ \t]{0,2}\d")
_DENOMINATORS = frozenset({"hr", "hrs", "h", "min", "hour", "day", "d", "kg"})
"""Words that are the denominator of a rate after such an amount ("DILTIAZEM 10MG/HR" names
no heart rate)."""
_WITH_RANGE = re.compile(
    r"[ \t]{0,2}(?:(?:of|was|were|is|:|=)[ \t]{0,2})?\d+(?:[.,]\d+)?[ \t]{0,2}[^\s(]{1,10}"
    r"[ \t]{0,2}\((?:normal|reference|ref|nl)\b",
    re.IGNORECASE,
)
"""An amount with its reference range right after a drug name ("24-hour norepinephrine 468
μg (normal range: 23-105)"): a result, so the drug is the analyte."""
_DOSE_UNIT = re.compile(
    r"[ \t]*(?:(?:mg|mcg|µg|μg|ug|g|ml|unt|units?|iu|meq|mmol)\b|%|/)", re.IGNORECASE
)
_SKIP_GAP = re.compile(r"[ \t)/\-]{1,4}")
_COUNTED = re.compile(
    r"[ \t]*(?:-[ \t]*)?(?:years?|yrs?|y/?o|months?|mos?|weeks?|wks?|days?|hours?|hrs?)\b",
    re.IGNORECASE,
)
"""A unit after a number that makes it a count, not a name's stage: "CKD 3 years ago" is CKD
for three years, no CKD stage 3."""
_RANGE_NEXT = re.compile(
    r"[ \t]*(?:-|/|to\b|or\b)[ \t]*(?:\d|(?:iv|v|i{1,3})[ab]?\b)", re.IGNORECASE
)
"""A second number after a name's last one: "CKD 3-4", "CKD stage 3/4" give a range of
stages, and no stage of it is the note's."""
_STAGED = re.compile(r"(?:\d+|iv|v|i{1,3})[ab]?", re.IGNORECASE)
"""What may stand between the words before a head: "influenza A/B PCR"."""
_VIRUS_TYPE = re.compile(
    r"[ \t]{1,2}(?:[Tt]ype[ \t]{1,2})?[AB]\b(?:[ \t]{0,2}(?:/|and|&|,)[ \t]{0,2}[AB]\b)?"
    r"(?![ \t]{0,2}/)"
)
"""The type letters written after influenza ("Influenza A", "flu type B", "influenza A and
B")."""
_TYPED_INFLUENZA = {"flu": "influenza type b", "influenza": "influenza type b"}
"""Names whose type letter identifies the virus, and the store term of the code a named type
takes: J10.1 "Influenza due to other identified influenza virus ..." includes influenza A
(non-novel) and B, unlike J11.1 (unidentified virus)."""
_ANTIBODY_HEADS = frozenset({"ab", "abs", "antibody", "antibodies", "igg", "igm"})
"""Test heads whose positive result states no infection."""
_LIST_LOOKBACK = 40
"""Words looked back for a list cue ("immunizations:") before a name."""
_STRENGTH = re.compile(
    r"[ \t]{0,3}\d{1,6}(?:[.,]\d{1,4})?[ \t]{0,2}(?:mg|mcg|µg|ug|unt|units?|iu|meq|ml|g)"
    r"(?:/ml)?(?![a-z/])",
    re.IGNORECASE,
)
_PCS = "icd10pcs"
_FLIP_PREFIXES = ("a", "an", "non", "in", "un", "dys", "ab", "de")

_SITE_PAIN_LINKS = frozenset({"in", "of", "to"})
"""Words between "pain" and its site ("pain in legs", "pain to L arm")."""
_DETERMINERS = frozenset({"the", "his", "her", "their", "both"})
_SIDE_WORDS = frozenset(SIDES)
"""Side words before a site: part of its name ("right upper quadrant") or read by the
laterality rule ("pain in the left knee")."""

CONNECTORS = {
    "with": "with",
    "w": "with",
    "without": "without",
    "due": "due",
    "secondary": "secondary",
}
"""Words after a problem that start an ICD-10-CM combination title ("w/" is "with")."""


class ExtractOptions(BaseModel):
    """Options of the ``extract`` stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_words: int = Field(8, ge=1, le=20, description="Longest name, in words, matched exactly.")
    max_bag_words: int = Field(
        5, ge=0, le=10, description="Longest name matched with its words in another order."
    )
    max_candidates: int = Field(10, ge=1, description="Ranked candidates kept per mention.")
    approximate: bool = Field(True, description="Look misspelt words up approximately.")
    approximate_min_similarity: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Lowest trigram cosine for a misspelling; unset: the global "
        "approximate_min_similarity setting.",
    )
    approximate_max_words: int = Field(3, ge=1, le=6, description="Longest misspelt window.")
    approximate_min_chars: int = Field(
        6, ge=3, description="Shortest unknown word (letters) looked up approximately."
    )
    approximate_single_min_chars: int = Field(
        7, ge=3, description="Shortest single misspelt word looked up on its own."
    )
    approximate_max_lookups: int = Field(
        60, ge=0, description="Approximate lookups per note at most (bounds the time)."
    )
    combination_max_words: int = Field(
        4, ge=0, le=8, description="Words after 'with'/'due to' tried for a combination title."
    )
    combination_min_similarity: float = Field(
        0.85, gt=0, le=1, description="Lowest trigram cosine for a combination title."
    )
    ambiguous_penalty: float = Field(
        0.05, ge=0, le=0.5, description="Score taken off an ambiguous abbreviation kept."
    )
    variant_penalty: float = Field(
        0.02, ge=0, le=0.5, description="Score taken off a plural or spelling-variant match."
    )
    values: bool = Field(True, description="Read results stated after test mentions.")
    semantic_tags: bool = Field(True, description="Phrases tagged '(finding)' etc. are problems.")
    word_rules: bool = Field(
        True, description="Head words ('X analysis') and endings ('-ectomy') make mentions."
    )
    defined_abbreviations: bool = Field(
        True, description="A short form the note defines ('carcinoma (HCC)') is a mention."
    )
    rule_score: float = Field(
        0.5, gt=0, le=1, description="Score of a mention found by a word rule alone."
    )


class _WordForms(NamedTuple):
    """What the name index says about one normalised word, whatever note it is in."""

    spelled: str | None
    """The vocabularies' spelling ("oedema" → "edema"), or None."""
    singular: str | None
    """The singular of a plural ("lesions" → "lesion"), or None."""
    known: bool
    """Whether the vocabulary knows the word in some spelling (it can be part of a name)."""
    bag_word: bool
    """Whether it can be part of a name written in another word order."""
    bag_sizes: int
    """Bit k set when a word bag of k words holds it."""
    name_longest: int
    """The longest name, in words, that can start with it (0: none)."""
    single_keys: tuple[tuple[str, str], ...]
    """The names it is on its own, as (name, note) pairs :meth:`_Scan._probe` tries."""


@dataclass(slots=True)
class _Match:
    first: int
    last: int
    start: int
    end: int
    type: EntityType
    score: float
    specificity: int
    source: str
    codes: list[CodeCandidate] = field(default_factory=list)
    value: dict[str, Any] | None = None


@register_stage
class ExtractStage(Stage):
    """Find problems, medications, tests and procedures with the terminology store and the
    clinical lexicon; attach ranked code candidates and stated test results."""

    name = "extract"
    requires = frozenset({"tokens", "sentences"})
    assigns = frozenset({"entities", "codes"})
    Options = ExtractOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.opts = cast(ExtractOptions, options)
        self.store: TerminologyStore = default_store(settings)
        self.lexicon: ClinicalLexicon = load_lexicon()
        self.forms = lexicon_forms(self.lexicon)
        self.values = ValueReader(self.lexicon)
        self.word_rules = WordRuleIndex(self.lexicon.word_rules)
        self.lexicon_codes = verified_lexicon_codes(self.store, self.lexicon)
        self.threshold = (
            self.opts.approximate_min_similarity
            if self.opts.approximate_min_similarity is not None
            else settings.approximate_min_similarity
        )
        self._forms: dict[str, _WordForms] = {}
        self._lookups: dict[tuple[Any, ...], tuple[Candidate, ...]] = {}
        self._index: TermIndex | None = None
        self._index = self.index

    def word_forms(self, texts: list[str]) -> list[_WordForms]:
        """The variants and index facts of each normalised word, memoised across notes:
        they depend on the word alone, and notes repeat their words."""
        memo = self._forms
        out: list[_WordForms] = []
        for text in texts:
            forms = memo.get(text)
            if forms is None:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                forms = memo[text] = self._word_forms(text)
            out.append(forms)
        return out

    def exact_candidates(self, norm: str) -> tuple[Candidate, ...]:
        """The store's exact candidates of a normalised name (memoised, see :meth:`_memo`)."""
        return self._memo(
            ("exact", norm), lambda: self.store.exact(norm, limit=self.opts.max_candidates)
        )

    def approximate_candidates(
        self, key: str, threshold: float, kind: EntityType | None = None
    ) -> tuple[Candidate, ...]:
        """The store's approximate candidates of ``key``, of one kind or of any (memoised)."""
        return self._memo(
            ("approximate", key, threshold, kind),
            lambda: self.store.approximate(
                key,
                threshold=threshold,
                entity_types=None if kind is None else [kind],
                limit=self.opts.max_candidates,
            ),
        )

    def title_candidates(self, key: str, threshold: float) -> tuple[Candidate, ...]:
        """The store's problem candidates of a combination title ``key``, exact ones too
        (a title of more words than the exact index holds: "type 2 diabetes mellitus with
        diabetic chronic kidney disease") (memoised)."""
        return self._memo(
            ("title", key, threshold),
            lambda: self.store.candidates(
                key,
                threshold=threshold,
                entity_types=[EntityType.PROBLEM],
                limit=self.opts.max_candidates,
            ),
        )

    def merged_candidates(self, key: str) -> tuple[Candidate, ...]:
        """The store's exact and approximate candidates of ``key``, merged (memoised)."""
        return self._memo(
            ("candidates", key),
            lambda: self.store.candidates(
                key, threshold=self.threshold, limit=self.opts.max_candidates
            ),
        )

    def _memo(
        self, key: tuple[Any, ...], look_up: Callable[[], list[Candidate]]
    ) -> tuple[Candidate, ...]:
        """A store lookup memoised across notes: notes repeat their names and misspellings,
        a store lookup re-normalises its text, and the store's own cache is shared with every
        other caller and much smaller."""
        memo = self._lookups
        found = memo.get(key)
        if found is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            found = memo[key] = tuple(look_up())
        return found

    def _word_forms(self, word: str) -> _WordForms:
        index, spelling = self.index, self.lexicon.spelling
        vocabulary, longest = index.vocabulary, index.longest
        spelled = _respell(word, spelling.words, spelling.prefixes)
        singular = _singular(word, spelling.plural_min_letters, vocabulary)
        names = index.names
        single_keys = [(word, "")] if word in names else []
        if spelled is not None and spelled in names:
            single_keys.append((spelled, " (spelling variant)"))
        if singular is not None and singular in names:
            single_keys.append((singular, " (plural)"))
        return _WordForms(
            spelled,
            singular,
            known=(
                word in vocabulary
                or (spelled or "") in vocabulary
                or (singular or "") in vocabulary
            ),
            bag_word=word in vocabulary and word not in BAG_STOPWORDS,
            bag_sizes=index.bag_sizes.get(word, 0),
            name_longest=max(
                longest.get(word, 0),
                longest.get(spelled or "", 0),
                1 if (singular or "") in names else 0,
            ),
            single_keys=tuple(single_keys),
        )

    @property
    def index(self) -> TermIndex:
        """The in-memory name index (built on first use in each process)."""
        if self._index is None:
            index = TermIndex.from_artifact(
                self.store.folder,
                max_words=self.opts.max_words,
                max_bag_words=self.opts.max_bag_words,
            )
            for norm in self.forms:
                index.add(norm)
            self._index = index
        return self._index

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_index"] = None  # tens of MB; cheaper to rebuild than to pickle to workers
        state["_forms"] = {}
        state["_lookups"] = {}
        return state

    def process(self, doc: ClinicalDocument) -> None:
        """Add the entities found in ``doc`` (existing entities are kept and win overlaps)."""
        words = document_words(doc)
        if not words:
            return
        scan = _Scan(self, doc, words)
        exact = scan.exact_matches()
        chosen = scan.measured(_resolve(exact + scan.combinations(exact), len(words)))
        chosen, dropped = scan.not_problems(chosen)
        for m in chosen + dropped:
            scan.cover(m)
        if self.opts.approximate and self.opts.approximate_max_lookups:
            found, dropped = scan.not_problems(_resolve(scan.approximate_matches(), len(words)))
            for m in found + dropped:
                scan.cover(m)
            chosen += found
        if self.opts.word_rules:
            for m in _resolve(scan.rule_matches(), len(words)):
                chosen.append(m)
                scan.cover(m)
        if self.opts.defined_abbreviations:
            chosen = scan.defined_abbreviations(chosen)
        if self.opts.semantic_tags:
            chosen = scan.apply_tags(chosen)
        self._add_entities(doc, chosen)

    def _add_entities(self, doc: ClinicalDocument, matches: list[_Match]) -> None:
        existing = sorted(doc.entities, key=lambda e: e.start)
        taken = {e.id for e in existing}
        starts = [e.start for e in existing]
        reach: list[int] = []  # furthest end among existing entities up to each one
        for e in existing:
            reach.append(max(e.end, reach[-1]) if reach else e.end)
        lookup = SectionLookup(doc.sections)
        number = 0
        added: list[Entity] = []
        for m in sorted(matches, key=lambda x: (x.start, x.end)):
            before = bisect_left(starts, m.end)
            if before and reach[before - 1] > m.start:
                continue
            m.end = _balanced_end(doc.text, m.start, m.end)
            number += 1
            while f"E{number}" in taken:
                number += 1
            section = lookup.at(m.start)
            added.append(
                Entity(
                    id=f"E{number}",
                    start=m.start,
                    end=m.end,
                    text=doc.text[m.start : m.end],
                    type=m.type,
                    section=section.name if section else None,
                    source=m.source,
                    codes=_with_clause_checked(m.codes, doc.text, m.start, m.end)
                    if m.type is EntityType.PROBLEM
                    else m.codes,
                    value=m.value,
                )
            )
        doc.entities = sorted([*existing, *added], key=lambda e: (e.start, e.end))


class _Scan:
    """One note being read: its words, their variants and what is already covered."""

    def __init__(self, stage: ExtractStage, doc: ClinicalDocument, words: list[Word]) -> None:
        self.stage = stage
        self.opts = stage.opts
        self.lexicon = stage.lexicon
        self.index = stage.index
        self.doc = doc
        self.words = words
        n = len(words)
        self.texts = [w.text for w in words]
        self.covered = [False] * n
        forms = stage.word_forms(self.texts)
        self.spelled = [f.spelled for f in forms]
        self.singular = [f.singular for f in forms]
        self.name_longest = [f.name_longest for f in forms]
        self.single_keys = [f.single_keys for f in forms]
        self.bag_sizes = [f.bag_sizes for f in forms]
        # variants_before[k]: how many of the first k words have a spelling variant
        self.variants_before = [0, *accumulate(variant is not None for variant in self.spelled)]
        # bag_run[i]: how many words from i on could be part of a word-order variant;
        # known_run[i]: how many words from i on the vocabulary knows in some spelling (every
        # word of a name is in the vocabulary, so no longer window needs probing).
        bag_run = self.bag_run = [0] * (n + 1)
        known_run = self.known_run = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            f = forms[k]
            bag_run[k] = bag_run[k + 1] + 1 if f.bag_word else 0
            known_run[k] = known_run[k + 1] + 1 if f.known else 0
        self._caps: dict[int, bool] = {}
        self.sections = SectionLookup(doc.sections)
        self.doc_caps: bool | None = None
        # A name never spans a list separator: "calcium, phosphate" is two mentions.
        text = doc.text
        self.joined = [False] + [
            a.sentence == b.sentence and _SEPARATOR.isdisjoint(text[a.end : b.start])
            for a, b in pairwise(words)
        ]
        # joined_run[i]: how many words from i on a name may span (see span_limit)
        joined_run = self.joined_run = [1] * n
        for k in range(n - 2, -1, -1):
            if self.joined[k + 1]:
                joined_run[k] = joined_run[k + 1] + 1

    # -- helpers ----------------------------------------------------------------------------

    def caps(self, sentence: int) -> bool:
        """Whether a sentence, or the whole note, is written in capitals (capitals then prove
        nothing)."""
        known = self._caps.get(sentence)
        if known is None:
            if self.doc_caps is None:
                self.doc_caps = mostly_upper(self.doc.text)
            known = self.doc_caps
            if not known and sentence < len(self.doc.sentences):
                s = self.doc.sentences[sentence]
                known = mostly_upper(self.doc.text[s.start : s.end])
            self._caps[sentence] = known
        return known

    def sentence_end(self, word: Word) -> int:
        if word.sentence < len(self.doc.sentences):
            return self.doc.sentences[word.sentence].end
        return word.end

    def span_limit(self, i: int, longest: int) -> int:
        """How many words from ``i`` stay in its sentence, at most ``longest``."""
        if longest <= 0 or i >= len(self.words):
            return 0
        return min(longest, self.joined_run[i])

    def _loose_edge(self, first: int, last: int) -> bool:
        """Whether a multi-word window starts or ends with a function word standing apart
        ("of the tumor"); a hyphenated "a-fib" is one name."""
        if last - first < 2:
            return False
        function_words = self.lexicon.function_words
        text, words = self.doc.text, self.words
        head_apart = any(ch.isspace() for ch in text[words[first].end : words[first + 1].start])
        tail_apart = any(ch.isspace() for ch in text[words[last - 2].end : words[last - 1].start])
        return (self.texts[first] in function_words and head_apart) or (
            self.texts[last - 1] in function_words and tail_apart
        )

    def cover(self, m: _Match) -> None:
        for i in range(m.first, m.last):
            self.covered[i] = True

    # -- 1. exact names -----------------------------------------------------------------------

    def exact_matches(self) -> list[_Match]:
        """At every word, the longest window that is a known name and passes the checks."""
        out: list[_Match] = []
        known_run, bag_run, name_longest = self.known_run, self.bag_run, self.name_longest
        bag_sizes, joined_run, single_keys = self.bag_sizes, self.joined_run, self.single_keys
        max_words, max_bag_words = self.opts.max_words, self.opts.max_bag_words
        for i in range(len(self.texts)):
            run = known_run[i]
            if not run:
                continue
            bag = bag_run[i]
            # a window taken as a word bag needs a bag size its first two words share
            by_bag = min(max_bag_words, bag) if bag >= 2 and bag_sizes[i] & bag_sizes[i + 1] else 0
            longest = max(name_longest[i], by_bag)
            if not longest:
                continue
            limit = min(longest, max_words, run, joined_run[i])  # span_limit, inlined
            keyed = self._keys_from(i, limit) if limit > 1 else {}
            for length in [*reversed(keyed), 1]:  # keyed holds its lengths in rising order
                keys = single_keys[i] if length == 1 else keyed[length]
                match = self._accepted(i, length, keys) if keys else None
                if match is not None:
                    out.append(match)
                    break
        return out

    def _keys_from(self, i: int, limit: int) -> dict[int, list[tuple[str, str]]]:
        """What :meth:`_window_keys` gives for each window of 2 to ``limit`` words from ``i``
        that is a name in some form, shortest first, read word by word: past the longest name
        that starts with its first word (as written, or respelled) a window is only tried as a
        word bag, and only while its words sit in a bag of as many words as it has."""
        index = self.index
        names, bags, longest = index.names, index.bags, index.longest
        texts, spelled, singular = self.texts, self.spelled, self.singular
        bag_sizes = self.bag_sizes
        key = texts[i]
        respelled = spelled[i]
        varied = respelled is not None
        variant = respelled or key
        key_reach = longest.get(key, 0)
        variant_reach = longest.get(variant, 0) if varied else key_reach
        max_bag = min(self.opts.max_bag_words, self.bag_run[i])
        sizes = bag_sizes[i] if max_bag >= 2 else 0
        seen = {key}
        out: dict[int, list[tuple[str, str]]] = {}
        for length in range(2, limit + 1):
            if length > max_bag:
                sizes = 0
            if length > key_reach and length > variant_reach and not sizes:
                break
            j = i + length - 1
            word = texts[j]
            keys: list[tuple[str, str]] = []
            if length <= key_reach:  # past it, the key is no longer needed
                key = f"{key} {word}"
                if key in names:
                    keys.append((key, ""))
            if length <= variant_reach:
                respelled = spelled[j]
                varied = varied or respelled is not None
                head = variant
                variant = f"{head} {respelled or word}"
                if varied and variant in names:
                    keys.append((variant, " (spelling variant)"))
                last = singular[j]
                if last is not None:
                    plural = f"{head} {last}"
                    if plural in names:
                        keys.append((plural, " (plural)"))
            if sizes:
                seen.add(word)
                sizes &= bag_sizes[j]
                # a bag of this window holds exactly its distinct words, each in that bag
                if (
                    not keys
                    and len(seen) == j - i + 1  # each word once: "CKD 2/2 HTN" is no "CKD 2"
                    and sizes >> len(seen) & 1
                    and " ".join(sorted(seen)) in bags
                    and not self._ends_in_dose(j)
                    and self._one_clause(i, j)
                ):
                    keys.append((" ".join(texts[i : j + 1]), ""))
            if keys:
                out[length] = keys
        return out

    def _accepted(self, i: int, length: int, keys: Sequence[tuple[str, str]]) -> _Match | None:
        """The first of a window's names that passes the checks, or None."""
        for norm, note in keys:
            match = self._accept(i, i + length, norm, note)
            if match is not None:
                return match
        return None

    def _probe(self, i: int, length: int) -> _Match | None:
        keys = self.single_keys[i] if length == 1 else self._window_keys(i, length)
        return self._accepted(i, length, keys)

    def _window_keys(self, i: int, length: int) -> list[tuple[str, str]]:
        """The names a window of several words is, as written, in the vocabularies'
        spelling, with its last word singular, or with its words in another order."""
        index = self.index
        window = self.texts[i : i + length]
        key = " ".join(window)
        keys: list[tuple[str, str]] = []
        if key in index.names:
            keys.append((key, ""))
        spelled = window
        if self.variants_before[i + length] > self.variants_before[i]:
            spelled = [s or t for s, t in zip(self.spelled[i : i + length], window, strict=True)]
            variant = " ".join(spelled)
            if variant in index.names:
                keys.append((variant, " (spelling variant)"))
        last = self.singular[i + length - 1]
        if last is not None:
            plural = " ".join([*spelled[:-1], last])
            if plural in index.names:
                keys.append((plural, " (plural)"))
        if (
            not keys
            and 2 <= length <= self.opts.max_bag_words
            and self.bag_run[i] >= length
            and len(set(window)) == length  # each word once
            # bag_run: no word of the window is a bag stop word, so its bag is its word set
            and " ".join(sorted(set(window))) in index.bags
            and not self._ends_in_dose(i + length - 1)
            and self._one_clause(i, i + length - 1)
        ):
            keys.append((key, ""))
        return keys

    def _one_clause(self, i: int, j: int) -> bool:
        """Whether words ``i`` to ``j`` have no full stop between them: "3. CKD stage 5" is a
        list number and a name, no reordered "stage 3 CKD"."""
        words, text = self.words, self.doc.text
        return all("." not in text[words[k].end : words[k + 1].start] for k in range(i, j))

    def _ends_in_dose(self, j: int) -> bool:
        """Whether word ``j`` is a number with a unit after it: "nitrofurantoin 5 mg/ml" is a
        dose, which no other order of a name's words ("5-nitrofurantoin") may take in."""
        word = self.words[j]
        return self.texts[j].isdigit() and _DOSE_UNIT.match(self.doc.text, word.end) is not None

    def _accept(self, first: int, last: int, norm: str, note: str) -> _Match | None:
        """Candidates and lexicon forms of one window, after the context checks."""
        words, doc = self.words, self.doc
        start, end = words[first].start, words[last - 1].end
        if self.sections.in_heading(start):
            return None
        written = doc.text[start:end]
        if (
            written.lower() in _DENOMINATORS
            and _RATE_BEFORE.search(doc.text, max(0, start - 16), start)
            and not _NUMBER_NEXT.match(doc.text, end)  # "2 L/HR 92": the heart rate
        ):
            return None  # the denominator of a rate: "DILTIAZEM 10MG/HR" names no heart rate
        if last - first > 1 and (
            (self.texts[last - 1][:1].isdigit() and _COUNTED.match(doc.text, end))
            or (_STAGED.fullmatch(self.texts[last - 1]) and _RANGE_NEXT.match(doc.text, end))
        ):
            # "CKD 3 years ago": the number counts the years; "CKD 3-4": a range of stages;
            # the shorter name says no stage
            return None
        caps = self.caps(words[first].sentence)
        limit = self.sentence_end(words[first])
        value = None
        forms: list[LexiconForm] = []
        for form in self.stage.forms.get(norm, []):
            if form.case_sensitive and not caps and _letters(written) != _letters(form.written):
                continue
            if form.kind == "with_value":
                stated = self.stage.values.read(doc.text, end, limit)
                if stated is None or not stated.numeric:
                    continue
            forms.append(form)
        kept = self._store_candidates(first, last, norm, note, written, caps)
        if (
            forms
            and forms[0].type is not EntityType.MEDICATION
            and any(c.entity_type is EntityType.MEDICATION for c in kept)
            and _STRENGTH.match(doc.text, end)
        ):
            forms = []  # "vitamin B12 5 MG/ML": a drug with its strength, not a lab
        if (
            forms
            and forms[0].type is EntityType.MEDICATION
            and norm in self.lexicon.ambiguous.rules
            and not ambiguous_verdict(
                doc,
                words,
                first,
                last,
                norm,
                self.lexicon,
                self.sections,
                capitals_mean_nothing=caps,
            )[0]
        ):
            forms = []  # "ASA 2": the physical status, not aspirin
        penalty = self.opts.variant_penalty if note else 0.0
        if forms:
            kind = forms[0].type
            codes = list(self.stage.lexicon_codes.get(forms[0].entry, []))
            have = {(c.system, c.code) for c in codes}
            codes += [
                c
                for c in code_candidates(x for x in kept if x.entity_type is kind)
                if (c.system, c.code) not in have
            ]
            source = f"lexicon:{forms[0].group}"
            score, specificity = 1.0 - penalty, 0
            wants_value = any(f.wants_value for f in forms)
        elif kept:
            best = kept[0]
            kind = cast(EntityType, best.entity_type)
            codes = code_candidates((c for c in kept if c.entity_type is kind), note=note)
            how = "variant" if note else best.how
            source = f"dictionary:{best.source} {how}"
            score, specificity = best.score, best.specificity  # penalties already applied
            wants_value = kind is EntityType.TEST
        else:
            return None
        if wants_value and self.opts.values and kind is EntityType.TEST:
            stated = self.stage.values.read(doc.text, end, limit)
            value = stated.value if stated is not None else None
        return _Match(first, last, start, end, kind, score, specificity, source, codes, value)

    def _store_candidates(
        self, first: int, last: int, norm: str, note: str, written: str, caps: bool
    ) -> list[Candidate]:
        lexicon = self.lexicon
        single = last - first == 1
        if self._loose_edge(first, last) or all(
            w.isdigit() or w in lexicon.stop_terms for w in self.texts[first:last]
        ):
            return []
        if norm in lexicon.stop_terms:
            return []
        short = single and len(norm) < lexicon.min_lowercase_single
        if short and norm not in lexicon.lowercase_abbreviations and not is_upper_written(written):
            return []
        found = self.stage.exact_candidates(norm)
        kept: list[Candidate] = []
        verdict: tuple[bool, str] | None = None
        # one source calling an abbreviation ambiguous ("PDA" is also the posterior descending
        # artery) makes every source's abbreviation of it want context
        ambiguous_text = any(c.ambiguous for c in found)
        listed = norm in lexicon.ambiguous.rules  # "PICA": the artery as often as pica
        for cand in found:
            if cand.entity_type is None:
                continue
            if single and cand.source == _PCS and not cand.codes:
                continue  # a root operation or index heading ("reduction", "scan")
            if not acronym_allowed(cand.term, written, capitals_mean_nothing=caps) and (
                norm not in lexicon.lowercase_abbreviations
            ):
                continue
            needs_support = (
                cand.ambiguous
                or listed
                or (ambiguous_text and cand.term_type.startswith("abbreviation"))
                or (
                    short
                    and caps
                    and len(norm) <= 2
                    and norm not in lexicon.lowercase_abbreviations
                )
            )
            if needs_support:
                if verdict is None:
                    verdict = ambiguous_verdict(
                        self.doc,
                        self.words,
                        first,
                        last,
                        norm,
                        lexicon,
                        self.sections,
                        capitals_mean_nothing=caps,
                    )
                if not verdict[0]:
                    continue
            penalty = self.opts.variant_penalty if note else 0.0
            reason = cand.reason
            if needs_support and verdict is not None:
                penalty += self.opts.ambiguous_penalty
                reason = f"{reason}; ambiguous, kept: {verdict[1]}"
            if penalty or reason is not cand.reason:
                kept.append(replace(cand, score=cand.score - penalty, reason=reason))
            else:
                kept.append(cand)  # candidates are frozen: an unchanged one is shared
        kept.sort(key=lambda c: (-c.score, -c.specificity))
        return kept

    # -- 1b. tests written as problems or drugs ---------------------------------------------

    def measured(self, chosen: list[_Match]) -> list[_Match]:
        """Matches that name a measurement rather than what they seem to: a problem name made
        of a result word and a test name ("elevated serum creatinine", "platelet count
        increased") becomes the test, its result word left for the ``results`` stage; a drug
        or nutrient after a specimen word or before "level" ("serum zinc", "carnitine
        levels") becomes a test."""
        lexicon = self.lexicon
        adjectives = lexicon.result_adjectives
        taken = [False] * len(self.words)
        for m in chosen:
            for i in range(m.first, m.last):
                taken[i] = True
        out: list[_Match] = []
        for m in chosen:
            found: _Match | None = m
            if m.type is EntityType.PROBLEM and m.last - m.first >= 2 and self._narrative(m):
                if self.texts[m.first] in adjectives:
                    found = self._as_test(m.first + 1, m.last)
                elif self.texts[m.last - 1] in adjectives:
                    found = self._as_test(m.first, m.last - 1)
            elif m.type is EntityType.MEDICATION:
                found = self._as_analyte(m, taken)
            out.append(found or m)
        return out

    def not_problems(self, chosen: list[_Match]) -> tuple[list[_Match], list[_Match]]:
        """Problem and drug matches that name something else in context (the lexicon's
        ``not_problems``): a named test becomes an uncoded test of the name and its head word
        ("depression screening", "hepatitis B serology"); a vaccine, a team, an idiom or an
        exam finding makes no entity ("zoster vaccine", "stroke team", "anxious to go home",
        "+gag +cough"), nor does a drug name inside an enzyme's, a receptor's or a gene's
        ("cytochrome c oxidase", "estrogen receptor").  Returns the matches to keep and
        those dropped (whose words stay covered, so no later rule finds the name again)."""
        taken = [False] * len(self.words)
        for m in chosen:
            for i in range(m.first, m.last):
                taken[i] = True
        kept: list[_Match] = []
        dropped: list[_Match] = []
        for m in chosen:
            if m.type not in (EntityType.PROBLEM, EntityType.MEDICATION):
                kept.append(m)
                continue
            end = self._likeness_end(m) if m.type is EntityType.PROBLEM else None
            if end is not None:
                dropped.append(replace(m, last=end, end=self.words[end - 1].end))
                continue
            verdict = self._named_otherwise(m, taken)
            if verdict is None:
                kept.append(m)
            elif isinstance(verdict, _Match):
                kept.append(verdict)
            else:
                dropped.append(m)
        return kept, dropped

    def _likeness_end(self, m: _Match) -> int | None:
        """Where a likeness after a problem name ends ("flu-like", "flu like symptoms"): the
        name only describes what something resembles.  None when no likeness follows."""
        rules = self.lexicon.not_problems
        words, texts, text = self.words, self.texts, self.doc.text
        k = m.last
        if k >= len(words) or texts[k] not in rules.likeness:
            return None
        sentence = words[m.first].sentence
        if words[k].sentence != sentence:
            return None
        gap = text[m.end : words[k].start]
        head = (
            k + 1 < len(words)
            and words[k + 1].sentence == sentence
            and texts[k + 1] in rules.likeness_heads
            and text[words[k].end : words[k + 1].start] == " "
        )
        if gap == "-":
            return k + 2 if head else k + 1
        if gap == " " and head:
            return k + 2
        return None

    def _named_otherwise(self, m: _Match, taken: list[bool]) -> _Match | object | None:
        """What a problem match names in context: a test (a new match), nothing (``_DROP``)
        or the problem (None)."""
        rules = self.lexicon.not_problems
        words, texts, text = self.words, self.texts, self.doc.text
        sentence = words[m.first].sentence
        nxt = m.last
        after = (
            texts[nxt]
            if nxt < len(words)
            and words[nxt].sentence == sentence
            and _HEAD_GAP.fullmatch(text, m.end, words[nxt].start)
            else None
        )
        if (
            m.type is EntityType.PROBLEM
            and after in rules.head_skip
            and self._head_further(nxt, sentence) is not None
        ):
            # "varicella-zoster virus antibody", "human immunodeficiency virus antigen test":
            # the head stands a word or two further on, and the name is part of it
            return _DROP
        if m.type is EntityType.MEDICATION:
            # "cytochrome c oxidase", "glutamic acid decarboxylase", "estrogen receptor"; an
            # isolate's susceptibilities name drugs it was tested against, not drugs given
            if after in rules.drug_heads or self._antibiogram(m.first, sentence, taken):
                return _DROP
            return None
        prev = m.first - 1
        before = texts[prev] if prev >= 0 and words[prev].sentence == sentence else None
        if self._cue_before(rules.other_cues, m.first, sentence):
            return _DROP  # "lifestyle education regarding hypertension": a topic
        if self._cue_before(rules.test_cues, m.first, sentence):
            # "stool sent for c diff", "send stool cdiff": the test of it
            return replace(m, type=EntityType.TEST, source=f"{m.source}; sent for", codes=[])
        if after in rules.test_heads:
            # "hepatitis B serology": the lexicon's test has the head word; "anti-glutamic
            # acid decarboxylase (GAD) antibody": no test named by half a bracket
            if taken[nxt] or ")" in text[m.end : words[nxt].start]:
                return _DROP
            start, end = m.start, words[nxt].end
            return _Match(
                m.first,
                nxt + 1,
                start,
                end,
                EntityType.TEST,
                m.score,
                m.specificity,
                f"{m.source}; named test",
                [],
                self._value_after(m.first, end),
            )
        if after in rules.other_heads or self._head_phrase(nxt, sentence, rules.other_heads):
            return _DROP
        if self._tested(m):
            # "HIV was negative", "1st c-diff negative", "anti-HCV (-)": the test of it
            return _Match(
                m.first,
                m.last,
                m.start,
                m.end,
                EntityType.TEST,
                m.score,
                m.specificity,
                f"{m.source}; tested negative",
                [],
                self._value_after(m.first, m.end),
            )
        if before in rules.before and text[words[prev].end : m.start] == "-":
            return _DROP
        context = rules.words.get(texts[m.first]) if m.last - m.first == 1 else None
        if context is not None:
            if after is not None and after in context.after:
                return _DROP
            gap = text[words[prev].end : m.start] if before is not None else ""
            # a letter's period is an abbreviation's, not a sentence's ("H. flu")
            if (
                before in context.before
                and "\n" not in gap
                and ("." not in gap or len(before) == 1)
            ):
                return _DROP
            if "+" in context.before and text[max(0, m.start - 2) : m.start].strip() == "+":
                return _DROP
        typed = self._typed_virus(m)
        if typed is not None:
            return typed
        if rules.list_cues and self._in_cued_list(m, sentence):
            return _DROP
        section = self.sections.at(m.start) if rules.sections else None
        if section is not None and section.name in rules.sections:
            return _DROP
        return None

    def _tested(self, m: _Match) -> bool:
        """Whether a problem name is the name of its test by the result after it ("HIV was
        negative", "COVID/flu negative"; see ``panels``)."""
        return names_its_test(self.doc.text, m.start, m.end, self.lexicon.not_problems.panel_names)

    def _typed_virus(self, m: _Match) -> _Match | object | None:
        """ "Influenza A", "flu type B": the name with its type letter, coded as the identified
        virus (J10.1) instead of the unidentified one; nothing (``_DROP``) when a vaccine or
        an order follows ("influenza A and B vaccine"); None for any other mention."""
        term = _TYPED_INFLUENZA.get(self.texts[m.first]) if m.last - m.first == 1 else None
        letter = _VIRUS_TYPE.match(self.doc.text, m.end) if term is not None else None
        if term is None or letter is None:
            return None
        last = m.last
        while last < len(self.words) and self.words[last].end <= letter.end():
            last += 1
        rules = self.lexicon.not_problems
        if last < len(self.words) and (
            self.texts[last] in rules.other_heads or self.texts[last] in rules.test_heads
        ):
            return _DROP
        whole = replace(m, last=last, end=letter.end())
        if self._tested(whole):
            # "Flu A/B pending", "Influenza A/B, RSV and COVID PCR negative": the test
            return replace(whole, type=EntityType.TEST, source=f"{m.source}; tested", codes=[])
        found = self.stage.exact_candidates(term)
        if not found:
            return None
        codes = code_candidates(found, note="; the type letter names the virus")
        codes += rescored(m.codes, cap=max(found[0].score - 0.01, 0.0), note="; no type")
        return replace(whole, source=f"{m.source}; typed", codes=codes)

    def _antibiogram(self, first: int, sentence: int, taken: list[bool]) -> bool:
        """Whether word ``first`` is in the list after "resistant/sensitive/susceptible to" in
        a sentence about a culture or an isolate ("the isolate was sensitive to penicillin
        and vancomycin but resistant to clindamycin"); "hypertension resistant to amlodipine"
        names no isolate, so its drug stays."""
        rules = self.lexicon.not_problems
        if not rules.susceptibility_cues:
            return False
        words, texts = self.words, self.texts
        k = first - 1
        cue = False
        # back over the list only: other drugs, "and"/"or", MIC values; "...sensitive to
        # ciprofloxacin, so she was switched to ciprofloxacin" gives the second one
        while k > 0 and words[k].sentence == sentence and first - k <= _ANTIBIOGRAM_WORDS:
            if texts[k] == "to" and texts[k - 1] in rules.susceptibility_cues:
                cue = True
                break
            if not (taken[k] or texts[k] in _LIST_WORDS or texts[k][:1].isdigit()):
                return False
            k -= 1
        if not cue:
            return False
        k = first
        while k > 0 and words[k - 1].sentence == sentence:
            k -= 1
        stop = first
        while stop < len(words) and words[stop].sentence == sentence:
            stop += 1
        return any(texts[j] in rules.microbe_words for j in range(k, stop))

    def _head_phrase(self, k: int, sentence: int, heads: frozenset[str]) -> bool:
        """Whether a head of two or more words ("self management", "care plan") starts at
        word ``k`` in its sentence."""
        words, texts = self.words, self.texts
        if k >= len(words) or words[k].sentence != sentence:
            return False
        first = texts[k] + " "
        for head in heads:
            if head.startswith(first):
                parts = head.split()
                stop = k + len(parts)
                if (
                    stop <= len(words)
                    and words[stop - 1].sentence == sentence
                    and texts[k:stop] == parts
                ):
                    return True
        return False

    def _head_further(self, k: int, sentence: int) -> str | None:
        """The test or other head word after words ``k``, ``k + 1`` of ``head_skip``
        ("virus antibody", "zoster virus antibody"), or None; None too when a positive result
        follows the head ("hepatitis B surface antigen positive" states the infection)."""
        rules = self.lexicon.not_problems
        words, texts, text = self.words, self.texts, self.doc.text
        for _ in range(3):
            if k >= len(words) or words[k].sentence != sentence:
                return None
            word = texts[k]
            if word in rules.test_heads or word in rules.other_heads:
                # an antibody, positive or not, does not state the infection ("hepatitis B
                # surface antibody positive" is immunity)
                stated = word not in _ANTIBODY_HEADS and _POSITIVE_RESULT.match(text, words[k].end)
                return None if stated else word
            if word not in rules.head_skip or k + 1 >= len(words):
                return None
            if not _SKIP_GAP.fullmatch(text, words[k].end, words[k + 1].start):
                return None
            k += 1
        return None

    def _cue_before(self, cues: tuple[tuple[str, ...], ...], first: int, sentence: int) -> bool:
        """Whether one of ``cues`` ends right before word ``first`` in its sentence, with
        nothing but space or a colon between ("sent for", "stool for", "labs to check: HIV",
        "education regarding"; not "INR check, afib")."""
        words, texts = self.words, self.texts
        if first == 0:
            return False
        gap = self.doc.text[words[first - 1].end : words[first].start]
        if gap.strip() not in ("", ":"):
            return False
        for cue in cues:
            n = len(cue)
            at = first - n
            if at >= 0 and words[at].sentence == sentence and tuple(texts[at:first]) == cue:
                return True
        return False

    def _in_cued_list(self, m: _Match, sentence: int) -> bool:
        """Whether the match is in the comma list after a cue and a colon, on one line and
        in one clause ("the following immunizations: influenza, seasonal, injectable")."""
        words, texts, text = self.words, self.texts, self.doc.text
        cues = self.lexicon.not_problems.list_cues
        for k in range(m.first - 1, max(-1, m.first - _LIST_LOOKBACK), -1):
            if words[k].sentence != sentence:
                return False
            if texts[k] in cues and k + 1 < len(words):
                colon = text[words[k].end : words[k + 1].start]
                between = text[words[k].end : m.start]
                return ":" in colon and not any(c in between for c in ";\n.")
        return False

    def _narrative(self, m: _Match) -> bool:
        """Whether a match stands outside the sections that state problems."""
        section = self.sections.at(m.start)
        return section is None or section.name not in self.lexicon.problem_sections

    def _as_test(self, first: int, last: int) -> _Match | None:
        """The test named by words ``[first, last)`` of a problem match, or None."""
        test = self._probe(first, last - first)
        if test is None or test.type is not EntityType.TEST or test.last != last:
            return None
        return test

    def _as_analyte(self, m: _Match, taken: list[bool]) -> _Match:
        """A drug match as a measured analyte when its neighbours say so, else itself."""
        lexicon, texts = self.lexicon, self.texts
        first, last = m.first, m.last
        if (
            first
            and self.joined[first]
            and not taken[first - 1]
            and texts[first - 1] in lexicon.specimen_words
        ):
            first -= 1
        elif (
            last < len(texts)
            and self.joined[last]
            and not taken[last]
            and texts[last] in lexicon.analyte_heads
        ):
            last += 1
        measured = bool(m.codes) and (
            _LAB_VALUE.match(self.doc.text, m.end) is not None
            or _WITH_RANGE.match(self.doc.text, m.end) is not None
        )
        if (first, last) == (m.first, m.last) and not measured:
            return m  # a drug class ("supplementation") names no analyte
        start, end = self.words[first].start, self.words[last - 1].end
        return _Match(
            first,
            last,
            start,
            end,
            EntityType.TEST,
            m.score,
            m.specificity,
            f"{m.source}; measured analyte",
            [],
            self._value_after(first, end),
        )

    # -- 2. combination titles ---------------------------------------------------------------

    def combinations(self, exact: list[_Match]) -> list[_Match]:
        """Problems followed by "with"/"due to" tried with the words that follow."""
        if not self.opts.combination_max_words:
            return []
        out: list[_Match] = []
        for base in exact:
            if base.type is not EntityType.PROBLEM or base.source.startswith("lexicon"):
                continue
            match = self._combination(base)
            if match is None and self.texts[base.first : base.last] == ["pain"]:
                match = self._site_pain(base)
            if match is not None:
                out.append(match)
        return out

    def _site_pain(self, base: _Match) -> _Match | None:
        """ "pain in (the) (left) knee" read as the store's "knee pain" when that name has an
        ICD-10-CM code ("pain in legs" was R52 Pain, unspecified); a side word stays in the
        mention for the laterality rule, or names the site itself ("pain in the right upper
        quadrant" is right upper quadrant pain)."""
        words, texts = self.words, self.texts
        j = base.last
        if j >= len(words) or texts[j] not in _SITE_PAIN_LINKS or not self.joined[j]:
            return None
        sentence = words[j].sentence
        first = j + 1
        while first < len(words) and texts[first] in _DETERMINERS:
            first += 1
        site_start = first
        while site_start < len(words) and texts[site_start] in _SIDE_WORDS:
            site_start += 1
        for start in dict.fromkeys((first, site_start)):
            for length in (3, 2, 1):
                last = start + length
                if last > len(words) or words[last - 1].sentence != sentence:
                    continue
                if not all(self.joined[m] for m in range(j, last)):
                    continue
                site = texts[start:last]
                if "of" in site or (len(site) == 1 and last < len(texts) and texts[last] == "of"):
                    continue  # "pain to back of head" is no back pain
                single = self.singular[last - 1] or _singular(site[-1], 3)  # "legs"
                keys = [" ".join([*site, "pain"])]
                if single:
                    keys.append(" ".join([*site[:-1], single, "pain"]))
                for key in keys:
                    found = [
                        c
                        for c in self.stage.exact_candidates(key)
                        if c.entity_type is EntityType.PROBLEM
                        and any(code.system == ICD10CM for code in c.codes)
                    ]
                    if found:
                        codes = code_candidates(found, note=f" (pain in the {' '.join(site)})")
                        codes += rescored(base.codes, cap=0.84, note="; shorter match")
                        return self._longer(base, last, found[0].score, found, codes, "site pain")
        return None

    def _combination(self, base: _Match) -> _Match | None:
        j = base.last
        words = self.words
        if j >= len(words) or words[j].sentence != words[base.first].sentence:
            return None
        connector = CONNECTORS.get(self.texts[j])
        if connector is None or not self.joined[j]:
            return None
        after = j + 1
        if connector in {"due", "secondary"}:
            if after >= len(words) or self.texts[after] != "to":
                return None
            after += 1
        head = [*self.texts[base.first : j], connector if connector != "secondary" else "due"]
        if connector in {"due", "secondary"}:
            head.append("to")
        room = self.span_limit(after, self.opts.combination_max_words) if after < len(words) else 0
        if after < len(words) and not self.joined[after]:
            room = 0
        best: tuple[float, int, list[Candidate]] | None = None
        # "diabetes mellitus with diabetic chronic kidney disease" (E11 by default) is E11.22,
        # never the look-alike titles of E10.22 (type 1) or E13.22 ("Other specified ...")
        category = _icd_category(base.codes)
        for k in range(1, room + 1):
            if self.texts[after + k - 1] in self.lexicon.function_words:
                continue
            key = " ".join([*head, *self.texts[after : after + k]])
            found = [
                c
                for c in self.stage.title_candidates(key, self.opts.combination_min_similarity)
                if (
                    not _flipped(key, _normal_term(c.term))
                    if category is not None and _in_category(c, category)
                    # the base's category implies the type its title names; another
                    # category must say no more than the words ("anemia with chronic kidney
                    # disease" is D63.1 Anemia in chronic kidney disease)
                    else not _changes_meaning(key, _normal_term(c.term))
                    and not _adds_qualifier(key, _normal_term(c.term))
                )
            ]
            if found and (best is None or found[0].score >= best[0]):
                best = (found[0].score, k, found)
        if best is None:
            return None
        score, k, found = best
        last = after + k
        codes = code_candidates(found, note=" (combination title)")
        codes += rescored(base.codes, cap=max(score - 0.01, 0.0), note="; shorter match")
        return self._longer(base, last, score, found, codes, "combination")

    def _longer(
        self,
        base: _Match,
        last: int,
        score: float,
        found: list[Candidate],
        codes: list[CodeCandidate],
        how: str,
    ) -> _Match:
        """A problem match from ``base`` to word ``last`` named by ``found`` (a combination
        title, a site's pain)."""
        return _Match(
            base.first,
            last,
            base.start,
            self.words[last - 1].end,
            EntityType.PROBLEM,
            score,
            found[0].specificity,
            f"dictionary:{found[0].source} {how}",
            codes,
        )

    # -- 3. misspellings ------------------------------------------------------------------------

    def approximate_matches(self) -> list[_Match]:
        """Windows around unknown words, looked up approximately (bounded per note)."""
        opts, lexicon = self.opts, self.lexicon
        lookups = 0
        out: list[_Match] = []
        n = len(self.words)
        for i, text in enumerate(self.texts):
            if lookups >= opts.approximate_max_lookups:
                break
            if (
                self.covered[i]
                or len(text) < opts.approximate_min_chars
                or not text.isalpha()
                or self.known_run[i]  # known in some spelling
                or text in lexicon.stop_terms
            ):
                continue
            best: tuple[float, int, int, list[Candidate]] | None = None
            for length in range(min(opts.approximate_max_words, n), 0, -1):
                for a in range(max(0, i - length + 1), min(i, n - length) + 1):
                    b = a + length
                    if not self._approximable(a, b):
                        continue
                    if lookups >= opts.approximate_max_lookups:
                        break
                    key = " ".join(self.texts[a:b])
                    if key in lexicon.stop_terms:
                        continue
                    lookups += 1
                    found = [
                        c
                        for c in self.stage.approximate_candidates(key, self.stage.threshold)
                        if c.entity_type is not None
                        and not _changes_meaning(key, _normal_term(c.term))
                    ]
                    if found and (best is None or found[0].score > best[0]):
                        best = (found[0].score, a, b, found)
                if best is not None:
                    break
            if best is None:
                continue
            score, a, b, found = best
            kind = cast(EntityType, found[0].entity_type)
            found = [c for c in found if c.entity_type is kind]
            start, end = self.words[a].start, self.words[b - 1].end
            value = None
            if kind is EntityType.TEST and opts.values:
                stated = self.stage.values.read(
                    self.doc.text, end, self.sentence_end(self.words[a])
                )
                value = stated.value if stated else None
            out.append(
                _Match(
                    a,
                    b,
                    start,
                    end,
                    kind,
                    score,
                    found[0].specificity,
                    f"dictionary:{found[0].source} approximate",
                    code_candidates(found),
                    value,
                )
            )
        return out

    def _approximable(self, a: int, b: int) -> bool:
        words, stop = self.words, self.lexicon.stop_terms
        sentence = words[a].sentence
        for j in range(a, b):
            if self.covered[j] or words[j].sentence != sentence or not self.texts[j].isalpha():
                return False
        if self.texts[a] in stop or self.texts[b - 1] in stop or self._loose_edge(a, b):
            return False
        if b - a == 1 and len(self.texts[a]) < self.opts.approximate_single_min_chars:
            return False
        return sum(map(len, self.texts[a:b])) >= self.opts.approximate_min_chars

    # -- 4. word rules and defined abbreviations ------------------------------------------

    def _value_after(self, first: int, end: int) -> dict[str, Any] | None:
        if not self.opts.values:
            return None
        stated = self.stage.values.read(self.doc.text, end, self.sentence_end(self.words[first]))
        return stated.value if stated else None

    def rule_matches(self) -> list[_Match]:
        """Head-word phrases ("cytogenetic analysis") and words with a telling ending
        ("parathyroidectomy") among the words no name covers."""
        out: list[_Match] = []
        hits = rule_hits(
            self.doc.text,
            self.words,
            self.singular,
            self.covered,
            self.lexicon.function_words,
            self.lexicon.stop_terms,
            self.stage.word_rules,
            self.index.vocabulary,
        )
        for hit in hits:
            start, end = self.words[hit.first].start, self.words[hit.last - 1].end
            if self.sections.in_heading(start):
                continue
            value = self._value_after(hit.first, end) if hit.type is EntityType.TEST else None
            out.append(
                _Match(
                    hit.first,
                    hit.last,
                    start,
                    end,
                    hit.type,
                    self.opts.rule_score,
                    0,
                    f"rule:{hit.rule}",
                    value=value,
                )
            )
        return out

    def defined_abbreviations(self, chosen: list[_Match]) -> list[_Match]:
        """Short forms the note defines after a mention ("hepatocellular carcinoma (HCC)")
        become mentions of the same kind wherever they are written so after the definition,
        replacing a one-word match of another kind ("CMP" after "cardiomyopathy (CMP)" is no
        metabolic panel)."""
        text = self.doc.text
        by_first: dict[str, list[tuple[list[str], str, _Match]]] = {}
        for m in chosen:
            found = defined_short_form(text, m.end)
            if found is None or not long_form_explains(found[0], text[m.start : m.end]):
                continue
            parts = normalize(found[0]).split(" ")
            entries = by_first.setdefault(parts[0], [])
            if all(e[0] != parts for e in entries):
                entries.append((parts, found[0], m))
        elsewhere = defined_elsewhere(
            text, self.words, {m.end: text[m.start : m.end] for m in chosen}, self.covered
        )
        if elsewhere:
            chosen = [m for m in chosen if not _defined_otherwise(m, text, elsewhere)]
        if not by_first:
            return chosen
        exact = {(m.first, m.last): m for m in chosen}
        dropped: set[int] = set()
        added: list[_Match] = []
        n = len(self.words)
        for i, word in enumerate(self.texts):
            defined = by_first.get(word) or by_first.get(word[:-1] if word.endswith("s") else "")
            for parts, short, long_form in defined or ():
                last = i + len(parts)
                if i < long_form.last or last > n:
                    continue  # only after the definition: before it, the note has not said
                if not _same_short_form(self.texts[i:last], parts):
                    continue
                start, end = self.words[i].start, self.words[last - 1].end
                if text[start:end] not in (short, short + "s"):
                    continue
                if any(self.covered[i:last]):
                    other = exact.get((i, last))
                    if other is None or other is long_form:
                        continue
                    if _same_meaning(other, long_form, text[long_form.start : long_form.end]):
                        continue
                    dropped.add(id(other))
                value = self._value_after(i, end) if long_form.type is EntityType.TEST else None
                named = text[long_form.start : long_form.end]
                added.append(
                    _Match(
                        i,
                        last,
                        start,
                        end,
                        long_form.type,
                        long_form.score,
                        long_form.specificity,
                        f"abbreviation:defined as '{named}'",
                        rescored(
                            long_form.codes,
                            cap=long_form.score,
                            note=f"; '{short}' defined as '{named}'",
                        ),
                        value,
                    )
                )
                for j in range(i, last):
                    self.covered[j] = True
                break
        out = [m for m in chosen if id(m) not in dropped] + added
        return sorted(out, key=lambda m: m.start)

    # -- 5. semantic tags -------------------------------------------------------------------

    def apply_tags(self, chosen: list[_Match]) -> list[_Match]:
        """Phrases before "(finding)", "(disorder)" ... become one entity of the tag's type;
        matches inside such a phrase give it their codes as alternatives, scored below
        selection (:data:`TAGGED_PART_MAX_SCORE`)."""
        owner: list[_Match | None] = [None] * len(self.words)
        for m in chosen:
            for i in range(m.first, m.last):
                owner[i] = m
        dropped: set[int] = set()
        added: list[_Match] = []
        for phrase in tagged_phrases(self.doc, self.words, self.lexicon):
            start = self.words[phrase.first].start
            end = self.words[phrase.last - 1].end
            if self.sections.in_heading(start):
                continue
            inside = list(
                {id(m): m for m in owner[phrase.first : phrase.last] if m is not None}.values()
            )
            if any(
                m.first <= phrase.first and phrase.last <= m.last and m.type is phrase.type
                for m in inside
            ):
                continue
            if any(m.first < phrase.first or phrase.last < m.last for m in inside):
                continue  # a longer name runs across the phrase's edge: keep it
            key = " ".join(self.texts[phrase.first : phrase.last])
            found = [
                c
                for c in self.stage.merged_candidates(key)
                if c.entity_type is phrase.type and not _flipped(key, _normal_term(c.term))
            ]
            codes = code_candidates(found)
            for m in inside:
                if m.type is phrase.type:
                    codes += _part_codes(m.codes, key)
                dropped.add(id(m))
            tagged = _Match(
                phrase.first,
                phrase.last,
                start,
                end,
                phrase.type,
                found[0].score if found else 0.5,
                found[0].specificity if found else 0,
                f"semantic-tag:{phrase.tag}",
                codes,
            )
            added.append(tagged)
            for i in range(phrase.first, phrase.last):
                owner[i] = tagged
        out = [m for m in [*chosen, *added] if id(m) not in dropped]
        return sorted(out, key=lambda m: m.start)


def _resolve(matches: list[_Match], n_words: int) -> list[_Match]:
    """Non-overlapping matches: longer spans first, then higher score, then more specific.
    Overlap is checked on word slots, so resolving stays linear in the note's length."""
    ranked = sorted(matches, key=lambda m: (-(m.end - m.start), -m.score, -m.specificity, m.start))
    taken = [False] * n_words
    chosen: list[_Match] = []
    for m in ranked:
        if not any(taken[m.first : m.last]):
            chosen.append(m)
            for i in range(m.first, m.last):
                taken[i] = True
    return sorted(chosen, key=lambda m: m.start)


def _same_short_form(words: list[str], parts: list[str]) -> bool:
    """Whether ``words`` spell the short form ``parts``, the last one perhaps a plural."""
    if words[:-1] != parts[:-1]:
        return False
    return words[-1] in (parts[-1], parts[-1] + "s")


def _balanced_end(text: str, start: int, end: int) -> int:
    """Past a ")" that closes a "(" the span opened ("esophagogastroduodenoscopy (EGD)")."""
    span = text[start:end]
    if span.count("(") > span.count(")") and text[end : end + 1] == ")":
        return end + 1
    return end


@lru_cache(maxsize=_MEMO_SIZE)
def _normal_term(term: str) -> str:
    """``normalize`` of a candidate's term, memoised: approximate lookups return the same
    terms again and again."""
    return normalize(term)


def _icd_category(codes: Sequence[CodeCandidate]) -> str | None:
    """The ICD-10-CM category (3 characters) of the best-ranked ICD-10-CM code, if any."""
    for code in codes:
        if code.system == ICD10CM:
            return code.code[:3]
    return None


def _in_category(candidate: Candidate, category: str) -> bool:
    """Whether a candidate has no ICD-10-CM code or one of ``category``."""
    icd = [c.code for c in candidate.codes if c.system == ICD10CM]
    return not icd or any(code[:3] == category for code in icd)


_QUALIFIERS = frozenset(
    {"other", "specified", "type", "induced", "drug", "chemical", "underlying", "secondary"}
)
"""Title words that say which kind of a disorder it is; a combination title of another
category may not add them to the note's words."""


def _adds_qualifier(key: str, term: str) -> bool:
    """Whether ``term`` has a qualifier word that ``key`` lacks."""
    return not _QUALIFIERS.isdisjoint(set(term.split(" ")) - set(key.split(" ")))


_ROMAN = frozenset({"i", "ii", "iii", "iv", "v", "vi"})


def _changes_meaning(key: str, term: str) -> bool:
    """Whether an approximate match says something the words do not: a flipped prefix, or
    other numbers ("type 2 diabetes ... with diabetic chronic kidney disease" is close in
    letters to the title of E10.22, type 1; "diabetis" is no "type 2 diabetes").

    >>> _changes_meaning("type 2 diabetes", "type 1 diabetes")
    True
    >>> _changes_meaning("diabetis mellitus", "diabetes mellitus")
    False
    """
    return _flipped(key, term) or _numbers(key) != _numbers(term)


def _numbers(text: str) -> list[str]:
    return sorted(w for w in text.split(" ") if w.isdigit() or w in _ROMAN)


def _flipped(key: str, term: str) -> bool:
    """Whether an approximate match only differs by a negating prefix or hypo/hyper: "facial
    symmetry" is not "facial asymmetry", "hypokalemia" is not "hyperkalemia"."""
    ours, theirs = key.split(" "), term.split(" ")
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if a == b:
            continue
        short, long_ = sorted((a, b), key=len)
        if any(long_ == prefix + short for prefix in _FLIP_PREFIXES):
            return True
        if {a[:5], b[:5]} == {"hyper", "hypo"} or {a[:4], b[:4]} == {"hypo", "hype"}:
            return True
    return False


def _letters(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _respell(word: str, words: dict[str, str], prefixes: dict[str, str]) -> str | None:
    """British or older spelling → the one vocabularies use ("oedema" → "edema")."""
    if word in words:
        return words[word]
    for old, new in prefixes.items():
        if word.startswith(old) and old != new:
            return new + word[len(old) :]
    return None


_LATIN_PLURALS = (
    ("ices", "ix"),
    ("ices", "ex"),
    ("ses", "sis"),
    ("ae", "a"),
    ("i", "us"),
    ("a", "um"),
)
"""Latin and Greek plural endings and their singulars: "varices", "stenoses", "fistulae",
"emboli", "diverticula"."""


def _singular(
    word: str, min_letters: int, vocabulary: set[str] | frozenset[str] = frozenset()
) -> str | None:
    """A plural's singular ("lesions" → "lesion", "arteries" → "artery"), or None; a Latin
    plural ("diverticula" → "diverticulum") only when ``vocabulary`` knows the singular."""
    if len(word) <= min_letters or not word.isalpha():
        return None
    if vocabulary and word not in vocabulary:
        for plural, single in _LATIN_PLURALS:
            if word.endswith(plural):
                candidate = word[: -len(plural)] + single
                if candidate in vocabulary:
                    return candidate
    if not word.endswith("s"):
        return None
    if word.endswith(("ss", "us", "is")):
        return None
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1]


def verified_lexicon_codes(
    store: TerminologyStore, lexicon: ClinicalLexicon
) -> dict[str, list[CodeCandidate]]:
    """The lexicon's codes that the store holds with the same display, by entry name; any
    other code is dropped with a warning (a code is never emitted unless the store has it)."""
    out: dict[str, list[CodeCandidate]] = {}
    for group in lexicon.groups.values():
        for entry in group.entries:
            for claimed in entry.codes:
                system = resolve_system(claimed.system)
                found = store.search(claimed.code, system=system, limit=5)
                hit = next(
                    (
                        c
                        for c in found
                        if c.how == "code"
                        and any(
                            k.system == system
                            and k.code == claimed.code
                            and k.display == claimed.display
                            for k in c.codes
                        )
                    ),
                    None,
                )
                if hit is None:
                    log.warning(
                        "lexicon code %s %s is not in the terminology store; dropped",
                        claimed.system,
                        claimed.code,
                    )
                    continue
                out.setdefault(entry.name, []).append(
                    CodeCandidate(
                        system=system,
                        code=claimed.code,
                        display=claimed.display,
                        score=1.0,
                        reason=f"lexicon: {entry.name} [{hit.concept_id}]",
                        selected=False,
                    )
                )
    return out


def _same_meaning(match: _Match, long_form: _Match, long_text: str) -> bool:
    """Whether a store match of a defined short form already means its long form: same kind,
    and its best code among the long form's, or named with at least half the long form's words
    ("BCC" after "basal cell carcinoma (BCC)" keeps C44.91, "CML" after "chronic myelogenous
    leukemia (CML)" keeps C92.10; "ASD" after "atrial septal defect (ASD)" is no autism
    spectrum disorder)."""
    if match.type is not long_form.type:
        return False
    if not match.codes or not long_form.codes:
        return True
    best = match.codes[0]
    if any(c.system == best.system and c.code == best.code for c in long_form.codes):
        return True
    named = _LETTERS.findall(best.display.lower())
    words = [w for w in _LETTERS.findall(long_text.lower()) if len(w) >= 3]
    shared = sum(any(_same_stem(w, n) for n in named) for w in words)
    return bool(words) and shared * 2 >= len(words)


def _defined_otherwise(match: _Match, text: str, elsewhere: dict[str, tuple[int, str]]) -> bool:
    """Whether ``match`` is a problem whose short form the note defines, from
    ``elsewhere[short]`` on, as words that are no mention and share no word with what the
    store says it means ("PCP" after "primary care physician (PCP)"; not "HBV" after
    "hepatitis-B virus (HBV)")."""
    written = text[match.start : match.end].lower()
    found = elsewhere.get(written)
    if found is None and written.endswith("s"):
        found = elsewhere.get(written[:-1])
    if found is None or match.start < found[0] or match.type is not EntityType.PROBLEM:
        return False  # a problem of another meaning is the harm: a condition never stated
    meant = {w for c in match.codes for w in _LETTERS.findall(c.display.lower())}
    return not any(
        _same_stem(word, other) for word in _LETTERS.findall(found[1].lower()) for other in meant
    )


def _same_stem(a: str, b: str) -> bool:
    """Whether two words share their first five letters, or are the same word of three letters
    or four ("electrocardiographic" / "electrocardiogram", "thoracic" / "thoracoscopic",
    "hiv" / "hiv"; never "of" / "of")."""
    if len(a) < STEM or len(b) < STEM:
        return a == b and len(a) >= 3
    return a[:STEM] == b[:STEM]


def _part_codes(codes: list[CodeCandidate], phrase: str) -> list[CodeCandidate]:
    """The codes of a name inside a tagged phrase, as the phrase's alternatives: capped at
    :data:`TAGGED_PART_SCORE`, or below selection when the phrase contradicts the title."""
    out: list[CodeCandidate] = []
    for code in codes:
        clash = contradiction(code.display, phrase)
        if clash is None:
            out += rescored([code], cap=TAGGED_PART_SCORE, note="; part of the tagged phrase")
        else:
            note = f"; part of the tagged phrase, which says '{clash}'"
            out += rescored([code], cap=CONTRADICTED_MAX_SCORE, note=note)
    return out


def contradiction(title: str, phrase: str) -> str | None:
    """The word of ``phrase`` that a code ``title`` denies, or None: what the title says it is
    "without", or acute against chronic.

    >>> title = "Age-related osteoporosis without current pathological fracture"
    >>> contradiction(title, "pathological fracture due to osteoporosis")
    'pathological'
    >>> contradiction("Chronic sinusitis, unspecified", "acute bacterial sinusitis")
    'acute'
    >>> contradiction("Acute pharyngitis, unspecified", "acute viral pharyngitis") is None
    True
    >>> contradiction("Complete or unspecified spontaneous abortion without complication",
    ...               "complete miscarriage") is None
    True
    """
    said: set[str] = set(_LETTERS.findall(phrase.lower()))
    low = title.lower()
    for denied in _WITHOUT.findall(low):
        for word in _LETTERS.findall(denied):
            found = sorted(w for w in said if _denied(word, w))
            if found:
                return found[0]
    named = set(_LETTERS.findall(low))
    for word, opposite in _OPPOSITES:
        if word in said and opposite in named and word not in named:
            return word
    return None


_WITH_CLAUSE = re.compile(
    r"[ \t]{0,2},?[ \t]{1,2}with[ \t]{1,2}((?:[A-Za-z-]+[ \t]{1,2}){0,3}[A-Za-z-]+)", re.I
)
"""The words of a "with" clause right after a mention ("dementia with behavioral
disturbance")."""
_WITH_INSIDE = re.compile(r"[ \t]with[ \t]+(.+)$", re.I)
"""The words after "with" inside a mention (a combination title's words)."""


def _with_clause_checked(
    codes: list[CodeCandidate], text: str, start: int, end: int
) -> list[CodeCandidate]:
    """``codes`` with those whose title denies what a "with" clause of the mention, or right
    after it, says scored below selection ("dementia with behavioral disturbance" is no F03.90
    "... without behavioral disturbance ..."); the codes stay for coders."""
    if not codes:
        return codes
    inside = _WITH_INSIDE.search(text, start, end)
    clause = _WITH_CLAUSE.match(text, end)
    if inside is None and clause is None:
        return codes
    said = " ".join(m.group(1) for m in (inside, clause) if m is not None)
    out: list[CodeCandidate] = []
    for code in codes:
        if code.score > CONTRADICTED_MAX_SCORE and _WITHOUT.search(code.display.lower()):
            clash = contradiction(code.display, said)
            if clash is not None:
                out += rescored(
                    [code], cap=CONTRADICTED_MAX_SCORE, note=f"; the note says with '{clash}'"
                )
                continue
        out.append(code)
    return out


def _denied(denied: str, said: str) -> bool:
    """Whether a word of the phrase is the word a title denies: the same word, or the same
    first six letters ("fracture" / "fractures"; not "complete" / "complication")."""
    if denied == said:
        return len(denied) >= STEM
    return len(denied) >= 6 and len(said) >= 6 and denied[:6] == said[:6]
