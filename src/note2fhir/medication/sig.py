"""Reading a sig around one drug mention: "metformin 500 mg PO BID" → strength 500 mg, route
oral, Timing 2/d.

The words after the drug (to the end of its unit or the next drug) are read until a stop word
or a run of words that belong to no sig phrase; the few words before it give a status ("held
metformin") and, when they touch the drug, a dose ("81 mg aspirin", "2 puffs albuterol").
Words inside the mention itself ("lisinopril 10 MG Oral Tablet") give strength, form and route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from note2fhir.document import JSONDict, MedicationAttributes
from note2fhir.medication.patterns import (
    AmountUnit,
    Denominator,
    DoseUnit,
    MedicationPatterns,
    SigPhrase,
    integer_field,
)
from note2fhir.medication.phrases import Number, PhraseMatch, Word, read_number

UCUM = "http://unitsofmeasure.org"
_MAX_SUFFIX: dict[str, str] = {
    "frequency": "frequencyMax",
    "period": "periodMax",
    "duration": "durationMax",
    "count": "countMax",
}


_SWITCH_GAP = 2
"""Words ("IV", "oral") that may stand between a switch phrase and the drug switched to."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """An amount read from text: "500 mg", "2 tabs", "5 mg/mL"."""

    number: Number
    amount: AmountUnit | None
    dose: DoseUnit | None
    denominators: tuple[Denominator, ...] = ()
    """The "/mL" of "5 mg/mL"; "/kg" and "/min" of "10 mcg/kg/min"."""
    denominator_number: Number | None = None
    """The 5 of "250 mg/5 mL"."""

    @property
    def is_concentration(self) -> bool:
        """Per volume ("5 mg/mL"): a strength, never the amount of a dose."""
        return len(self.denominators) == 1 and self.denominators[0].per_volume

    @property
    def can_be_strength(self) -> bool:
        """True for "500 mg" or "100 units/mL"; False for "2 tabs" or "10 units"."""
        if self.is_concentration:
            return True
        return not self.denominators and self.amount is not None and self.amount.strength

    @property
    def can_be_dose(self) -> bool:
        """True for "2 tabs", "10 units", "500 mg" (one dose); False for "1%", "5 mg/mL"."""
        if self.dose is not None:
            return True
        return self.amount is not None and self.amount.dose and not self.is_concentration

    @property
    def text(self) -> str:
        """A normalised text: ``"500 mg"``, ``"5 mg/mL"``, ``"2 tablet"``."""
        unit = self.amount.display if self.amount else self.dose.unit if self.dose else ""
        out = f"{format_number(self.number)}{'' if unit == '%' else ' '}{unit}"
        for index, den in enumerate(self.denominators):
            number = self.denominator_number if index == 0 else None
            per = f"{format_number(number)} " if number is not None else ""
            out += f"/{per}{den.display}"
        return out

    @property
    def unit_code(self) -> str | None:
        """The UCUM code ("mg", "mg/kg", "[iU]"), the count unit ("tablet"), or None."""
        if self.dose is not None:
            return self.dose.unit
        if self.amount is None or self.amount.ucum is None:
            return None
        if self.denominator_number is not None:
            return None
        codes = [self.amount.ucum, *(den.ucum for den in self.denominators)]
        return "/".join(c for c in codes if c) if all(codes) else None


@dataclass(slots=True)
class Item:
    """One piece of a sig: a quantity or a matched phrase, over ``words[start:end]``."""

    kind: Literal["quantity", "frequency", "duration", "prn", "route", "form", "status"]
    start: int
    end: int
    quantity: Quantity | None = None
    phrase: PhraseMatch[SigPhrase] | None = None
    reason: tuple[int, int] | None = None
    """For ``prn``: the words of the reason ("pain")."""


@dataclass(slots=True)
class Reading:
    """What was read around one mention, before it is turned into attributes."""

    attributes: MedicationAttributes | None
    status_from: Literal["before", "after"] | None = None
    consumed_end: int = 0
    """Working offset where the mention's sig ends (the next mention's window starts after)."""
    joined_before: bool = False
    """Only fillers ("and", ",") lie between the previous mention and this one."""
    comma_before: bool = False
    """A comma is among those fillers ("acyclovir 10 mg/kg q8h, and steroids")."""
    switched: bool = False
    """The status is a switch away from this drug ("captopril was changed to amlodipine")."""
    switch_alone: bool = False
    """The switch has a singular verb ("... and glipizide was changed to"): this drug's only."""


def format_number(number: Number | None) -> str:
    """``500``, ``0.125``, ``1-2``."""
    if number is None:
        return ""
    low = _plain(number.low)
    return low if number.high is None else f"{low}-{_plain(number.high)}"


