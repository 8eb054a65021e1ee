"""The ConText rule tables (``context_rules.yaml``, ``relatives.yaml``) and the token index
built from them.

Every phrase is expanded into token sequences once, when the stage is built, and put in a
token trie whose root is keyed by the first token's normalised form: matching a note is one
set look-up per token and, at the few tokens that can start a phrase, a walk as deep as the
phrase (no regular expressions over the note, so nothing can backtrack).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from note2fhir.document import EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize

RULES_FILE = "context_rules.yaml"
RELATIVES_FILE = "relatives.yaml"

Category = Literal["negated", "uncertain", "hypothetical", "historical", "family"]
CATEGORIES: tuple[Category, ...] = ("negated", "uncertain", "hypothetical", "historical", "family")
Direction = Literal["forward", "backward", "bidirectional"]
RoleCode = Literal[
    "MTH", "FTH", "PRN", "SIS", "BRO", "SIB", "CHILD", "DAUC", "SONC",
    "GRMTH", "GRFTH", "GRPRN", "AUNT", "UNCLE", "COUSN", "SPS", "HUSB", "WIFE",
    "STPFTH", "STPMTH", "STPBRO", "STPSIS", "MTHINLAW", "FTHINLAW", "FAMMEMB",
    "SIGOTHR", "ROOM", "FRND",
]  # fmt: skip
"""The v3-RoleCode codes the stage names relatives with."""

FAMILY_MEMBER: RoleCode = "FAMMEMB"

YEAR = "<year>"
NUMBER = "<num>"
RELATIVE = "<relative>"
CLASSES = frozenset({YEAR, NUMBER, RELATIVE})
MAX_EXPANSIONS = 2048
"""A phrase may stand for at most this many token sequences (catches typos in the data)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryDefaults(_Strict):
    """How a category's scopes end: the other categories whose triggers end them."""

    terminated_by: list[Category] = Field(default_factory=list)
    max_scope: int | None = Field(default=None, ge=1)


class TriggerRule(_Strict):
    """Phrases that give a mention a category, in one direction.

    ``also`` adds categories for combined phrases ("no family history of": negated and
    family); ``differential`` marks uncertainty that weighs alternatives ("r/o", "vs");
    ``relative`` names the family member a family phrase is about (a ``<relative>`` in the
    phrase names it otherwise); ``ended`` marks historical phrases that say something is
    over ("resolved", "was discontinued"), which the stage can count as negation instead;
    ``terminates: false`` keeps the phrase from ending other categories' scopes ("not
    received prior radiation": "prior" does not end the negation); ``types`` limits the
    entity types it applies to ("will start metoprolol" is intended, "will follow up on CHF"
    does not make CHF hypothetical); ``adjacent`` ends the scope at the first punctuation mark
    ("influenza swab negative", but not "pneumonia, sputum culture negative"); a phrase does
    not match right before a word of ``not_before`` ("cultures were negative for MRSA" is the
    "negative for" rule's); an ``ends_clause`` phrase matches only before a punctuation mark
    or the end of its unit ("Fever: negative.", not "Constitutional: negative for fever");
    a ``trailing`` forward trigger that ends its clause looks back instead ("NSTEMI r/o",
    "ACS (r/o)", but "r/o MI" and "R/O: MI"); ``stop_at`` ends the scope at the first of
    these tokens (``adjacent`` at any punctuation mark); a ``starts_unit`` phrase matches only at
    the start of its unit or after a colon ("Neg: fever", not "Strep neg: pharyngitis"); a
    ``list_reach`` scope crosses a comma only into a list joined by "and"/"or" ("MI, PE, and
    dissection ruled out") or after a colon ("ruled out: MI, PE"). In ``not_before``,
    ``<num>`` stands for any number.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
    category: Category
    direction: Direction
    phrases: list[str] = Field(min_length=1)
    max_scope: int | None = Field(default=None, ge=1)
    also: list[Category] = Field(default_factory=list)
    differential: bool = False
    relative: RoleCode | None = None
    ended: bool = False
    terminates: bool = True
    types: list[EntityType] | None = Field(default=None, min_length=1)
    adjacent: bool = False
    not_before: list[str] = Field(default_factory=list)
    ends_clause: bool = False
    trailing: bool = False
    stop_at: list[str] = Field(default_factory=list)
    starts_unit: bool = False
    list_reach: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TriggerRule:
        if self.differential and self.category != "uncertain":
            raise ValueError("differential is only for uncertain triggers")
        if self.ended and (self.category != "historical" or self.also):
            raise ValueError("ended is only for historical triggers")
        if self.relative is not None and "family" not in (self.category, *self.also):
            raise ValueError("relative is only for family triggers")
        if self.category in self.also:
            raise ValueError("also repeats the category")
        if self.trailing and self.direction != "forward":
            raise ValueError("trailing is only for forward triggers")
        return self


class PseudoRule(_Strict):
    """Phrases that look like triggers but are not ("no increase", "gram negative")."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
    phrases: list[str] = Field(min_length=1)


