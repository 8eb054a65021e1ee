"""The one document model that flows through every stage.

A :class:`ClinicalDocument` is made by a FHIR reader from one attachment of one source
resource.  It keeps the ORIGINAL text exactly as decoded, the WORKING text the stages read
(reduced from HTML, later de-identified) and the offset map between them.  Stages add typed
annotations; FHIR builders only read them.

Annotation spans (``start``/``end``) are offsets into the working text; use
:meth:`ClinicalDocument.original_span` to get the offsets that leave the library.  Everything
here is plain data (dataclasses, dicts of JSON values) so documents pickle and travel between
processes.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from note2fhir.offsets import OffsetMap

JSONDict = dict[str, Any]


class EntityType(StrEnum):
    """What kind of clinical thing a mention names; decides the FHIR resource it becomes."""

    PROBLEM = "problem"
    MEDICATION = "medication"
    TEST = "test"
    PROCEDURE = "procedure"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where the text came from: the resource, and which of its attachments.

    ``reference`` is how output resources point at the source (``DocumentReference/123`` or a
    bundle ``fullUrl``); ``attachment_path`` is the FHIRPath of the attachment, e.g.
    ``DocumentReference.content[0].attachment``.
    """

    resource_type: str
    resource_id: str | None
    reference: str | None
    attachment_path: str
    attachment_index: int = 0
    content_type: str = "text/plain"
    location: str = ""
    """Where the resource was read from (``notes.ndjson line 4``); for messages, never PHI."""
    identifier: JSONDict | None = None
    """The source's first business identifier, used to reference it when it has no id."""


@dataclass(slots=True)
class DocumentContext:
    """FHIR context carried from the source resource to every output resource (JSON values)."""

    subject: JSONDict | None = None
    encounter: JSONDict | None = None
    date: str | None = None
    type: JSONDict | None = None
    category: list[JSONDict] = field(default_factory=list)
    author: list[JSONDict] = field(default_factory=list)
    title: str | None = None
    patient: JSONDict | None = None
    """The Patient resource named by ``subject`` when the input carried it (feeds de-id)."""


@dataclass(frozen=True, slots=True)
class Section:
    """A note section such as ``past_medical_history``, from its heading to the next one."""

    start: int
    end: int
    name: str
    title: str
    heading_end: int
    """Where the heading text ends; the body runs from here to ``end``."""


@dataclass(frozen=True, slots=True)
class Cue:
    """Why an assertion was made: the rule, its category and the trigger it matched."""

    category: str
    rule: str
    start: int | None = None
    end: int | None = None
    detail: str | None = None


@dataclass(slots=True)
class Assertion:
    """The ConText-style status of a mention.

    negated: the note says it is absent ("denies chest pain"); uncertain: possible or to be
    ruled out ("r/o MI"); hypothetical: conditional or future ("if fever develops");
    historical: in the past, not now ("hx of MI"); family: experienced by someone other than
    the patient ("mother had breast cancer").  ``relative`` names the family member when known
    (a v3-RoleCode code such as ``MTH``); ``cues`` explain every decision.
    """

    negated: bool = False
    uncertain: bool = False
    hypothetical: bool = False
    historical: bool = False
    family: bool = False
    differential: bool = False
    relative: str | None = None
    cues: list[Cue] = field(default_factory=list)

    def as_flags(self) -> dict[str, bool]:
        """The five flags of the ``annotate`` contract."""
        return {
            "negated": self.negated,
            "uncertain": self.uncertain,
            "hypothetical": self.hypothetical,
            "historical": self.historical,
            "family": self.family,
        }


@dataclass(frozen=True, slots=True)
class CodeCandidate:
    """One ranked code suggestion for a mention, with its score and the reason for it."""

    system: str
    code: str
    display: str
    score: float
    reason: str = ""
    selected: bool = True
    """False for alternatives kept for coders but not put on the FHIR resource."""


@dataclass(slots=True)
class MedicationAttributes:
    """What a note says about how a medication is taken (all optional).

    ``dose_value``/``dose_unit`` use UCUM units where known ("mg"); ``route`` is a
    ``{system, code, display}`` coding when coded (HL7 v3 RouteOfAdministration PO/IM today);
    ``timing`` holds FHIR ``Timing.repeat`` fields (frequency, period, periodUnit, when);
    ``status`` is a status word such as "started" or "discontinued".
    """

    text: str | None = None
    strength: str | None = None
    dose_value: float | None = None
    dose_unit: str | None = None
    form: str | None = None
    route: JSONDict | None = None
    route_text: str | None = None
    timing: JSONDict | None = None
    frequency_text: str | None = None
    duration: str | None = None
    as_needed: bool = False
    as_needed_reason: str | None = None
    status: str | None = None

    def as_dict(self) -> JSONDict:
        """The attributes that are set, as JSON."""
        out: JSONDict = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value not in (None, False, "", {}):
                out[name] = value
        return out


