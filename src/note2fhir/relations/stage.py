"""The ``relations`` stage: ``treats``, ``causes`` and ``reveals`` links between mentions of
one unit ("lisinopril 10 mg daily for HTN", "rash after amoxicillin", "CT showed PE") or of
one problem item of an assessment and plan ("2. HTN - continue lisinopril")."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from note2fhir.document import (
    NORMAL_STATE_SOURCE,
    ClinicalDocument,
    Entity,
    EntityType,
    Relation,
    Sentence,
)
from note2fhir.medication.phrases import Word, words
from note2fhir.pipeline import Stage, register_stage
from note2fhir.relations.rules import CompiledRule, RelationRules, default_rules
from note2fhir.settings import Settings

_ITEM_MARKERS = frozenset({"#", "-", "*", "•", "·", "–", "—", ".", ")", "(", ">"})
_TAIL_WORDS = 2
"""How many words after a pair are checked for tail blockers."""
_NESTED_LOOKBACK = 8
"""How many mentions back an outer mention holding a drug is looked for."""
_SIG_SEARCH = 200
"""How far around a drug its sig text is looked for (characters)."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    gap: int
    rule_index: int
    type: str
    rule: str


@dataclass(slots=True)
class _Unit:
    """One unit's words, and for each word the mention (or drug sig) it belongs to."""

    sentence: Sentence
    entities: list[Entity]
    seq: list[Word]
    owner: list[int | None]
    sig: list[int | None]
    section: str | None