class TerminationRule(_Strict):
    """Phrases that end scopes ("but", "however"); ``categories`` limits which (all when
    unset), ``ends`` which directions (forward scopes that reach the phrase, backward scopes
    that reach back to it; both when unset)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
    phrases: list[str] = Field(min_length=1)
    categories: list[Category] | None = None
    ends: Literal["forward", "backward", "both"] = "both"
    not_before: list[str] = Field(default_factory=list)
    """Words the phrase may not be followed by ("no fever, increase in cough": no order)."""


class ContextRules(_Strict):
    """The versioned contents of ``context_rules.yaml``."""

    version: int
    categories: dict[Category, CategoryDefaults]
    triggers: list[TriggerRule]
    pseudo: list[PseudoRule] = Field(default_factory=list)
    terminations: list[TerminationRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> ContextRules:
        ids = (
            [r.id for r in self.triggers]
            + [r.id for r in self.pseudo]
            + [r.id for r in self.terminations]
        )
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids listed twice: {duplicates}")
        return self


class RelativesTable(_Strict):
    """The versioned contents of ``relatives.yaml``: words for each family member."""

    version: int
    relatives: dict[RoleCode, list[str]]


Kind = Literal["trigger", "pseudo", "termination"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """What a match of a pattern means; shared by all the patterns of one rule."""

    id: str
    kind: Kind
    categories: tuple[Category, ...] = ()
    """For a trigger: its category, then the ``also`` ones; for a termination: those it ends."""
    direction: Direction = "forward"
    """For a trigger, where its scope runs; for a termination, which scopes it ends
    (``bidirectional``: both)."""
    max_scope: int | None = None
    differential: bool = False
    relative: str | None = None
    ended: bool = False
    terminates: bool = True
    types: frozenset[str] | None = None
    """Entity types (``EntityType`` values) the trigger applies to; None: all."""
    adjacent: bool = False
    """The trigger's scope ends at the first punctuation mark."""
    not_before: frozenset[str] = frozenset()
    """Words (normalised) the trigger may not be followed by."""
    ends_clause: bool = False
    """The trigger matches only before a punctuation mark or the end of its unit."""
    trailing: bool = False
    """At the end of its clause the (forward) trigger looks back instead."""
    stop_at: frozenset[str] = frozenset()
    """Tokens (punctuation marks or words) that end the trigger's scope."""
    starts_unit: bool = False
    """The trigger matches only at the start of its unit or after a colon."""
    list_reach: bool = False
    """The scope crosses a comma only into a coordinated list or after a colon."""
    order: int = 0
    """Position in the file; breaks ties between matches of equal length."""


class RelativeLexicon:
    """Family-member terms as token sequences, longest match first; a possessive matches its
    word ("grandmother’s" is "grandmother")."""

    def __init__(self, table: RelativesTable) -> None:
        self.by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        seen: dict[tuple[str, ...], str] = {}
        for code, terms in table.relatives.items():
            for term in terms:
                norms = tuple(_unpossessed(t.norm) for t in tokenize(term))
                if not norms:
                    raise ValueError(f"relative term {term!r} has no tokens")
                if norms in seen:
                    if seen[norms] != code:
                        raise ValueError(f"relative term {term!r} names two relatives")
                    continue
                seen[norms] = code
                self.by_first.setdefault(norms[0], []).append((norms, code))
        for entries in self.by_first.values():
            entries.sort(key=lambda entry: -len(entry[0]))

    def match(self, norms: list[str], start: int, end: int) -> tuple[int, str] | None:
        """(tokens used, code) of the longest family-member term at ``norms[start]``."""
        for term, code in self.by_first.get(_unpossessed(norms[start]), ()):
            stop = start + len(term)
            if stop <= end and all(
                _unpossessed(norms[start + k]) == term[k] for k in range(1, len(term))
            ):
                return len(term), code
        return None


def _unpossessed(norm: str) -> str:
    """The word without a possessive ending: "mother's" → "mother", "parents’" → "parents"."""
    if norm.endswith(("'s", "’s")):
        return norm[:-2]
    if norm.endswith(("'", "’")):
        return norm[:-1]
    return norm