NORMAL_STATE_SOURCE = "lexicon:normal_states"
"""``Entity.source`` of a normal state ("afebrile", "asymptomatic"): a sign the corpora
annotate, which names no problem: it makes no Condition and takes part in no relation."""


@dataclass(slots=True)
class Entity:
    """A mention of a problem, medication, test or procedure in the working text."""

    id: str
    start: int
    end: int
    text: str
    type: EntityType
    section: str | None = None
    source: str = ""
    """Which stage or rule found it (``targets``, ``dictionary:icd10cm`` ...)."""
    assertion: Assertion = field(default_factory=Assertion)
    codes: list[CodeCandidate] = field(default_factory=list)
    medication: MedicationAttributes | None = None
    value: JSONDict | None = None
    """A stated result for a test, as a FHIR Quantity or ``{"string": ...}``."""

    @property
    def selected_codes(self) -> list[CodeCandidate]:
        """Codes confident enough to put on a FHIR resource, best first."""
        return [c for c in self.codes if c.selected]


@dataclass(frozen=True, slots=True)
class Relation:
    """A typed link between two entities (by id), e.g. ``treats``: medication → problem."""

    type: str
    source: str
    target: str
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    """A stated result of a test mention in the working text: "troponin was **elevated**",
    "**normal** ECG", "BP **90/60 mmHg**".  ``entity`` is the test's id; ``value`` is a FHIR
    Quantity dict or ``{"string": ...}``; ``rule`` says which pattern found it.  A result
    stated after a reporting verb with no test found ("gait was **normal**") names the nearest
    mention before it, or none."""

    start: int
    end: int
    entity: str | None
    value: JSONDict
    rule: str


@dataclass(frozen=True, slots=True)
class PhiSpan:
    """A stretch of protected health information in the working text, by HIPAA category."""

    start: int
    end: int
    type: str


@dataclass(frozen=True, slots=True)
class Token:
    """A word, number or punctuation mark of the working text; ``norm`` is its lower-cased,
    accent-free form (what dictionaries match)."""

    start: int
    end: int
    norm: str


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence or sentence-like unit (a list item, a heading, a line of a template); the
    scope of assertion triggers.  ``tokens`` indexes ``doc.tokens`` as ``[first, last)``."""

    start: int
    end: int
    first_token: int
    last_token: int


@dataclass(frozen=True, slots=True)
class TargetSpan:
    """A span the caller forces to be an entity (evaluation of assertion on gold spans)."""

    start: int
    end: int
    type: EntityType | None = None


@dataclass(slots=True)
class ClinicalDocument:
    """One note on its way through the pipeline.

    ``original_text`` is the attachment exactly as decoded; ``text`` is the working text that
    stages read; ``offsets`` maps working offsets to original ones.  ``layers`` records which
    annotation layers stages have assigned (``sections``, ``entities`` ...).
    """

    id: str
    source: SourceRef
    original_text: str
    text: str = ""
    offsets: OffsetMap | None = None
    context: DocumentContext = field(default_factory=DocumentContext)
    sections: list[Section] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    phi: list[PhiSpan] = field(default_factory=list)
    targets: list[TargetSpan] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    layers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.offsets is None:
            if not self.text:
                self.text = self.original_text
            self.offsets = OffsetMap.identity(len(self.original_text))
        if self.offsets.work_length != len(self.text):
            raise ValueError("offset map does not fit the working text")
        if self.offsets.orig_length != len(self.original_text):
            raise ValueError("offset map does not fit the original text")

    @property
    def offset_map(self) -> OffsetMap:
        """The working → original map (always set after construction)."""
        assert self.offsets is not None
        return self.offsets

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text offsets of the working span ``[start, end)``."""
        return self.offset_map.span(start, end)

    def rewrite(self, text: str, later: OffsetMap) -> None:
        """Replace the working text by ``text``, mapped onto the current one by ``later``."""
        if later.work_length != len(text):
            raise ValueError("offset map does not fit the new text")
        self.offsets = self.offset_map.then(later)
        self.text = text

    def section_at(self, offset: int) -> Section | None:
        """The section that contains working ``offset``, if sections are assigned."""
        for section in self.sections:
            if section.start <= offset < section.end:
                return section
        return None

    def sentence_at(self, offset: int, *, or_before: bool = False) -> int | None:
        """The index in ``sentences`` of the sentence that holds working ``offset`` (its start
        included, its end not), or None where none does: before the first sentence, or in a
        gap between two (a blank line).  With ``or_before`` an offset in a gap belongs to the
        sentence before it, so only an offset before the first sentence gives None."""
        index = bisect_right(self.sentences, offset, key=lambda s: s.start) - 1
        if index < 0 or (not or_before and offset >= self.sentences[index].end):
            return None
        return index

    def entity(self, entity_id: str) -> Entity | None:
        """Look an entity up by id."""
        for ent in self.entities:
            if ent.id == entity_id:
                return ent
        return None