@register_stage
class RelationsStage(Stage):
    """Link mentions by the rules of ``relation_rules.yaml``; reads the medication stage's
    sig text and status when it ran first (a drug's sig then does not count as distance, and a
    stopped or held drug treats nothing)."""

    name = "relations"
    requires = frozenset({"entities", "tokens", "sentences"})
    assigns = frozenset({"relations"})

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.rules: RelationRules = default_rules()

    def process(self, doc: ClinicalDocument) -> None:
        """Add the relations found to ``doc.relations``."""
        if len(doc.entities) < 2 or not doc.sentences:
            return
        entities = sorted(
            (e for e in doc.entities if e.source != NORMAL_STATE_SOURCE),
            key=lambda e: (e.start, -e.end),
        )
        groups: dict[int, list[Entity]] = {}
        for ent in entities:
            index = doc.sentence_at(ent.start)
            if index is not None:
                groups.setdefault(index, []).append(ent)
        found: dict[tuple[str, str], _Candidate] = {}
        pairs = {(c.rule.source, c.rule.target) for c in self.rules.rules}
        for index, members in groups.items():
            if len(members) < 2:
                continue
            # a unit without the two kinds of some rule links nothing: skip reading its words
            kinds = {e.type for e in members}
            if any(source in kinds and target in kinds for source, target in pairs):
                self._unit(doc, self._words(doc, doc.sentences[index], members), found)
        self._problem_items(doc, groups, found)
        position = {e.id: i for i, e in enumerate(entities)}
        known = {(r.type, r.source, r.target) for r in doc.relations}
        new = [
            Relation(c.type, source, target, c.rule)
            for (source, target), c in sorted(
                found.items(), key=lambda kv: (position[kv[0][0]], position[kv[0][1]])
            )
            if (c.type, source, target) not in known
        ]
        doc.relations = [*doc.relations, *new]

    # --- one unit --------------------------------------------------------------------------

    def _words(self, doc: ClinicalDocument, sentence: Sentence, members: list[Entity]) -> _Unit:
        seq = words(doc.tokens, sentence.first_token, sentence.last_token)
        starts = [w.start for w in seq]
        owner: list[int | None] = [None] * len(seq)
        sig: list[int | None] = [None] * len(seq)
        for index, ent in enumerate(members):
            for k in range(bisect_left(starts, ent.start), bisect_left(starts, ent.end)):
                if owner[k] is None:
                    owner[k] = index
            span = _sig_span(doc.text, ent)
            if span is not None:
                for k in range(bisect_left(starts, span[0]), bisect_left(starts, span[1])):
                    if owner[k] is None and sig[k] is None:
                        sig[k] = index
        section = doc.section_at(sentence.start)
        return _Unit(sentence, members, seq, owner, sig, section.name if section else None)

    def _unit(
        self, doc: ClinicalDocument, unit: _Unit, found: dict[tuple[str, str], _Candidate]
    ) -> None:
        starts = [w.start for w in unit.seq]
        first_word = [bisect_left(starts, e.start) for e in unit.entities]
        end_word = [bisect_left(starts, e.end) for e in unit.entities]
        max_words = self.rules.table.max_words
        # triggers matter only within reach of a mention that could start a pair
        reach = [False] * len(unit.seq)
        covered = 0
        for end in sorted(end_word):
            for k in range(max(end, covered), min(end + max_words, len(unit.seq))):
                reach[k] = True
            covered = max(covered, end + max_words)
        kinds = {e.type for e in unit.entities}
        for compiled in self.rules.rules:
            rule = compiled.rule
            if rule.source not in kinds or rule.target not in kinds:
                continue  # no pair to link: its cues and triggers need not be read
            if not self._applies(doc, compiled, unit):
                continue
            first_type, second_type = (
                (rule.source, rule.target)
                if rule.order == "source_first"
                else (rule.target, rule.source)
            )
            triggers = _triggers(compiled, unit, reach)
            if not triggers and not rule.nested:
                continue
            for a_index, a in enumerate(unit.entities):
                if a.type is not first_type:
                    continue
                pairs: list[tuple[int, int | None]] = []
                # later mentions, nearest first, until they are too far away
                for b_index in range(a_index + 1, len(unit.entities)):
                    if first_word[b_index] - end_word[a_index] > max_words:
                        break
                    b = unit.entities[b_index]
                    if b.type is second_type and b.start >= a.end:
                        lo, hi = end_word[a_index], first_word[b_index]
                        pairs.append(
                            (
                                b_index,
                                self._best(compiled, unit, triggers, (lo, hi), (a_index, b_index)),
                            )
                        )
                # an outer mention holding this one sorts just before it
                if rule.nested:
                    for b_index in range(a_index - 1, max(-1, a_index - _NESTED_LOOKBACK), -1):
                        b = unit.entities[b_index]
                        if b.type is second_type and _inside(a, b):
                            lo, hi = end_word[a_index], end_word[b_index]
                            pairs.append((b_index, _nested(compiled, unit, lo, hi)))
                for b_index, gap in pairs:
                    if gap is None:
                        continue
                    b = unit.entities[b_index]
                    source, target = (a, b) if rule.order == "source_first" else (b, a)
                    if _excluded(source, rule.exclude_status):
                        continue
                    if compiled.tail_blockers and _tail_blocked(
                        compiled, unit, max(end_word[a_index], end_word[b_index])
                    ):
                        continue
                    _offer(
                        found, source, target, _Candidate(gap, compiled.index, rule.type, rule.id)
                    )

    def _applies(self, doc: ClinicalDocument, compiled: CompiledRule, unit: _Unit) -> bool:
        context = compiled.rule.context
        if context is None:
            return True
        if unit.section is not None and unit.section in context.sections:
            return True
        if context.unsectioned and not doc.sections:
            return True
        cues = compiled.cues
        return cues is not None and any(
            cues.may_start(word.norm) and cues.match_at(unit.seq, k) is not None
            for k, word in enumerate(unit.seq)
        )

    def _best(
        self,
        compiled: CompiledRule,
        unit: _Unit,
        triggers: list[tuple[int, int]],
        region: tuple[int, int],
        pair: tuple[int, int],
    ) -> int | None:
        """The fewest gap words over the trigger occurrences between the pair, or None."""
        lo, hi = region
        a_index, b_index = pair
        rule = compiled.rule
        first_type = unit.entities[a_index].type
        second_type = unit.entities[b_index].type
        # A drug with its own sig does not share a later "for": "aspirin 81 mg, metoprolol 25
        # mg for afib" says nothing about aspirin.
        lone = not any(unit.sig[k] == a_index for k in range(lo, hi))
        best: int | None = None
        for start, end in triggers[bisect_left(triggers, (lo, lo)) :]:
            if start >= hi:
                break
            if end > hi:
                continue
            if compiled.separators and not any(
                unit.seq[k].norm in compiled.separators for k in range(lo, start)
            ):
                continue
            before = self._cost(compiled, unit, (lo, start), first_type, share=lone)
            if before is None or before > rule.before_gap:
                continue
            after = self._cost(compiled, unit, (end, hi), second_type, share=True, chained=False)
            if after is None or after > rule.after_gap:
                continue
            if best is None or before + after < best:
                best = before + after
        return best

    def _cost(
        self,
        compiled: CompiledRule,
        unit: _Unit,
        span: tuple[int, int],
        free_type: EntityType,
        *,
        share: bool,
        chained: bool = True,
    ) -> int | None:
        """Words that count as distance over ``unit.seq[span]``; None when something there
        stops the rule (a mention of another type, a blocker).

        A further mention of ``free_type`` is free when ``share``; when ``chained`` (the first
        mention's side) only if nothing but coordinators lies between it and the first
        mention: "aspirin and plavix for CAD" links both, "isoproterenol on
        bromocriptine-induced tachycardia" says nothing about isoproterenol.  On the second
        mention's side lists with modifiers stay linked ("PE and small effusions").
        """
        gap = 0
        joined = True
        for k in range(*span):
            owner = unit.owner[k]
            if owner is not None:
                if share and (joined or not chained) and unit.entities[owner].type is free_type:
                    continue
                return None
            if unit.sig[k] is not None and free_type is EntityType.MEDICATION:
                continue
            norm = unit.seq[k].norm
            if norm in compiled.blockers:
                return None
            if norm in self.rules.coordinators or not norm[:1].isalnum():
                continue
            gap += 1
            joined = False
        return gap

    # --- problem items of an assessment and plan ----------------------------------------------

    def _problem_items(
        self,
        doc: ClinicalDocument,
        groups: dict[int, list[Entity]],
        found: dict[tuple[str, str], _Candidate],
    ) -> None:
        """Drugs under a problem heading treat it: "2. HTN - continue lisinopril"."""
        items = self.rules.table.problem_items
        allowed = set(items.sections)
        treated = {source for (source, _), c in found.items() if c.type == "treats"}
        heads: list[Entity] = []
        previous: Sentence | None = None
        previous_section: str | None = None
        for index, sentence in enumerate(doc.sentences):
            section = doc.section_at(sentence.start)
            name = section.name if section else None
            in_scope = name in allowed or (items.unsectioned and not doc.sections)
            if (
                not in_scope
                or name != previous_section
                or (previous is not None and _blank_line(doc.text, previous.end, sentence.start))
            ):
                heads = []
            previous, previous_section = sentence, name
            if not in_scope:
                continue
            members = groups.get(index, [])
            seq = words(
                doc.tokens,
                sentence.first_token,
                min(sentence.last_token, sentence.first_token + 64),
            )
            new_heads, after = self._heading(seq, members)
            if new_heads:
                heads = new_heads
            elif _numbered(seq):
                heads = []
            if not heads:
                continue
            for ent in members:
                if ent.type is not EntityType.MEDICATION or ent.start < after:
                    continue
                if ent.id in treated or _excluded(ent, items.exclude_status):
                    continue
                for head in heads:
                    candidate = _Candidate(
                        self.rules.table.max_words + 1, len(self.rules.rules), "treats", items.id
                    )
                    _offer(found, ent, head, candidate)

    def _heading(self, seq: Sequence[Word], members: list[Entity]) -> tuple[list[Entity], int]:
        """The problems heading an item ("2. HTN/HLD:") and where the heading ends; none when
        the unit does not start with a problem followed by a separator or its end."""
        k = 0
        while k < len(seq) and (seq[k].norm in _ITEM_MARKERS or seq[k].norm.isdigit()):
            k += 1
        problems = {e.start: e for e in members if e.type is EntityType.PROBLEM}
        heads: list[Entity] = []
        while k < len(seq):
            head = problems.get(seq[k].start)
            if head is None:
                break
            heads.append(head)
            while k < len(seq) and seq[k].start < head.end:
                k += 1
            if (
                k + 1 < len(seq)
                and seq[k].norm in self.rules.coordinators
                and seq[k + 1].start in problems
            ):
                k += 1
                continue
            break
        if not heads:
            return [], 0
        if k < len(seq) and seq[k].norm not in self.rules.item_separators:
            return [], 0
        return heads, heads[-1].end


