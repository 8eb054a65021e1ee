"""The ``assertion`` stage: ConText status of every entity, with the cues that explain it."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.assertion.context import Hit, UnitContext, unit_context
from note2fhir.assertion.rules import CATEGORIES, FAMILY_MEMBER, Category, Match, load_index
from note2fhir.document import (
    Assertion,
    ClinicalDocument,
    Cue,
    Entity,
    EntityType,
    Section,
    Token,
)
from note2fhir.pipeline import Stage, register_stage
from note2fhir.resources.loader import load_data_file
from note2fhir.results.finder import LIST_JOINERS, ends_item
from note2fhir.sections.headings import SECTIONS_FILE, SectionTable
from note2fhir.settings import Settings
from note2fhir.text.segment import ANSWER_WORDS

NEGATIVE_FOR = "negated.negative_for"
"""The rule of "negative for": it rules out problems, drugs and procedures, and gives a test
it names a negative result."""
_MEMO_SIZE = 20_000
"""Units kept by the stage's memo of ConText readings before it starts again."""


class AssertionOptions(BaseModel):
    """Options of the ``assertion`` stage.

    ``categories``: the statuses to assign (the others stay false); ``section_defaults``:
    whether a section's ``implies`` in ``sections.yaml`` applies to what it mentions (Family
    History → family, Past Medical History → historical); ``ended_as``: what a mention said
    to be over ("the rash resolved", "metoprolol was discontinued") is: ``historical`` (the
    default: it was there, so the FHIR resource is inactive/completed rather than refuted or
    not-taken) or ``negated`` (as i2b2-style corpora such as MACCROBAT annotate it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: frozenset[Category] = Field(default=frozenset(CATEGORIES))
    section_defaults: bool = True
    ended_as: Literal["historical", "negated"] = "historical"


@register_stage
class AssertionStage(Stage):
    """Set ``entity.assertion`` for every entity from ConText triggers in its sentence-like
    unit and the section it is in: "Denies CP but endorses SOB" → CP negated, SOB not;
    "FH: mother - breast ca" → family, relative MTH.  A test that "negative for" names gets
    the value "negative" when no result was read for it."""

    name = "assertion"
    requires = frozenset({"entities", "tokens", "sentences"})
    assigns = frozenset({"assertions", "attributes"})
    Options = AssertionOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        assert isinstance(options, AssertionOptions)
        self.categories = options.categories
        self.section_defaults = options.section_defaults
        self.ended_as: Category = options.ended_as
        self.index = load_index()
        # ConText over a unit is a pure function of its words and the mentions' spans and
        # types; templated notes repeat whole units ("Patient denies chest pain.").
        self._contexts: dict[tuple[Any, ...], UnitContext] = {}
        self._seen: set[int] = set()
        table = load_data_file(SECTIONS_FILE, SectionTable)
        self.implies: dict[str, Category] = {
            kind.name: kind.implies for kind in table.sections if kind.implies is not None
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_contexts"] = {}
        state["_seen"] = set()
        return state

    def _context(
        self, norms: list[str], spans: list[tuple[int, int]], types: list[str]
    ) -> UnitContext:
        """:func:`unit_context`, memoised across notes (its matches and hits are only read).

        A unit is kept the second time it is seen: most units of a dictated note are written
        once, and keeping every one grows the heap, which makes Python's full garbage
        collections come sooner (on PhysioNet they cost more than the memo saved)."""
        key = (tuple(norms), tuple(spans), tuple(types))
        memo = self._contexts
        found = memo.get(key)
        if found is None:
            found = unit_context(self.index, norms, spans, types)
            seen = self._seen
            code = hash(key)
            if code in seen:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[key] = found
            else:
                if len(seen) >= _MEMO_SIZE:
                    seen.clear()
                seen.add(code)
        return found

    def process(self, doc: ClinicalDocument) -> None:
        """Replace every entity's assertion."""
        if doc.entities:
            self.assert_mentions(doc, doc.entities)

    def assert_mentions(self, doc: ClinicalDocument, entities: Sequence[Entity]) -> None:
        """Replace the assertion of each of ``entities``, mentions of ``doc`` (whose
        ``entities`` need not hold them)."""
        by_unit: dict[int, list[tuple[Entity, int, int]]] = {}
        years = _masked_years(doc)
        doc_year = _year_of(doc.context.date)
        for entity, located in _locate(doc, entities):
            entity.assertion = Assertion()
            if located is not None:
                at, first, last = located
                by_unit.setdefault(at, []).append((entity, first, last))
            elif self.section_defaults:
                self._section_default(doc, entity, [], (0, 0), [])
        for unit_index, members in by_unit.items():
            unit = doc.sentences[unit_index]
            tokens = doc.tokens[unit.first_token : unit.last_token]
            norms = [years.get(t.start, t.norm) for t in tokens]
            spans = [
                (first - unit.first_token, min(last, unit.last_token) - unit.first_token)
                for _, first, last in members
            ]
            types = [entity.type.value for entity, _, _ in members]
            context = self._context(norms, spans, types)
            texts = [entity.text.lower() for entity, _, _ in members]
            ended: set[tuple[int, int]] = set()  # cues a repeated list item ended
            for n, ((entity, _, _), found, span) in enumerate(
                zip(members, context.hits, spans, strict=True)
            ):
                hits = [
                    h
                    for h in found
                    if (h.match.start, h.match.end) not in ended
                    and not _prefix_doubt_backward(h, tokens, doc.text)
                    and not _doubt_past_comma(h, span, tokens)
                ]
                if doc_year is not None:
                    hits = [h for h in hits if not _year_to_come(h, norms, doc_year)]
                if _measured(doc.text, entity):
                    hits = [h for h in hits if not _denies_other_item(h, span, tokens)]
                repeats = [
                    spans[m] for m in range(n) if texts[m] == texts[n] and spans[m][1] <= span[0]
                ]
                if repeats:
                    for h in hits:
                        if _repeated_item(h, span, repeats, tokens):
                            ended.add((h.match.start, h.match.end))
                    hits = [h for h in hits if (h.match.start, h.match.end) not in ended]
                self._apply(entity, hits, tokens, doc.text, span, spans)
                if doc_year is None:
                    _no_year_for_a_plan(entity)
                self._doubt_in_mention(entity)
                if self.section_defaults:
                    self._section_default(doc, entity, context.matches, span, tokens)

    def assert_spans(
        self, doc: ClinicalDocument, spans: Sequence[tuple[int, int, EntityType]]
    ) -> list[Assertion]:
        """The assertions this stage, with its configured options, gives mentions of the
        working spans ``(start, end, type)`` of ``doc`` that no stage made: words a FHIR
        builder reads itself, such as "latex" in "Mother is allergic to latex" (family),
        which is no drug and so no mention.  ``doc`` is left as it is.  A document without
        sentences gives only what a span's section implies."""
        entities = []
        for n, (start, end, entity_type) in enumerate(spans):
            section = doc.section_at(start)
            name = section.name if section else None
            entities.append(Entity(f"span{n}", start, end, doc.text[start:end], entity_type, name))
        if entities:
            self.assert_mentions(doc, entities)
        return [e.assertion for e in entities]

    def _apply(
        self,
        entity: Entity,
        hits: list[Hit],
        tokens: Sequence[Token],
        doc_text: str,
        span: tuple[int, int] | None = None,
        spans: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Set the categories of ``hits`` on ``entity`` (a mention over the unit's tokens
        ``span``; ``spans``: those of every mention of the unit)."""
        assertion = entity.assertion
        for hit in hits:
            match = hit.match
            if (
                match.rule.id == NEGATIVE_FOR
                and entity.type is EntityType.TEST
                and entity.value in (None, *NEGATIVE_VALUES)
                and ends_item(tokens, entity.end)
                and span is not None
                and _listed_after(tokens, doc_text, match.end, span[0], spans)
            ):
                # a stain or assay that came back negative ("negative for CD31 and S100"),
                # not one that was not done: its Observation says so.  Followed by a word
                # ("negative for troponin elevation") it stays negated: no Observation
                # without the result
                if entity.value is None:
                    entity.value = {"string": "negative"}
                continue
            category = self.ended_as if match.rule.ended else hit.category
            if category not in self.categories:
                continue
            setattr(assertion, category, True)
            relative = None
            if category == "family":
                relative = match.relative or FAMILY_MEMBER
                if assertion.relative in (None, FAMILY_MEMBER):
                    assertion.relative = relative
            elif category == "uncertain" and match.rule.differential:
                assertion.differential = True
            assertion.cues.append(_cue(category, match, tokens, hit.direction, relative))

    def _doubt_in_mention(self, entity: Entity) -> None:
        """A mention whose own first word is a doubt ("suspected lung cancer (situation)", a
        problem list's name) is uncertain: no trigger outside the span says so."""
        if "uncertain" not in self.categories or entity.assertion.uncertain:
            return
        first = _FIRST_WORD.match(entity.text)
        if first is None or first.group(0).lower() not in _DOUBT_WORDS:
            return
        entity.assertion.uncertain = True
        entity.assertion.cues.append(
            Cue(
                category="uncertain",
                rule="uncertain.in_mention",
                start=entity.start,
                end=entity.start + first.end(),
                detail=f"mention '{first.group(0)}'",
            )
        )

    def _section_default(
        self,
        doc: ClinicalDocument,
        entity: Entity,
        matches: list[Match],
        span: tuple[int, int],
        tokens: Sequence[Token],
    ) -> None:
        section, name = _section_of(doc, entity)
        implied = self.implies.get(name) if name else None
        if implied is None or implied not in self.categories:
            return
        assertion = entity.assertion
        if (
            implied == "historical"
            and entity.type is EntityType.MEDICATION
            and span[0] > 0
            and tokens[span[0] - 1].norm in _TAKING
        ):
            return  # "PMH: afib, currently on apixaban": a drug taken now
        if (
            implied == "family"
            and not assertion.family
            and _patient_subject(tokens)
            and _nearest_relative(matches, span) is None
        ):
            return  # "Family history: ... Patient has a history of lung cancer."
        if implied == "family" and assertion.relative in (None, FAMILY_MEMBER):
            named = _nearest_relative(matches, span)
            if named is not None:
                assertion.relative = named.relative
                assertion.cues.append(_cue("family", named, tokens, "unit", named.relative))
            elif assertion.relative is None:
                assertion.relative = FAMILY_MEMBER
        if getattr(assertion, implied):
            return
        setattr(assertion, implied, True)
        assertion.cues.append(
            Cue(
                category=implied,
                rule=f"section.{name}",
                start=section.start if section else None,
                end=section.heading_end if section else None,
                detail=f"section {name} implies {implied}",
            )
        )


_TAKING = frozenset({"on", "taking", "takes"})
"""Words right before a drug in a past-history section that say it is taken now ("HTN on
lisinopril")."""
_PATIENT_SUBJECTS = frozenset({"patient", "pt"})
"""Words that name the patient as a unit's subject; a pronoun in a family-history section
may be the relative just named ("Her father had colon cancer. He has hypertension.")."""
_PATIENT_VERBS = frozenset({"has", "had"})
"""Verbs after which the patient's own condition follows ("Patient has ..."); one who
"reports" the family's ("Pt reports colon cancer in relatives") or "is unaware of any heart
disease" says nothing of their own."""
_KIN_WORDS = frozenset(
    {
        "family", "relative", "relatives", "side", "sides", "maternal", "paternal", "familial",
        "child", "children", "kid", "kids", "son", "sons", "daughter", "daughters", "twin",
        "twins", "niece", "nieces", "nephew", "nephews", "sibling", "siblings", "brother",
        "brothers", "sister", "sisters", "mother", "father", "parent", "parents", "aunt",
        "aunts", "uncle", "uncles", "cousin", "cousins", "grandmother", "grandfather",
        "grandparent", "grandparents", "grandchild", "grandchildren",
    }
)  # fmt: skip
"""Words of kin that keep a family-history section's default ("Patient has 2 children with
asthma")."""


def _patient_subject(tokens: Sequence[Token]) -> bool:
    """Whether a unit says the patient has something ("Patient has ...", "The pt had ..."),
    which a family-history section's default then does not cover; not when it speaks of kin
    ("Patient has a strong family history of ...", "... on both sides")."""
    norms = [t.norm for t in tokens]
    start = 1 if norms[:1] == ["the"] else 0
    if len(norms) < start + 2 or norms[start] not in _PATIENT_SUBJECTS:
        return False
    return norms[start + 1] in _PATIENT_VERBS and _KIN_WORDS.isdisjoint(norms)


NEGATIVE_VALUES = ({"string": "negative"}, {"string": "neg"})
"""The values the results stage reads for "negative for" that keep a test unnegated."""
_LIST_WORDS = LIST_JOINERS | {"the", "any", "all"}
"""What may stand between the items of a "negative for" list besides the items."""


def _listed_after(
    tokens: Sequence[Token], text: str, start: int, first: int, spans: Sequence[tuple[int, int]]
) -> bool:
    """Whether the tokens from ``start`` (a trigger's end) to ``first`` (a mention's start)
    are only other mentions (``spans``), marker names no lexicon holds ("c-Kit", "MNF116"),
    list words and bracketed asides: "negative for c-Kit, CD31 (clone JC70) and [S100]";
    not "negative for bleeding, check [CBC]"."""
    depth = 0
    i = start
    while i < first:
        norm = tokens[i].norm
        if norm == "(":
            depth += 1
        elif norm == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and norm not in _LIST_WORDS and not any(a <= i < b for a, b in spans):
            end = _word_end(tokens, i, first)
            if not _marker_shaped(text[tokens[i].start : tokens[end - 1].end]):
                return False
            i = end
            continue
        i += 1
    return True


def _word_end(tokens: Sequence[Token], i: int, stop: int) -> int:
    """The index after the run of tokens from ``i`` that touch each other ("c", "-", "Kit")."""
    end = i + 1
    while end < stop and tokens[end].start == tokens[end - 1].end:
        end += 1
    return end


_MARKER = re.compile(r"\d|[A-Z].*[A-Z]|[a-z]-[A-Z]")
"""A digit, two capitals or a capital after a hyphen: how stains and assays are named (CD31,
EMA, c-Kit, AE1/AE3), and no plain word is."""


def _marker_shaped(word: str) -> bool:
    """Is ``word`` written like a marker's name, not like a plain word or a sentence?"""
    return len(word) <= 12 and _MARKER.search(word) is not None


def _prefix_doubt_backward(hit: Hit, tokens: Sequence[Token], text: str) -> bool:
    """Whether a question mark written before a word ("HTN, ? CHF") reaches back: it doubts
    what follows it only ("CHF?" doubts what precedes)."""
    if hit.direction != "backward" or hit.match.rule.id != _QUESTION_RULE:
        return False
    start = tokens[hit.match.start].start
    after = hit.match.end
    followed = (
        after < len(tokens)
        and tokens[after].norm[:1].isalnum()
        and tokens[after].norm not in ANSWER_WORDS  # "Fever ? no": a question asked
    )
    return followed and (start == 0 or text[start - 1].isspace())


def _doubt_past_comma(hit: Hit, span: tuple[int, int], tokens: Sequence[Token]) -> bool:
    """Whether a question mark's doubt reaches a mention only across a comma: "? CHF, COPD"
    doubts the CHF."""
    if hit.direction != "forward" or hit.match.rule.id != _QUESTION_RULE:
        return False
    return any(t.norm in {",", ";"} for t in tokens[hit.match.end : span[0]])


def _year_of(date: str | None) -> int | None:
    """The year of a FHIR date or dateTime ("2026-03-01T09:30:00-05:00"), or None."""
    if date and len(date) >= 4 and date[:4].isdigit():
        return int(date[:4])
    return None


def _year_to_come(hit: Hit, norms: Sequence[str], doc_year: int) -> bool:
    """Whether a year trigger names a year after the note's ("colonoscopy in 2027" in a note
    of 2026): no past event.  The note's own year may be either, and a history names past
    events far more often than plans do, so it stays a history."""
    if hit.match.rule.id != _YEAR_RULE:
        return False
    year = next(
        (n for n in norms[hit.match.start : hit.match.end] if _PLAIN_YEAR.fullmatch(n)), None
    )
    return year is not None and int(year) > doc_year


def _no_year_for_a_plan(entity: Entity) -> None:
    """In a note of no known date, a planned test is not dated in the past by its year
    ("Plan: repeat colonoscopy in 2029"): a historical reading that only a year gives is
    dropped from a hypothetical mention and from one of a plan's section."""
    assertion = entity.assertion
    if not assertion.historical or not (assertion.hypothetical or entity.section in _PLAN_SECTIONS):
        return
    historical = [c for c in assertion.cues if c.category == "historical"]
    if historical and all(c.rule == _YEAR_RULE for c in historical):
        assertion.historical = False
        assertion.cues = [c for c in assertion.cues if c.rule != _YEAR_RULE]


_YEAR_RULE = "historical.year"
_QUESTION_RULE = "uncertain.question_mark"
_PLAN_SECTIONS = frozenset({"plan", "assessment_plan", "discharge_instructions", "disposition"})
_PLAIN_YEAR = re.compile(r"(?:19|20)\d\d")


def _masked_years(doc: ClinicalDocument) -> dict[int, str]:
    """Working start offset → year of each masked date that was a year alone ("MI in 2002"
    reads "MI in [DATE]"), so year triggers ("in <year>") still see it.  A year alone is no
    Safe Harbor identifier, and it only feeds the trigger match: cues name the rule's phrase,
    never the year."""
    years: dict[int, str] = {}
    for phi in doc.phi:
        if phi.type == "DATE":
            start, stop = doc.original_span(phi.start, phi.end)
            value = doc.original_text[start:stop].strip()
            if _PLAIN_YEAR.fullmatch(value):
                years[phi.start] = value
    return years


_FIRST_WORD = re.compile(r"[A-Za-z]+")
_DOUBT_WORDS = frozenset(
    {"suspected", "possible", "probable", "presumed", "presumptive", "questionable"}
)
_NUMBER_AFTER = re.compile(r"[ \t]{0,2}(?:[:=<>~]{1,2}[ \t]{0,2})?\d")


def _measured(text: str, entity: Entity) -> bool:
    """Whether a test mention states a measured number ("sat 95%", "ra sat 95-100%", the
    result "95")."""
    if entity.type is not EntityType.TEST:
        return False
    return entity.text[:1].isdigit() or _NUMBER_AFTER.match(text, entity.end) is not None


def _denies_other_item(hit: Hit, span: tuple[int, int], tokens: Sequence[Token]) -> bool:
    """Whether a forward negation reaches a measured test only across a list separator: in
    a nursing note's comma list the "no" belongs to an earlier item ("no c/o SOB, sat 95%",
    "NO VEA, BP 91-94/50"), and a number was read, so the test was done.  Right after its
    trigger the negation stands ("negative for cytokeratin 7")."""
    if hit.category != "negated" or hit.direction != "forward":
        return False
    return any(t.norm in {",", ";"} for t in tokens[hit.match.end : span[0]])


def _repeated_item(
    hit: Hit,
    span: tuple[int, int],
    earlier: list[tuple[int, int]],
    tokens: Sequence[Token],
) -> bool:
    """Whether a forward suspicion reaches a list item only across an earlier item of the same
    words: in "suspected covid-19, covid-19" the second item is the confirmed one, since
    nobody lists one suspicion twice.  Both must be whole items next to each other ("Suspected
    PE, PE protocol CT ordered" names the protocol of the suspicion)."""
    if hit.direction != "forward" or hit.category != "uncertain":
        return False
    after = tokens[span[1]].norm if span[1] < len(tokens) else None
    if after is not None and after not in {",", ";", "."}:
        return False
    return any(
        hit.match.end <= first
        and last < span[0]
        and all(t.norm in {",", ";"} for t in tokens[last : span[0]])
        for first, last in earlier
    )


def _cue(
    category: Category,
    match: Match,
    tokens: Sequence[Token],
    direction: str,
    relative: str | None = None,
) -> Cue:
    detail = f"{direction} '{match.phrase}'"
    if relative:
        detail += f" relative {relative}"
    return Cue(
        category=category,
        rule=match.rule.id,
        start=tokens[match.start].start,
        end=tokens[match.end - 1].end,
        detail=detail,
    )


def _locate(
    doc: ClinicalDocument, entities: Sequence[Entity]
) -> Iterator[tuple[Entity, tuple[int, int, int] | None]]:
    """Each entity with (unit index, first token, last token), or None when it covers no
    token; one sweep over entities by start, tokens and units."""
    tokens, units = doc.tokens, doc.sentences
    t = u = 0
    for entity in sorted(entities, key=lambda e: e.start):
        while t < len(tokens) and tokens[t].end <= entity.start:
            t += 1
        last = t
        while last < len(tokens) and tokens[last].start < entity.end:
            last += 1
        while u < len(units) and units[u].last_token <= t:
            u += 1
        if last <= t or u >= len(units) or t < units[u].first_token:
            yield entity, None
        else:
            yield entity, (u, t, last)


def _section_of(doc: ClinicalDocument, entity: Entity) -> tuple[Section | None, str | None]:
    """The section an entity is in (and its name): the one the entity names, else by offset."""
    sections = doc.sections
    k = bisect_right(sections, entity.start, key=lambda s: s.start) - 1
    section = sections[k] if k >= 0 and entity.start < sections[k].end else None
    if entity.section is not None and (section is None or section.name != entity.section):
        return None, entity.section
    return section, section.name if section else None


def _nearest_relative(matches: list[Match], span: tuple[int, int]) -> Match | None:
    """The family trigger naming a specific relative nearest to the span, in its unit."""
    best: Match | None = None
    best_distance = 0
    first, last = span
    for m in matches:
        if "family" not in m.rule.categories or m.relative in (None, FAMILY_MEMBER):
            continue
        distance = first - m.end if m.end <= first else m.start - last
        if best is None or abs(distance) < best_distance:
            best, best_distance = m, abs(distance)
    return best
