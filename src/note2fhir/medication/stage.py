"""The ``medication`` stage: dose, route, frequency, duration, as-needed and status of every
medication mention, read from its unit ("1. Metformin 500 mg PO BID", "held metformin")."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import fields
from itertools import pairwise

from pydantic import BaseModel

from note2fhir.document import ClinicalDocument, Entity, EntityType, MedicationAttributes, Sentence
from note2fhir.medication.patterns import default_patterns
from note2fhir.medication.phrases import words
from note2fhir.medication.sig import Reading, SigReader
from note2fhir.pipeline import Stage, register_stage
from note2fhir.settings import Settings

_TOKENS_PER_WORD = 3
"""Tokens read per word of a window: "b.i.d." is five tokens and one word."""


@register_stage
class MedicationStage(Stage):
    """Fill ``Entity.medication`` for medication mentions from the text around them.

    Only the mention's own unit (sentence, list item, line) is read, up to the next medication
    mention; attributes already set on an entity (by an extractor) are kept.
    """

    name = "medication"
    requires = frozenset({"entities", "tokens", "sentences"})
    assigns = frozenset({"attributes"})

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.reader = SigReader(default_patterns())

    def process(self, doc: ClinicalDocument) -> None:
        """Set ``medication`` on every medication entity the text says something about."""
        meds = sorted(
            (e for e in doc.entities if e.type is EntityType.MEDICATION),
            key=lambda e: (e.start, e.end),
        )
        if not meds or not doc.tokens:
            return
        token_starts = [t.start for t in doc.tokens]
        problems = {e.start: e.end for e in doc.entities if e.type is EntityType.PROBLEM}
        # a status word before another mention is about that one ("continued hypotension
        # requiring dopamine"): the window before a drug starts after the mention before it
        ends = sorted(e.end for e in doc.entities)
        readings: list[tuple[Entity, Reading, Sentence | None]] = []
        previous_end = 0
        previous_unit: Sentence | None = None
        for index, ent in enumerate(meds):
            at = doc.sentence_at(ent.start, or_before=True)
            unit = doc.sentences[at] if at is not None else None
            low = unit.start if unit is not None else 0
            high = unit.end if unit is not None else len(doc.text)
            same_unit = previous_unit is not None and previous_unit == unit
            if same_unit:
                low = max(low, previous_end)
            join_from = low if same_unit else None
            before = bisect_right(ends, ent.start) - 1
            if before >= 0:
                low = max(low, ends[before])
            following = meds[index + 1] if index + 1 < len(meds) else None
            next_drug = None
            if following is not None and following.start >= ent.end and following.start <= high:
                high = next_drug = following.start
            reading = self._read(
                doc, token_starts, ent, (low, high), join_from, problems, next_drug
            )
            readings.append((ent, reading, unit))
            previous_end = max(ent.end, reading.consumed_end)
            previous_unit = unit
        _share_statuses(readings)
        for ent, reading, _ in readings:
            if reading.attributes is not None:
                ent.medication = _merge(ent.medication, reading.attributes)

    def _read(
        self,
        doc: ClinicalDocument,
        token_starts: list[int],
        ent: Entity,
        bounds: tuple[int, int],
        join_from: int | None,
        problems: dict[int, int],
        next_drug: int | None = None,
    ) -> Reading:
        """Read one mention over the tokens of ``bounds`` (working offsets) near it;
        ``join_from`` is where the previous drug's sig ended, in the same unit; ``next_drug``
        where the next drug of the unit starts, when it ends ``bounds``."""
        window = self.reader.patterns.table.window
        low, high = bounds
        first_token = bisect_left(token_starts, ent.start)
        end_token = bisect_left(token_starts, ent.end)
        lo_token = max(
            bisect_left(token_starts, low), first_token - _TOKENS_PER_WORD * window.before_words
        )
        join_token = bisect_left(token_starts, join_from) if join_from is not None else None
        if join_token is not None and join_token >= lo_token:
            lo_token = join_token
        else:
            join_token = None
        hi_token = min(
            bisect_left(token_starts, high), end_token + _TOKENS_PER_WORD * window.after_words
        )
        lo_token = min(lo_token, first_token)
        hi_token = max(hi_token, end_token)
        seq = words(doc.tokens, lo_token, hi_token)
        word_starts = [w.start for w in seq]
        first = bisect_left(word_starts, ent.start)
        last = max(first, bisect_left(word_starts, ent.end))
        # the window's edges in words: what lies before ``low`` belongs to an earlier mention
        low_word = bisect_left(word_starts, low)
        join_word = 0 if join_token is not None else None
        drug_next = next_drug is not None and hi_token == bisect_left(token_starts, next_drug)
        reading = self.reader.read(
            doc.text,
            seq,
            (first, last),
            (min(low_word, first), len(seq)),
            join_word,
            problems,
            drug_next,
        )
        if not reading.consumed_end:
            reading.consumed_end = ent.end
        return reading


def _share_statuses(readings: list[tuple[Entity, Reading, Sentence | None]]) -> None:
    """A status said once for a list of drugs holds for each of them: "started lisinopril and
    metoprolol", "lisinopril and metoprolol were held".  After a comma, a drug whose course
    is stated keeps its status when the next drug has no sig ("acyclovir, 10 mg/kg q8h for
    14 days, and steroids were discontinued": the acyclovir goes on), and a switch is the
    next drug's alone ("aspirin, lisinopril changed to losartan"; but "warfarin and aspirin
    were changed to apixaban" stops both)."""
    for (_, prev, _), (_, cur, _) in pairwise(readings):
        if cur.joined_before and prev.status_from == "before" and _status(cur) is None:
            _set_status(cur, _status(prev), "before")
    for (_, cur, _), (_, nxt, _) in zip(
        reversed(readings[:-1]), reversed(readings[1:]), strict=False
    ):
        if nxt.switch_alone or (
            nxt.comma_before and (nxt.switched or (_has_course(cur) and not _has_dose(nxt)))
        ):
            continue
        if nxt.joined_before and nxt.status_from == "after" and _status(cur) is None:
            _set_status(cur, _status(nxt), "after")


def _has_dose(reading: Reading) -> bool:
    """Whether the reading has an amount or a schedule of its own."""
    a = reading.attributes
    return a is not None and bool(a.strength or a.dose_value is not None or a.timing)


def _has_course(reading: Reading) -> bool:
    """Whether the reading states a course of treatment ("10 mg/kg q8h for 14 days"), which
    a list of drugs to hold or stop does not ("aspirin 81 mg daily, clopidogrel 75 mg daily,
    and heparin gtt were held")."""
    a = reading.attributes
    return a is not None and bool(a.duration or (a.timing and "boundsDuration" in a.timing))


def _status(reading: Reading) -> str | None:
    return reading.attributes.status if reading.attributes is not None else None


def _set_status(reading: Reading, status: str | None, source: str) -> None:
    if status is None:
        return
    if reading.attributes is None:
        reading.attributes = MedicationAttributes()
    reading.attributes.status = status
    reading.status_from = "before" if source == "before" else "after"


def _merge(
    existing: MedicationAttributes | None, found: MedicationAttributes
) -> MedicationAttributes:
    """Keep what an earlier stage set; fill the rest from what was read here."""
    if existing is None:
        return found
    for item in fields(MedicationAttributes):
        if getattr(existing, item.name) in (None, False, "", {}):
            setattr(existing, item.name, getattr(found, item.name))
    return existing