def _triggers(compiled: CompiledRule, unit: _Unit, reach: list[bool]) -> list[tuple[int, int]]:
    """Trigger occurrences in the unit (longest first, left to right, outside mentions),
    where ``reach`` allows."""
    out: list[tuple[int, int]] = []
    k = 0
    while k < len(unit.seq):
        if reach[k] and unit.owner[k] is None and compiled.triggers.may_start(unit.seq[k].norm):
            match = compiled.triggers.match_at(unit.seq, k)
            if match is not None and all(unit.owner[j] is None for j in range(k, match.end)):
                out.append((k, match.end))
                k = match.end
                continue
        k += 1
    return out


def _nested(compiled: CompiledRule, unit: _Unit, lo: int, hi: int) -> int | None:
    """0 when a trigger follows the inner mention directly, inside the outer one:
    "[heparin]-induced thrombocytopenia"."""
    k = lo
    while k < hi and not unit.seq[k].norm[:1].isalnum():
        k += 1
    match = compiled.triggers.match_at(unit.seq, k) if k < hi else None
    return 0 if match is not None and match.end <= hi else None


def _tail_blocked(compiled: CompiledRule, unit: _Unit, after: int) -> bool:
    """A tail blocker among the first words after the pair ("DKA from insulin
    noncompliance")."""
    seen = 0
    for k in range(after, len(unit.seq)):
        norm = unit.seq[k].norm
        if not norm[:1].isalnum():
            continue
        if norm in compiled.tail_blockers:
            return True
        seen += 1
        if seen >= _TAIL_WORDS:
            break
    return False


