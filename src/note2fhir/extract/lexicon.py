"""The curated clinical lexicon (``clinical_lexicon.yaml``): tests, vital signs, studies,
procedures and drug classes, plus the matching rules (stop terms, ambiguous abbreviations,
spelling variants, result units) that the ``extract`` stage applies."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from note2fhir.document import EntityType
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.normalize import normalize

LEXICON_FILE = "clinical_lexicon.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LexiconCode(_Strict):
    """A code an entry claims; kept only when the terminology store has it with this display."""

    system: str
    code: str
    display: str


class LexiconEntry(_Strict):
    """One test, study, procedure or drug class with the ways notes write it."""

    name: str
    terms: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)
    with_value: list[str] = Field(default_factory=list)
    codes: list[LexiconCode] = Field(default_factory=list)
    value: bool | None = None


class LexiconGroup(_Strict):
    """Entries of one kind (``labs``, ``procedures`` ...) and the entity type they make."""

    type: EntityType
    entries: list[LexiconEntry]


class AmbiguityRule(_Strict):
    """Words near an ambiguous abbreviation that speak for or against the store's meaning."""

    against: list[str] = Field(default_factory=list)
    support: list[str] = Field(default_factory=list)
    against_sections: list[str] | None = None
    against_number: bool = False
    """A number right after it makes it a measurement ("VT 360", "PAD 22-26", "RA 12")."""
    needs_support: bool = False
    """Keep the store's meaning only with a supporting word: capitals alone do not say which
    meaning ("PCP" is far more often the primary care provider than pneumocystis)."""
    against_grades: list[str] = Field(default_factory=list)
    """Numbers that, right after it, make it a grade or class ("ASA 2", "ASA III"), where a
    larger number is a dose ("ASA 81")."""
    keep_by_default: bool = False
    """Keep the meaning when no word speaks for or against it ("also on asa and lipitor"):
    for a lexicon drug whose other meaning has words of its own ("ASA class II")."""
    note_support: list[str] = Field(default_factory=list)
    """Words anywhere in the note that keep a rule's meaning that needs support when no word
    nearby gives it and no against word stands nearby: a Parkinson's case report that names
    levodopa once and "PD" ten times; "ESKD on PD" beside it stays peritoneal dialysis."""

    @model_validator(mode="after")
    def _against_is_read(self) -> AmbiguityRule:
        if self.needs_support and self.against and not self.note_support:
            raise ValueError("a rule that needs support never reads its against words")
        return self


class AmbiguityRules(_Strict):
    """How ambiguous abbreviations ("PE", "MS", "RA") are confirmed or dropped."""

    window: int = Field(6, gt=0)
    default_against_sections: list[str] = Field(default_factory=list)
    rules: dict[str, AmbiguityRule] = Field(default_factory=dict)


class SpellingRules(_Strict):
    """British and older spellings tried when the written word finds nothing."""

    prefixes: dict[str, str] = Field(default_factory=dict)
    words: dict[str, str] = Field(default_factory=dict)
    plural_min_letters: int = 4


class UnitSpelling(_Strict):
    """A unit as notes write it and its UCUM code."""

    text: str
    ucum: str


class HeadRule(_Strict):
    """Head words that make an entity of ``type`` together with the words before them:
    "cytogenetic analysis", "bone marrow biopsy", "decongestive therapy"."""

    type: EntityType
    heads: frozenset[str]
    alone: frozenset[str] = frozenset()
    """Heads that make an entity without any word before them ("workup")."""


class SuffixRule(_Strict):
    """Word endings that name an entity type ("-ectomy" a procedure, "-itis" a problem)."""

    type: EntityType
    endings: list[str]
    min_stem: int = Field(3, ge=1)
    """Letters the word must have before the ending ("appendectomy", not "ectomy")."""


class WordRules(_Strict):
    """Rules for mentions no dictionary names: head words and word endings."""

    max_modifiers: int = Field(3, ge=0, le=6)
    modifier_stops: frozenset[str] = frozenset()
    """Words that never join a head word's phrase (verbs, quantifiers, time words)."""
    heads: list[HeadRule] = Field(default_factory=list)
    suffixes: list[SuffixRule] = Field(default_factory=list)
    suffix_exceptions: frozenset[str] = frozenset()
    """Words that have a listed ending but name no entity ("diagnosis", "program")."""
    passive_procedures: frozenset[str] = frozenset()
    """Past participles that are a procedure after a form of "be" ("was resected")."""
    passive_auxiliaries: frozenset[str] = frozenset()
    """The forms of "be" (and "got") that make a listed participle a procedure."""


class WordContext(_Strict):
    """Words right after or right before one problem name that make it no problem."""

    after: frozenset[str] = frozenset()
    before: frozenset[str] = frozenset()