def _variants(norms: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The sequence as written and with typographic apostrophes made straight and back."""
    yield norms
    straight = tuple(n.replace("’", "'") for n in norms)
    curly = tuple(n.replace("'", "’") for n in norms)
    if straight != norms:
        yield straight
    if curly != norms:
        yield curly


def expand_phrase(phrase: str) -> list[tuple[str, ...]]:
    """Every token sequence a phrase stands for.

    Words are separated by spaces; ``a|b`` is either, ``[a|b]`` optionally either, and ``_``
    joins the words of one alternative (``was|came_back negative``).

    >>> expand_phrase("no|without [any] evidence of")
    [('no', 'any', 'evidence', 'of'), ('no', 'evidence', 'of'), ('without', 'any', 'evidence', 'of'), ('without', 'evidence', 'of')]
    """  # noqa: E501
    slots: list[list[tuple[str, ...]]] = []
    for chunk in phrase.split():
        optional = len(chunk) > 2 and chunk.startswith("[") and chunk.endswith("]")
        body = chunk[1:-1] if optional else chunk
        if len(body) > 1 and ("[" in body or "]" in body):
            raise ValueError(f"misplaced bracket in phrase {phrase!r}")
        choices: list[tuple[str, ...]] = []
        for written in body.split("|") if len(body) > 1 else [body]:
            alternative = written.replace("_", " ") if len(written) > 1 else written
            if alternative in CLASSES:
                choices.append((alternative,))
            elif alternative.startswith("<") and alternative.endswith(">") and len(alternative) > 2:
                raise ValueError(f"unknown class {alternative!r} in phrase {phrase!r}")
            else:
                norms = tuple(t.norm for t in tokenize(alternative))
                if not norms:
                    raise ValueError(f"empty alternative in phrase {phrase!r}")
                choices.append(norms)
        if optional:
            choices.append(())
        slots.append(choices)
    count = 1
    for choices in slots:
        count *= len(choices)
    if count > MAX_EXPANSIONS:
        raise ValueError(f"phrase {phrase!r} expands to {count} sequences")
    out = [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*slots)]
    if any(not seq for seq in out):
        raise ValueError(f"phrase {phrase!r} can match nothing")
    return out


class _Node:
    """A trie node: literal and class edges, and the best rule that ends here."""

    __slots__ = ("classes", "ending", "literal")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.classes: dict[str, _Node] = {}
        self.ending: tuple[CompiledRule, str] | None = None


class TriggerIndex:
    """Every pattern of the rules in a token trie whose root is keyed by the first token's
    normalised form; :meth:`match_at` walks it from one token."""

    def __init__(self, rules: ContextRules, relatives: RelativesTable) -> None:
        self.rules = rules
        self.relatives = RelativeLexicon(relatives)
        self.terminated_by: dict[Category, frozenset[Category]] = {
            c: frozenset(rules.categories[c].terminated_by)
            if c in rules.categories
            else frozenset()
            for c in CATEGORIES
        }
        self.root = _Node()
        self.starts: frozenset[str] = frozenset()
        """Norms a pattern can start with (besides numbers): a cheap test before the walk."""
        literal_owner: dict[tuple[str, ...], str] = {}
        for rule, phrase in self._phrases(rules):
            for seq in expand_phrase(phrase):
                for elements in _variants(seq):
                    if not any(e in CLASSES for e in elements):
                        owner = literal_owner.setdefault(elements, rule.id)
                        if owner != rule.id:
                            raise ValueError(
                                f"phrase {' '.join(elements)!r} is in rules {owner} and {rule.id}"
                            )
                    self._add(elements, rule, phrase)
        starts = set(self.root.literal)
        if RELATIVE in self.root.classes:
            starts |= {w + end for w in self.relatives.by_first for end in ("", "'s", "’s")}
        self.starts = frozenset(starts)

    def _phrases(self, rules: ContextRules) -> Iterator[tuple[CompiledRule, str]]:
        order = itertools.count()
        # Pseudo-triggers first: on a tie they win over the trigger they protect against.
        for pseudo in rules.pseudo:
            rule = CompiledRule(pseudo.id, "pseudo", order=next(order))
            for phrase in pseudo.phrases:
                yield rule, phrase
        for trig in rules.triggers:
            defaults = rules.categories.get(trig.category)
            rule = CompiledRule(
                trig.id,
                "trigger",
                categories=(trig.category, *trig.also),
                direction=trig.direction,
                max_scope=trig.max_scope or (defaults.max_scope if defaults else None),
                differential=trig.differential,
                relative=trig.relative,
                ended=trig.ended,
                terminates=trig.terminates,
                types=frozenset(t.value for t in trig.types) if trig.types else None,
                adjacent=trig.adjacent,
                not_before=frozenset(w.lower() for w in trig.not_before),
                ends_clause=trig.ends_clause,
                trailing=trig.trailing,
                stop_at=frozenset(trig.stop_at),
                starts_unit=trig.starts_unit,
                list_reach=trig.list_reach,
                order=next(order),
            )
            for phrase in trig.phrases:
                yield rule, phrase
        for term in rules.terminations:
            rule = CompiledRule(
                term.id,
                "termination",
                categories=tuple(term.categories) if term.categories else CATEGORIES,
                direction="bidirectional" if term.ends == "both" else term.ends,
                not_before=frozenset(w.lower() for w in term.not_before),
                order=next(order),
            )
            for phrase in term.phrases:
                yield rule, phrase

    def _add(self, elements: tuple[str, ...], rule: CompiledRule, phrase: str) -> None:
        node = self.root
        for element in elements:
            edges = node.classes if element in CLASSES else node.literal
            node = edges.setdefault(element, _Node())
        if node.ending is None or rule.order < node.ending[0].order:
            node.ending = (rule, phrase)

    def match_at(self, norms: list[str], start: int, end: int) -> Match | None:
        """The longest pattern that matches at ``norms[start]`` (not past ``end``); on equal
        length the rule listed first (pseudo-triggers before triggers) wins."""
        best: Match | None = None
        stack: list[tuple[_Node, int, str | None]] = [(self.root, start, None)]
        while stack:
            node, pos, relative = stack.pop()
            if node.ending is not None and pos > start:
                rule, phrase = node.ending
                blocked = (
                    pos < end
                    and (
                        norms[pos] in rule.not_before
                        or (rule.ends_clause and norms[pos] not in _CLAUSE_ENDS)
                        or (NUMBER in rule.not_before and _is_number(norms[pos]))
                    )
                ) or (rule.starts_unit and start > 0 and norms[start - 1] not in _UNIT_OPENERS)
                if not blocked and (
                    best is None
                    or pos > best.end
                    or (pos == best.end and rule.order < best.rule.order)
                ):
                    best = Match(rule, start, pos, phrase, relative or rule.relative)
            if pos >= end:
                continue
            norm = norms[pos]
            nxt = node.literal.get(norm)
            if nxt is not None:
                stack.append((nxt, pos + 1, relative))
            if node.classes:
                for element, child in node.classes.items():
                    if element == RELATIVE:
                        found = self.relatives.match(norms, pos, end)
                        if found is not None:
                            stack.append((child, pos + found[0], found[1]))
                    elif _is_number(norm) if element == NUMBER else _is_year(norm):
                        stack.append((child, pos + 1, relative))
        return best


_CLAUSE_ENDS = frozenset(".,;:)")
"""Tokens an ``ends_clause`` trigger may stand before."""
_UNIT_OPENERS = frozenset({":", ";", "-", "("})
"""Tokens after which a ``starts_unit`` trigger may stand ("ROS: Neg: fever")."""
TRAILING_ENDS = frozenset(".,;)-") | {"with", "by", "via", "per"}
"""Tokens after a ``trailing`` trigger that make it look back (not ":": "R/O: MI"); "MI r/o
with serial troponins" looks back too."""
TRAILING_STOPS = frozenset({".", ",", ";", "with", "and"})
"""Marks and words that end a ``trailing`` trigger's backward scope: it doubts the item it
ends ("Diabetic foot ulcer with osteomyelitis r/o" doubts the osteomyelitis)."""
TRAILING_SCOPE = 6
"""Words a ``trailing`` trigger looks back at most."""


def _is_number(norm: str) -> bool:
    return norm[:1].isdigit()


def _is_year(norm: str) -> bool:
    return len(norm) == 4 and norm.isdigit() and norm[:2] in ("19", "20")


@dataclass(frozen=True, slots=True)
class Match:
    """A pattern matched on tokens ``[start, end)`` (token indexes)."""

    rule: CompiledRule
    start: int
    end: int
    phrase: str
    relative: str | None = None


def load_index() -> TriggerIndex:
    """The index of the packaged rule tables; a phrase that cannot be compiled is a pipeline
    error naming it."""
    rules = load_data_file(RULES_FILE, ContextRules)
    relatives = load_data_file(RELATIVES_FILE, RelativesTable)
    try:
        return TriggerIndex(rules, relatives)
    except ValueError as exc:
        raise Note2FhirError(
            ErrorCode.PIPELINE_INVALID, reason=f"data files {RULES_FILE}, {RELATIVES_FILE}: {exc}"
        ) from None