def _inside(inner: Entity, outer: Entity) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and inner is not outer


def _excluded(ent: Entity, statuses: Sequence[str]) -> bool:
    status = ent.medication.status if ent.medication is not None else None
    return status is not None and status in statuses


def _offer(
    found: dict[tuple[str, str], _Candidate], source: Entity, target: Entity, candidate: _Candidate
) -> None:
    """Keep the better candidate for a pair: fewer gap words, then the rule listed first."""
    key = (source.id, target.id)
    current = found.get(key)
    if current is None or (candidate.gap, candidate.rule_index) < (current.gap, current.rule_index):
        found[key] = candidate


def _sig_span(text: str, ent: Entity) -> tuple[int, int] | None:
    """Where the medication stage's sig text of ``ent`` lies, around the mention."""
    sig = ent.medication.text if ent.medication is not None else None
    if not sig:
        return None
    lo = max(0, ent.start - len(sig))
    hi = min(len(text), ent.end + len(sig) + _SIG_SEARCH)
    pos = text.find(sig, lo, hi)
    while pos != -1:
        if pos <= ent.end + _SIG_SEARCH and pos + len(sig) >= ent.start:
            return pos, pos + len(sig)
        pos = text.find(sig, pos + 1, hi)
    return None


def _blank_line(text: str, start: int, end: int) -> bool:
    lines = text[start:end].split("\n")
    return any(not line.strip() for line in lines[1:-1])


def _numbered(seq: Sequence[Word]) -> bool:
    """A unit starting a new numbered or '#' item ("3. CKD", "# Anemia")."""
    if not seq:
        return False
    if seq[0].norm == "#":
        return True
    return seq[0].norm.isdigit() and len(seq) > 1 and seq[1].norm in {".", ")"}