class NotProblems(_Strict):
    """Contexts in which a problem name names a test, a vaccine, a team or an idiom."""

    @field_validator("test_cues", "other_cues", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """Phrases are written as text ("sent for"); they are kept as word tuples."""
        if isinstance(value, list):
            return tuple(tuple(str(v).split()) for v in value)
        return value

    test_heads: frozenset[str] = frozenset()
    other_heads: frozenset[str] = frozenset()
    before: frozenset[str] = frozenset()
    list_cues: frozenset[str] = frozenset()
    test_cues: tuple[tuple[str, ...], ...] = ()
    """Words right before a name that make it the name of a test sent ("sent for c diff")."""
    other_cues: tuple[tuple[str, ...], ...] = ()
    """Words right before a name that make it a topic, no problem stated ("education
    regarding hypertension")."""
    head_skip: frozenset[str] = frozenset()
    """Words that may stand between a name and its head ("zoster virus antibody")."""
    drug_heads: frozenset[str] = frozenset()
    """Words after a drug name that make it part of an enzyme's, receptor's or gene's name."""
    panel_names: frozenset[str] = frozenset()
    """Names of tests run together (lower case), whose list before one negative result
    is a list of tests ("COVID and flu negative")."""
    likeness: frozenset[str] = frozenset()
    """Words after a name that say something only resembles it ("flu-like symptoms")."""
    likeness_heads: frozenset[str] = frozenset()
    """What a likeness word without a hyphen must describe to count ("flu like symptoms",
    not "chest pain like pressure")."""
    susceptibility_cues: frozenset[str] = frozenset()
    """Words before "to" that list the drugs an isolate was tested against ("resistant to")."""
    microbe_words: frozenset[str] = frozenset()
    """Words that make a sentence a culture's report ("isolate", "strain", "MRSA")."""
    sections: frozenset[str] = frozenset()
    """Sections whose problem names are vaccines given ("Immunizations: hep B, adult")."""
    words: dict[str, WordContext] = Field(default_factory=dict)


class ClinicalLexicon(_Strict):
    """The contents of ``clinical_lexicon.yaml``."""

    version: int
    stop_terms: frozenset[str]
    function_words: frozenset[str] = frozenset()
    min_lowercase_single: int = 4
    lowercase_abbreviations: frozenset[str] = frozenset()
    ambiguous: AmbiguityRules = AmbiguityRules()
    semantic_tags: dict[str, EntityType] = Field(default_factory=dict)
    tag_phrase_openers: frozenset[str] = frozenset()
    tag_phrase_of_heads: frozenset[str] = frozenset()
    """Words before "of" that make it an opener ("history of"); after any other word "of"
    belongs to the phrase ("transplantation of kidney (situation)")."""
    tag_phrase_max_words: int = 12
    spelling: SpellingRules = SpellingRules()
    units: list[UnitSpelling] = Field(default_factory=list)
    word_rules: WordRules = WordRules()
    qualitative: list[str] = Field(default_factory=list)
    result_adjectives: frozenset[str] = frozenset()
    """Words that, before or after a test name, state its result: a problem name such as
    "elevated serum creatinine" is read as the test and its result."""
    problem_sections: frozenset[str] = frozenset()
    """Sections where such a name stays a problem (an assessment's "creatinine elevated")."""
    specimen_words: frozenset[str] = frozenset()
    """Words that, right before a drug or nutrient name, make it a measured analyte
    ("serum zinc", "plasma norepinephrine")."""
    analyte_heads: frozenset[str] = frozenset()
    """Words that, right after a drug or nutrient name, make it a measured analyte
    ("carnitine level", "vitamin B12 concentrations")."""
    not_problems: NotProblems = NotProblems()
    """Problem names that in context name a test, a vaccine, a team or an idiom."""
    groups: dict[str, LexiconGroup]


@cache
def load_lexicon() -> ClinicalLexicon:
    """The packaged clinical lexicon (parsed once per process)."""
    return load_data_file(LEXICON_FILE, ClinicalLexicon)


class LexiconForm(BaseModel):
    """One matchable form of an entry, keyed by its normalised text."""

    model_config = ConfigDict(frozen=True)

    group: str
    entry: str
    type: EntityType
    written: str
    kind: str
    """``term``, ``abbreviation`` or ``with_value``."""
    case_sensitive: bool
    wants_value: bool


def lexicon_forms(lexicon: ClinicalLexicon) -> dict[str, list[LexiconForm]]:
    """Every form of every entry by normalised text ("cxr" → chest x-ray)."""
    out: dict[str, list[LexiconForm]] = {}
    for group_name, group in lexicon.groups.items():
        for entry in group.entries:
            wants_value = entry.value if entry.value is not None else group.type is EntityType.TEST
            kinds = (
                [(t, "term") for t in entry.terms]
                + [(a, "abbreviation") for a in entry.abbreviations]
                + [(w, "with_value") for w in entry.with_value]
            )
            for written, kind in kinds:
                norm = normalize(written)
                if not norm:
                    continue
                letters = sum(ch.isalpha() for ch in written)
                form = LexiconForm(
                    group=group_name,
                    entry=entry.name,
                    type=group.type,
                    written=written,
                    kind=kind,
                    case_sensitive=kind != "term" and letters <= 2,
                    wants_value=wants_value,
                )
                bucket = out.setdefault(norm, [])
                if form not in bucket:
                    bucket.append(form)
    return out
