"""The medication pattern table (``medication_patterns.yaml``) and its compiled form."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from note2fhir.medication import STATUS_WORDS
from note2fhir.medication.phrases import (
    NUMBER,
    SLOTS,
    TIME,
    PhraseSet,
    phrase_elements,
    single_words,
)
from note2fhir.resources.loader import load_data_file

PATTERNS_FILE = "medication_patterns.yaml"

EVENT_TIMING = frozenset(
    {
        "MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE",
        "EVE.early", "EVE.late", "NIGHT", "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC",
        "ACM", "ACD", "ACV", "PC", "PCM", "PCD", "PCV",
    }
)  # fmt: skip
"""FHIR R4 EventTiming codes (http://hl7.org/fhir/event-timing and v3 TimingEvent)."""

TimeCode = Literal["s", "min", "h", "d", "wk", "mo", "a"]
Position = Literal["before", "after"]
POSITIONS: tuple[Position, ...] = ("before", "after")
TemplateValue = int | float | str | list[str]

_INTEGER_FIELDS = frozenset({"frequency", "frequencyMax", "count", "countMax"})
_NUMBER_FIELDS = frozenset({"period", "periodMax", "duration", "durationMax"})
_UNIT_FIELDS = frozenset({"periodUnit", "durationUnit"})
_TIMING_FIELDS = _INTEGER_FIELDS | _NUMBER_FIELDS | _UNIT_FIELDS | {"when"}
_DURATION_SLOTS: dict[str, tuple[str, ...]] = {"bounds": (NUMBER, TIME)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """How far around a drug name the sig is read."""

    before_words: int = Field(ge=0)
    after_words: int = Field(ge=0)
    after_max_gap: int = Field(ge=0)


class TimeUnit(_Model):
    """A unit of time: its UCUM / Timing code, display name and spellings."""

    code: TimeCode
    display: str
    words: list[str] = Field(min_length=1)


class AmountUnit(_Model):
    """A unit of an amount ("mg"); ``ucum`` is None where the UCUM code is not certain."""

    ucum: str | None
    display: str
    words: list[str] = Field(min_length=1)
    strength: bool = True
    dose: bool = True


class DoseUnit(_Model):
    """A countable dose unit ("tab"), with the dose form it implies."""

    unit: str
    form: str | None = None
    words: list[str] = Field(min_length=1)


class Denominator(_Model):
    """The ``/mL`` of "5 mg/mL"; ``per_volume`` marks a concentration (never a dose)."""

    ucum: str | None
    display: str
    words: list[str] = Field(min_length=1)
    per_volume: bool = False


class FrequencyPattern(_Model):
    """Phrases that fill ``Timing.repeat`` from a template ("$1" is the first capture)."""

    timing: dict[str, TemplateValue]
    phrases: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_template(self) -> FrequencyPattern:
        for key, value in self.timing.items():
            if key not in _TIMING_FIELDS:
                raise ValueError(f"unknown Timing.repeat field {key}")
            if key == "when":
                if not isinstance(value, list) or not set(value) <= EVENT_TIMING:
                    raise ValueError("when must list EventTiming codes")
            elif isinstance(value, list):
                raise ValueError(f"{key} takes one value")
        return self


class DurationPattern(_Model):
    """Phrases that bound the course: ``bounds`` ("for 7 days") or ``count`` ("x3 doses")."""

    sets: Literal["bounds", "count"]
    phrases: list[str] = Field(min_length=1)


class AsNeeded(_Model):
    """PRN triggers and how the reason after them ends."""

    phrases: list[str] = Field(min_length=1)
    reason_max_words: int = Field(ge=0)
    reason_stops: list[str]


class Coding(_Model):
    """A code from a named code system."""

    system: str = Field(pattern=r"^(http|urn):")
    code: str
    display: str


class Route(_Model):
    """A route of administration: normalised text, spellings and, when sourced, a coding."""

    route: str
    coding: Coding | None = None
    phrases: list[str] = Field(min_length=1)


class Form(_Model):
    """A dose form and the route it implies when none is stated."""

    form: str
    route: str | None = None
    phrases: list[str] = Field(min_length=1)


class Status(_Model):
    """Status phrases and their normalised word (None: looks like a status but is not)."""

    status: str | None
    positions: list[Position] = Field(default_factory=lambda: list(POSITIONS))
    phrases: list[str] = Field(min_length=1)
    status_after: str | None = None
    """The status when the phrase stands after the drug, when it differs: "changed to
    amlodipine" starts amlodipine, "captopril was changed to" stops captopril."""

    @model_validator(mode="after")
    def _check_status(self) -> Status:
        for word in (self.status, self.status_after):
            if word is not None and word not in STATUS_WORDS:
                raise ValueError(f"status {word!r} is not in STATUS_WORDS")
        return self

    def at(self, position: Position) -> str | None:
        """The status the phrase gives a drug it stands ``position`` of."""
        if position == "after" and self.status_after is not None:
            return self.status_after
        return self.status


class PatternTable(_Model):
    """The versioned contents of ``medication_patterns.yaml``."""

    version: int
    window: Window
    fillers: list[str]
    name_words: list[str] = Field(default_factory=list)
    vital_words: list[str] = Field(default_factory=list)
    stop_words: list[str]
    number_words: dict[str, float]
    time_units: list[TimeUnit]
    amount_units: list[AmountUnit]
    dose_units: list[DoseUnit]
    denominators: list[Denominator]
    frequencies: list[FrequencyPattern]
    durations: list[DurationPattern]
    as_needed: AsNeeded
    routes: list[Route]
    forms: list[Form]
    statuses: list[Status]

    @model_validator(mode="after")
    def _check_routes(self) -> PatternTable:
        names = {r.route for r in self.routes}
        for form in self.forms:
            if form.route is not None and form.route not in names:
                raise ValueError(f"form {form.form!r} implies unknown route {form.route!r}")
        return self


@dataclass(frozen=True, slots=True)
class SigPhrase:
    """What a matched sig phrase means: its kind and the entry it came from."""

    kind: Literal["frequency", "duration", "prn", "route", "form", "status"]
    frequency: FrequencyPattern | None = None
    duration: DurationPattern | None = None
    route: Route | None = None
    form: Form | None = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class UnitEntry:
    """A unit word's meaning: an amount unit or a countable dose unit."""

    amount: AmountUnit | None = None
    dose: DoseUnit | None = None


class MedicationPatterns:
    """The table compiled into phrase sets (built once per process)."""

    def __init__(self, table: PatternTable) -> None:
        self.table = table
        self.number_words = dict(table.number_words)
        self.time_codes = {w: unit.code for unit in table.time_units for w in unit.words}
        self.time_display: dict[str, str] = {u.code: u.display for u in table.time_units}
        self.fillers = frozenset(single_words([*table.fillers, *table.name_words]))
        self.stop_words = frozenset(single_words(table.stop_words))
        self.sig_stops = self.stop_words | frozenset(single_words(table.vital_words))
        self.reason_stops = frozenset(single_words(table.as_needed.reason_stops))
        self.routes = {route.route: route for route in table.routes}
        self.phrases: PhraseSet[SigPhrase] = PhraseSet(self.number_words, self.time_codes)
        self.units: PhraseSet[UnitEntry] = PhraseSet()
        self.denominators: PhraseSet[Denominator] = PhraseSet()
        self._compile(table)

    def _compile(self, table: PatternTable) -> None:
        seen: set[tuple[str, ...]] = set()

        def add(phrase: str, payload: SigPhrase, slots: tuple[str, ...] | None = None) -> None:
            elements = self.phrases.add(phrase, payload)
            if elements in seen:
                raise ValueError(f"phrase {phrase!r} is listed twice in {PATTERNS_FILE}")
            seen.add(elements)
            if slots is not None and tuple(e for e in elements if e in SLOTS) != slots:
                raise ValueError(f"phrase {phrase!r} must have the slots {' '.join(slots)}")

        for freq in table.frequencies:
            for phrase in freq.phrases:
                add(phrase, SigPhrase("frequency", frequency=freq))
                _check_references(phrase, freq.timing)
        for dur in table.durations:
            for phrase in dur.phrases:
                add(phrase, SigPhrase("duration", duration=dur), _DURATION_SLOTS.get(dur.sets))
        for phrase in table.as_needed.phrases:
            add(phrase, SigPhrase("prn"), ())
        for route in table.routes:
            for phrase in route.phrases:
                add(phrase, SigPhrase("route", route=route), ())
        for form in table.forms:
            for phrase in form.phrases:
                add(phrase, SigPhrase("form", form=form), ())
        for status in table.statuses:
            for phrase in status.phrases:
                add(phrase, SigPhrase("status", status=status), ())
        for amount in table.amount_units:
            for word in amount.words:
                self.units.add(word, UnitEntry(amount=amount))
        for dose in table.dose_units:
            for word in dose.words:
                self.units.add(word, UnitEntry(dose=dose))
        for den in table.denominators:
            for word in den.words:
                self.denominators.add(word, den)


def _check_references(phrase: str, timing: dict[str, TemplateValue]) -> None:
    """Every "$k" of a template must name a slot of the phrase, of the right kind."""
    slots = [e for e in phrase_elements(phrase) if e in SLOTS]
    for key, value in timing.items():
        if not (isinstance(value, str) and value.startswith("$")):
            continue
        index = int(value[1:]) - 1 if value[1:].isdigit() else -1
        if not 0 <= index < len(slots):
            raise ValueError(f"phrase {phrase!r}: {value} names no slot")
        wanted = TIME if key in _UNIT_FIELDS else NUMBER
        if slots[index] != wanted:
            raise ValueError(f"phrase {phrase!r}: {key} needs a {wanted} slot")


def integer_field(name: str) -> bool:
    """True for Timing.repeat fields that take a positive integer (frequency, count)."""
    return name in _INTEGER_FIELDS


@cache
def default_patterns() -> MedicationPatterns:
    """The packaged pattern table, compiled (once per process)."""
    return MedicationPatterns(load_data_file(PATTERNS_FILE, PatternTable))
