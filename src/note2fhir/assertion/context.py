"""The ConText algorithm on one sentence-like unit, in time linear in its tokens.

1. Walk the tokens once, matching the longest trigger, pseudo-trigger or termination at each
   token (pseudo-triggers are matched only so that the words they cover trigger nothing).
2. Give each trigger its scope: forward from its end (backward from its start) up to the first
   termination of its category, a trigger of a category that ends it, ``max_scope`` words, or
   the end of the unit.
3. Per category and direction, give every token the nearest trigger whose scope covers it
   (nearest first, painting only unpainted tokens, so each token is painted once).
4. A mention gets a category when its first token is in a forward scope of it, or its last
   token in a backward one; scopes never include their own trigger, so a trigger inside a
   mention does not modify it ("[[No acute distress]]").  A trigger that straddles the
   mention's edge does: one that starts before the mention and ends inside it ("without
   [[signs of infection]]": the mention is in the scope the trigger began), and the mirror
   image for backward triggers.  Triggers limited to some entity types are painted apart
   and count only for mentions of those types.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from note2fhir.assertion.rules import (
    TRAILING_ENDS,
    TRAILING_SCOPE,
    TRAILING_STOPS,
    Category,
    Match,
    TriggerIndex,
)


@dataclass(frozen=True, slots=True)
class Hit:
    """A trigger whose scope covers a mention: which category, in which direction."""

    category: Category
    match: Match
    direction: Literal["forward", "backward"]


@dataclass(frozen=True, slots=True)
class UnitContext:
    """The matches of one unit and the hits of each mention span asked about."""

    matches: list[Match]
    hits: list[list[Hit]]


def find_matches(index: TriggerIndex, norms: list[str]) -> list[Match]:
    """Triggers, pseudo-triggers and terminations in ``norms``, left to right, not
    overlapping (the longest match at the leftmost token wins)."""
    found: list[Match] = []
    pos = 0
    end = len(norms)
    starts = index.starts
    while pos < end:
        norm = norms[pos]
        if norm not in starts and not norm[:1].isdigit():
            pos += 1
            continue
        match = index.match_at(norms, pos, end)
        if match is None:
            pos += 1
        else:
            found.append(match)
            pos = match.end
    return found


def unit_context(
    index: TriggerIndex,
    norms: list[str],
    spans: list[tuple[int, int]],
    types: list[str] | None = None,
) -> UnitContext:
    """The hits of each mention span (token indexes ``[first, last)`` into ``norms``) whose
    entity types (``EntityType`` values) are ``types``."""
    matches = find_matches(index, norms)
    hits: list[list[Hit]] = [[] for _ in spans]
    triggers = [m for m in matches if m.rule.kind == "trigger"]
    if not triggers or not spans:
        return UnitContext(matches, hits)
    low = min(first for first, _ in spans)
    high = max(last for _, last in spans)
    if high <= low:
        return UnitContext(matches, hits)
    words = _word_prefix(norms)
    groups: dict[tuple[Category, frozenset[str] | None], list[Match]] = {}
    for m in triggers:
        for category in m.rule.categories:
            groups.setdefault((category, m.rule.types), []).append(m)
    stops: dict[Category, tuple[list[int], list[int]]] = {}
    for (category, only), own in groups.items():
        if category not in stops:
            stops[category] = (
                [m.start for m in _stops(index, category, matches, "backward")],
                [m.end for m in _stops(index, category, matches, "forward")],
            )
        starts, ends = stops[category]
        forward: list[tuple[Match, int, int]] = []
        backward: list[tuple[Match, int, int]] = []
        for m in own:
            direction = m.rule.direction
            trailed = m.rule.trailing and (m.end >= len(norms) or norms[m.end] in TRAILING_ENDS)
            if trailed:
                direction = "backward"  # "NSTEMI r/o": nothing follows in its clause
            if direction != "backward":
                limit = len(norms)
                k = bisect_left(starts, m.end)
                if k < len(starts):
                    limit = starts[k]
                if m.rule.max_scope is not None:
                    limit = min(limit, _words_after(words, m.end, m.rule.max_scope))
                if m.rule.adjacent or m.rule.stop_at:
                    limit = min(limit, _punctuation_after(norms, m.end, limit, m.rule.stop_at))
                if m.rule.list_reach and not (m.end < len(norms) and norms[m.end] == ":"):
                    comma = _punctuation_after(norms, m.end, limit, _COMMA)
                    if not _LIST_JOINERS.intersection(norms[m.end : comma]):
                        limit = comma
                forward.append((m, m.end, limit))
            if direction != "forward":
                limit = 0
                k = bisect_right(ends, m.start) - 1
                if k >= 0:
                    limit = ends[k]
                if m.rule.max_scope is not None:
                    limit = max(limit, _words_before(words, m.start, m.rule.max_scope))
                if m.rule.adjacent or m.rule.stop_at:
                    limit = max(limit, _punctuation_before(norms, m.start, limit, m.rule.stop_at))
                if m.rule.list_reach:
                    comma = _punctuation_before(norms, m.start, limit, _COMMA)
                    if not _LIST_JOINERS.intersection(norms[comma : m.start]):
                        limit = comma
                if trailed:
                    # only the item it ends: "HTN, DM2, ACS r/o" doubts the ACS alone
                    limit = max(limit, _punctuation_before(norms, m.start, limit, TRAILING_STOPS))
                    limit = max(limit, _words_before(words, m.start, TRAILING_SCOPE))
                backward.append((m, limit, m.start))
        # Nearest trigger first: the latest-starting forward one, the earliest backward one.
        ahead = _paint(low, high, reversed(forward))
        behind = _paint(low, high, backward)
        # an adjacent trigger stands after its mention, never inside it ("blood cultures were
        # negative" is about the cultures)
        within = _inside(low, high, [m for m in own if not m.rule.adjacent])
        for n, (first, last) in enumerate(spans):
            if last <= first or (only is not None and (types is None or types[n] not in only)):
                continue
            fwd = ahead[first - low] or _straddling(ahead, within, low, first, last, "forward")
            if fwd is not None:
                hits[n].append(Hit(category, fwd, "forward"))
            bwd = behind[last - 1 - low] or _straddling(
                behind, within, low, first, last, "backward"
            )
            if bwd is not None:
                hits[n].append(Hit(category, bwd, "backward"))
    return UnitContext(matches, hits)


def _stops(
    index: TriggerIndex, category: Category, matches: list[Match], spared: str
) -> list[Match]:
    """The matches that end a scope of ``category``, in order, leaving out terminations that
    only end scopes of the ``spared`` direction."""
    ended_by = index.terminated_by[category]
    stops = []
    for m in matches:
        kind = m.rule.kind
        if kind == "termination":
            if category in m.rule.categories and m.rule.direction != spared:
                stops.append(m)
        elif (
            kind == "trigger"
            and m.rule.terminates
            and category not in m.rule.categories
            and not ended_by.isdisjoint(m.rule.categories)
        ):
            stops.append(m)
    return stops


def _inside(low: int, high: int, triggers: list[Match]) -> list[Match | None]:
    """For each token in ``[low, high)``, the trigger of two or more tokens that covers it
    (a one-token trigger cannot straddle a mention's edge)."""
    covering: list[Match | None] = [None] * (high - low)
    for m in triggers:
        if m.end - m.start < 2:
            continue
        for i in range(max(m.start, low), min(m.end, high)):
            covering[i - low] = m
    return covering


def _straddling(
    painted: list[Match | None],
    within: list[Match | None],
    low: int,
    first: int,
    last: int,
    direction: Literal["forward", "backward"],
) -> Match | None:
    """The trigger that straddles the edge of the mention ``[first, last)`` on the side it
    looks from, when its scope (``painted``) takes in the rest of the mention: "without
    [[signs of infection]]" (forward: it starts before the mention and ends inside it)."""
    if direction == "forward":
        trigger = within[first - low]
        if trigger is None or not trigger.start < first < trigger.end < last:
            return None
        after = trigger.end - low
    else:
        trigger = within[last - 1 - low]
        if trigger is None or not first < trigger.start < last < trigger.end:
            return None
        after = trigger.start - 1 - low
    return trigger if painted[after] is trigger else None


def _word_prefix(norms: list[str]) -> list[int]:
    """``prefix[i]``: how many word tokens (not punctuation) come before token ``i``."""
    prefix = [0]
    count = 0
    for norm in norms:
        count += norm[:1].isalnum()
        prefix.append(count)
    return prefix


def _words_after(prefix: list[int], start: int, words: int) -> int:
    """The token index just past the ``words``-th word at or after ``start``."""
    return min(bisect_left(prefix, prefix[start] + words), len(prefix) - 1)


def _words_before(prefix: list[int], end: int, words: int) -> int:
    """The token index of the ``words``-th word before ``end``."""
    target = prefix[end] - words
    if target <= 0:
        return 0
    return bisect_right(prefix, target) - 1


_COMMA = frozenset({","})
_LIST_JOINERS = frozenset({"and", "or"})
"""Words that join a list's last item: a ``list_reach`` scope crosses commas into it."""


def _punctuation_after(
    norms: list[str], start: int, limit: int, marks: frozenset[str] = frozenset()
) -> int:
    """The first punctuation token (one of ``marks``, if given) in ``[start, limit)``, or
    ``limit``."""
    for i in range(start, limit):
        if norms[i] in marks if marks else not norms[i][:1].isalnum():
            return i
    return limit


def _punctuation_before(
    norms: list[str], end: int, limit: int, marks: frozenset[str] = frozenset()
) -> int:
    """The token just after the last punctuation token (one of ``marks``, if given) in
    ``[limit, end)``, or ``limit``."""
    for i in range(end - 1, limit - 1, -1):
        if norms[i] in marks if marks else not norms[i][:1].isalnum():
            return i + 1
    return limit


def _paint(low: int, high: int, scopes: Iterable[tuple[Match, int, int]]) -> list[Match | None]:
    """For each token in ``[low, high)``, the first scope (in the order given) covering it.

    ``following[i]`` leads to the next unpainted position (path-compressed), so every token
    is painted at most once however many scopes overlap.
    """
    size = high - low
    owner: list[Match | None] = [None] * size
    following = list(range(size + 1))

    def next_free(i: int) -> int:
        root = i
        while following[root] != root:
            root = following[root]
        while following[i] != root:
            following[i], i = root, following[i]
        return root

    for match, start, stop in scopes:
        a = max(start, low) - low
        b = min(stop, high) - low
        if a >= b:
            continue
        i = next_free(a)
        while i < b:
            owner[i] = match
            following[i] = i + 1
            i = next_free(i + 1)
    return owner