def _plain(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


class SigReader:
    """Reads the sig of one mention from the words around it."""

    def __init__(self, patterns: MedicationPatterns) -> None:
        self.patterns = patterns

    def read_quantity(self, seq: Sequence[Word], i: int) -> tuple[Quantity, int] | None:
        """A number and a unit at ``seq[i]`` ("500 mg", "2 tabs", "5 mg/mL",
        "10 mcg/kg/min"), or None.  "from 12.5 to 25 mg" is not a range: 25 mg is read."""
        after_from = i > 0 and seq[i - 1].norm == "from"
        number = read_number(seq, i, self.patterns.number_words, ranges=not after_from)
        if number is None:
            return None
        value, j = number
        unit = self.patterns.units.match_at(seq, j)
        if unit is None:
            return None
        end = unit.end
        denominators: list[Denominator] = []
        den_number: Number | None = None
        while end < len(seq) and seq[end].norm in ("/", "per") and len(denominators) < 2:
            k = end + 1
            if not denominators:
                den_read = read_number(seq, k, self.patterns.number_words)
                if den_read is not None:
                    den_number, k = den_read
            den = self.patterns.denominators.match_at(seq, k)
            if den is None:
                if not denominators:
                    den_number = None
                break
            denominators.append(den.payload)
            end = den.end
        entry = unit.payload
        quantity = Quantity(value, entry.amount, entry.dose, tuple(denominators), den_number)
        return quantity, end

    def item_at(self, seq: Sequence[Word], i: int) -> Item | None:
        """The longest sig piece starting at ``seq[i]``; a phrase wins a tie with a quantity."""
        phrase = self.patterns.phrases.match_at(seq, i)
        quantity = self.read_quantity(seq, i)
        if quantity is not None and (phrase is None or quantity[1] > phrase.end):
            return Item("quantity", i, quantity[1], quantity=quantity[0])
        if phrase is not None:
            return Item(phrase.payload.kind, i, phrase.end, phrase=phrase)
        return None

    def scan_after(
        self, seq: Sequence[Word], start: int, stop: int, problems: dict[int, int]
    ) -> list[Item]:
        """Sig pieces from ``seq[start]`` on: ends at a stop word, at ``stop``, or after more
        than ``after_max_gap`` words in a row that belong to no sig."""
        window = self.patterns.table.window
        stop = min(stop, start + window.after_words)
        items: list[Item] = []
        gap = 0
        i = start
        while i < stop:
            norm = seq[i].norm
            if norm in self.patterns.sig_stops:
                break
            item = self.item_at(seq, i)
            # an amount after unrelated words is about something else ("80 mg lasix and
            # currently negative by 1500 cc")
            if item is not None and item.kind == "quantity" and gap:
                item = None
            # "from 40 mg to 20 mg": the old amount is passed over, the new one is the dose
            if item is not None and item.kind == "quantity" and i and seq[i - 1].norm == "from":
                i = item.end
                continue
            if item is not None and item.end <= stop:
                if item.kind == "prn":
                    self._reason(seq, item, stop, problems)
                items.append(item)
                i = item.end
                gap = 0
                continue
            # bare numbers ("from 12.5 to 25 mg") neither belong to a sig nor end it
            if norm in self.patterns.fillers or not norm[:1].isalnum() or norm[:1].isdigit():
                i += 1
                continue
            gap += 1
            if gap > window.after_max_gap:
                break
            i += 1
        return items

    def scan_all(self, seq: Sequence[Word], start: int, stop: int) -> list[Item]:
        """Every sig piece in ``seq[start:stop]``, left to right (no reasons read)."""
        items: list[Item] = []
        i = start
        while i < stop:
            item = self.item_at(seq, i)
            if item is not None and item.end <= stop:
                items.append(item)
                i = item.end
            else:
                i += 1
        return items

    def _reason(self, seq: Sequence[Word], item: Item, stop: int, problems: dict[int, int]) -> None:
        """The reason after a PRN phrase: a problem mention there, else a few plain words."""
        i = item.end
        if i >= stop:
            return
        problem_end = problems.get(seq[i].start)
        if problem_end is not None:
            j = i
            while j < stop and seq[j].end <= problem_end:
                j += 1
            if j > i:
                item.reason = (i, j)
                item.end = j
            return
        limit = min(stop, i + self.patterns.table.as_needed.reason_max_words)
        j = i
        while j < limit:
            norm = seq[j].norm
            if norm in self.patterns.reason_stops or norm in self.patterns.stop_words:
                break
            if self.item_at(seq, j) is not None:
                break
            j += 1
        if j > i:
            item.reason = (i, j)
            item.end = j

    def read(
        self,
        text: str,
        seq: Sequence[Word],
        mention: tuple[int, int],
        window: tuple[int, int],
        join_from: int | None,
        problems: dict[int, int],
        drug_next: bool = False,
    ) -> Reading:
        """Read the sig of the mention over ``seq[mention[0]:mention[1]]``; ``window`` bounds
        the words that may belong to it; from ``join_from`` on lie the words after the
        previous drug of the unit; ``drug_next``: the window ends where the next drug starts."""
        first, last = mention
        low, high = window
        before_start = max(low, first - self.patterns.table.window.before_words)
        before = self.scan_all(seq, before_start, first)
        inside = [i for i in self.scan_all(seq, first, last) if i.kind != "status"]
        after = self.scan_after(seq, last, high, problems)
        contiguous = self._touching_before(seq, before, first)
        reading = Reading(None)
        if join_from is not None:
            between = range(join_from, first)
            reading.joined_before = all(self._is_filler(seq[k].norm) for k in between) and not any(
                seq[k].norm in self.patterns.stop_words for k in between
            )
            reading.comma_before = any(seq[k].norm == "," for k in between)

        status, reading.status_from, used = self._status(before, after, high if drug_next else None)
        entry = used.phrase.payload.status if used is not None and used.phrase else None
        reading.switched = (
            reading.status_from == "after" and entry is not None and entry.status_after is not None
        )
        # "metformin and glipizide was changed to sitagliptin": a singular verb switches the
        # last drug only
        reading.switch_alone = (
            reading.switched and used is not None and seq[used.start].norm == "was"
        )
        outside = [i for i in (*contiguous, *after) if i.kind != "status"]
        attrs = self._attributes(text, seq, contiguous, inside, after)
        if status is not None:
            attrs.status = status
        if outside:
            end = max(i.end for i in outside)
            reading.consumed_end = seq[end - 1].end
        reading.attributes = attrs if attrs.as_dict() else None
        return reading

    def _is_filler(self, norm: str) -> bool:
        return norm in self.patterns.fillers or not norm[:1].isalnum()

    def _touching_before(self, seq: Sequence[Word], before: list[Item], first: int) -> list[Item]:
        """The pieces before the mention with only fillers between them and it."""
        out: list[Item] = []
        edge = first
        for item in reversed(before):
            if item.kind == "status":
                break
            gap = range(item.end, edge)
            # "neo gtt at 40 mcg/min, dopa at 5": a comma ends the earlier drug's sig, as a
            # slash between two products does ("isophane 70 unt/ml / insulin, regular") and a
            # conjunction ("oxygen nasally and antibiotics": the route is the oxygen's)
            if not all(self._is_filler(seq[k].norm) for k in gap) or any(
                seq[k].norm in (",", "/", "and", "or", "&") for k in gap
            ):
                break
            out.append(item)
            edge = item.start
        return list(reversed(out))

    @staticmethod
    def _status(
        before: list[Item], after: list[Item], drug_at: int | None = None
    ) -> tuple[str | None, Literal["before", "after"] | None, Item | None]:
        """The nearest status word before the mention, else the first after it, with where it
        stands and the phrase that gave it.  A phrase
        with a status of its own after the drug ("captopril was changed to amlodipine") gives
        it only when the next drug (at word ``drug_at``) follows within two words; else it
        changed the drug's own dose or route ("lasix changed to 40 mg BID") and says nothing
        of whether it goes on."""
        for item in reversed(before):
            entry = item.phrase.payload.status if item.phrase else None
            if item.kind == "status" and entry is not None and "before" in entry.positions:
                word = entry.at("before")
                return (word, "before", item) if word else (None, None, None)
        for item in after:
            entry = item.phrase.payload.status if item.phrase else None
            if item.kind == "status" and entry is not None and "after" in entry.positions:
                word = entry.at("after")
                if entry.status_after is not None and (
                    drug_at is None or drug_at - item.end > _SWITCH_GAP
                ):
                    word = None
                if word is None:
                    continue
                return word, "after", item
        return None, None, None

    def _attributes(
        self,
        text: str,
        seq: Sequence[Word],
        contiguous: list[Item],
        inside: list[Item],
        after: list[Item],
    ) -> MedicationAttributes:
        attrs = MedicationAttributes()
        outside = [i for i in (*contiguous, *after) if i.kind != "status"]
        ordered = [*contiguous, *inside, *after]
        quantities = [i.quantity for i in ordered if i.quantity is not None]
        # "10 mg oral tablet" names a product's strength, not the amount of one dose
        outside_q = [
            i.quantity
            for n, i in enumerate(outside)
            if i.quantity is not None and not _names_a_product(outside, n)
        ]

        strength = next((q for q in quantities if q.can_be_strength), None)
        if strength is not None:
            attrs.strength = strength.text
        dose = next((q for q in outside_q if q.dose is not None), None) or next(
            (q for q in outside_q if q.can_be_dose), None
        )
        if dose is not None and dose.number.high is None and dose.unit_code is not None:
            attrs.dose_value = dose.number.low
            attrs.dose_unit = dose.unit_code

        forms = [i.phrase.payload.form for i in ordered if i.phrase and i.phrase.payload.form]
        form = forms[0] if forms else None
        if form is not None:
            attrs.form = form.form
        elif dose is not None and dose.dose is not None and dose.dose.form:
            attrs.form = dose.dose.form

        routes = [i.phrase.payload.route for i in ordered if i.phrase and i.phrase.payload.route]
        route = routes[0] if routes else None
        if route is None and form is not None and form.route is not None:
            route = self.patterns.routes[form.route]
        if route is not None:
            attrs.route_text = route.route
            if route.coding is not None:
                attrs.route = route.coding.model_dump()

        timing, frequency_texts = self._timing(text, seq, outside)
        attrs.timing = timing or None
        attrs.frequency_text = " ".join(frequency_texts) or None
        durations = [i for i in outside if i.kind == "duration"]
        if durations:
            attrs.duration = _span_text(text, seq, durations[0].start, durations[0].end)
        for item in outside:
            if item.kind == "prn":
                attrs.as_needed = True
                if item.reason is not None and attrs.as_needed_reason is None:
                    attrs.as_needed_reason = _span_text(text, seq, *item.reason)
        if outside:
            start = min(i.start for i in outside)
            end = max(i.end for i in outside)
            attrs.text = _span_text(text, seq, start, end)
        return attrs

    def _timing(
        self, text: str, seq: Sequence[Word], items: list[Item]
    ) -> tuple[JSONDict, list[str]]:
        """``Timing.repeat`` from the frequency and duration pieces; the frequency texts."""
        timing: JSONDict = {}
        texts: list[str] = []
        for item in items:
            phrase = item.phrase
            if phrase is None:
                continue
            if item.kind == "frequency" and phrase.payload.frequency is not None:
                filled = _fill(phrase.payload.frequency.timing, phrase.captures)
                if filled is None:
                    continue
                texts.append(_span_text(text, seq, item.start, item.end))
                for key, value in filled.items():
                    if key == "when":
                        timing["when"] = [*timing.get("when", []), *value]
                        timing["when"] = list(dict.fromkeys(timing["when"]))
                    else:
                        timing.setdefault(key, value)
            elif item.kind == "duration" and phrase.payload.duration is not None:
                self._duration(timing, phrase.payload.duration.sets, phrase.captures)
        return timing, texts

    def _duration(self, timing: JSONDict, sets: str, captures: tuple[Number | str, ...]) -> None:
        numbers = [c for c in captures if isinstance(c, Number)]
        if sets == "count":
            count = numbers[0] if numbers else Number(1.0)
            if count.is_integer and count.low >= 1 and "count" not in timing:
                timing["count"] = int(count.low)
                if count.high is not None:
                    timing["countMax"] = int(count.high)
            return
        codes = [c for c in captures if isinstance(c, str)]
        if not numbers or not codes or "boundsDuration" in timing or "boundsRange" in timing:
            return
        value, code = numbers[0], codes[0]
        unit = self.patterns.time_display.get(code, code)

        def duration(v: float) -> JSONDict:
            return {"value": _json_number(v), "unit": unit, "system": UCUM, "code": code}

        if value.high is None:
            timing["boundsDuration"] = duration(value.low)
        else:
            timing["boundsRange"] = {"low": duration(value.low), "high": duration(value.high)}


def _names_a_product(items: list[Item], index: int) -> bool:
    """True when an amount is followed directly by a dose form, with at most a route
    between: "500 mg extended release oral tablet"."""
    edge = items[index].end
    for item in items[index + 1 :]:
        if item.start != edge:
            return False
        if item.kind == "form":
            return True
        if item.kind != "route":
            return False
        edge = item.end
    return False


def _fill(template: dict[str, Any], captures: tuple[Number | str, ...]) -> JSONDict | None:
    """A Timing.repeat template with "$k" replaced by captures; None when a capture does not
    fit (``frequency`` must be a whole number)."""
    out: JSONDict = {}
    for key, value in template.items():
        if isinstance(value, str) and value.startswith("$"):
            captured = captures[int(value[1:]) - 1]
            if isinstance(captured, str):
                out[key] = captured
                continue
            if integer_field(key) and (not captured.is_integer or captured.low < 1):
                return None
            if captured.low <= 0:
                return None
            out[key] = _json_number(captured.low)
            if captured.high is not None and key in _MAX_SUFFIX:
                out[_MAX_SUFFIX[key]] = _json_number(captured.high)
        elif isinstance(value, list):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def _span_text(text: str, seq: Sequence[Word], start: int, end: int) -> str:
    return text[seq[start].start : seq[end - 1].end]
