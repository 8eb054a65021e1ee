"""History codes: an acute event's code replaced by the code of its history when the note
speaks of it in the past ("S/P MI 1992" is I25.2 Old myocardial infarction, not I21.9).

The rules are data (``resources/history_codes.yaml``); each history code must be in the
terminology store, whose display is used, so no code or title is written here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from note2fhir.coding.candidates import first_of_each, icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

HISTORY_FILE = "history_codes.yaml"
_NOT_OLD = re.compile(
    r"\b(?:acute|new|evolving|recent|ongoing|active|recurrent|metastatic|stage\s+(?:iv|4)[abc]?)\b",
    re.IGNORECASE,
)
"""Words of the mention itself that say the event is not old."""
_OLD_CUE = re.compile(
    r"\b(?:history|hx|h\s*/\s*o|prior|previous|previously|old|remote|past|former|formerly|ex)\b",
    re.I,
)
"""Words of a historical trigger that make the event old, not just over."""
_GAP = re.compile(r"[ \t]{0,2}(?:in[ \t]{1,2})?")
_YEAR = re.compile(r"(?:\d{1,2}/)?(?:19|20)\d\d\b|['’]\d\d\b|\d{1,2}/(?:3[2-9]|[4-9]\d)\b")
"""A year: "1992", "'92", "7/1992"; or a month and a two-digit year no day can be: "7/81"
("2/21" may be a day, so it is not read as a year)."""


def _year_after(doc: ClinicalDocument, end: int) -> bool:
    """Whether a year stands right after working offset ``end`` ("MI 1992", "MI in 2004",
    "AMI '81"), also when de-identification masked it: a year alone is no identifier, so the
    original text under a masked date is read, and nothing of it leaves this function."""
    gap = _GAP.match(doc.text, end)
    at = gap.end() if gap else end
    if _YEAR.match(doc.text, at):
        return True
    for phi in doc.phi:
        if phi.start == at and phi.type == "DATE":
            start, stop = doc.original_span(phi.start, phi.end)
            return _YEAR.fullmatch(doc.original_text[start:stop].strip()) is not None
    return False


_CLAUSE_END = re.compile(r"\n|[.;](?:\s|$)")
_ITEM_END = re.compile(r"\n|[,;]|\.(?:\s|$)")
"""Where a list item ends: "Active smoker, history of breast cancer" speaks of two things."""
_DENIED = re.compile(r"\b(?:without|w/o|no|not|denies|free of)\s+(?:\w+\s+){0,2}$", re.I)


def _rest_of_sentence(doc: ClinicalDocument, end: int) -> str:
    """The text after working offset ``end`` up to the end of its sentence or line (at most
    80 characters)."""
    rest = doc.text[end : end + 80]
    cut = _CLAUSE_END.search(rest)
    return rest if cut is None else rest[: cut.start()]


def _unmasked_rest(doc: ClinicalDocument, end: int) -> str:
    """:func:`_rest_of_sentence` with each masked date or name read back from the original
    text ("s/p lumpectomy in 2012, NED", where de-identification masked the year and took
    "NED" for a name); the words are only matched against fixed lists, and nothing of them
    leaves this module."""
    rest = _rest_of_sentence(doc, end)
    stop = end + len(rest)
    out: list[str] = []
    at = end
    for phi in sorted(doc.phi, key=lambda p: p.start):
        if phi.start < at or phi.end > stop or phi.type not in ("DATE", "NAME"):
            continue
        start, finish = doc.original_span(phi.start, phi.end)
        out.append(doc.text[at : phi.start])
        out.append(doc.original_text[start:finish])
        at = phi.end
    out.append(doc.text[at:stop])
    return "".join(out)


_BEFORE = 40
"""How many characters before a mention are read for words that say it is not old."""


def _words_before(doc: ClinicalDocument, start: int) -> str:
    """The text of the mention's list item before working offset ``start`` (at most
    :data:`_BEFORE` characters): "history of *metastatic* breast cancer"."""
    before = doc.text[max(0, start - _BEFORE) : start]
    cuts = list(_ITEM_END.finditer(before))
    return before[cuts[-1].end() :] if cuts else before


def _after_cue(entity: Entity, doc: ClinicalDocument) -> str:
    """The words between the mention's historical cue and the mention ("history of
    *metastatic, ER-positive* breast cancer"), when the cue stands within
    :data:`_BEFORE` characters before it."""
    ends = [
        c.end
        for c in entity.assertion.cues
        if c.category == "historical" and c.end is not None and c.end <= entity.start
    ]
    if not ends or max(ends) < entity.start - _BEFORE:
        return ""
    return doc.text[max(ends) : entity.start]


def _says(
    pattern: re.Pattern[str] | None,
    text: str,
    over: Callable[[str, int, int], bool] | None = None,
) -> bool:
    """Whether ``pattern`` finds a word in ``text`` that no denial stands before ("with
    residual hemiparesis" says so; "without residual deficits" does not), and that ``over``,
    when given, does not say is over ("completed chemo 2015")."""
    if pattern is None:
        return False
    return any(
        not _DENIED.search(text, 0, m.start()) and not (over and over(text, m.start(), m.end()))
        for m in pattern.finditer(text)
    )


def _words(words: list[str]) -> re.Pattern[str]:
    """A pattern of any of ``words`` (or phrases), as whole words."""
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def _items(text: str) -> list[tuple[int, int]]:
    """The list items of ``text`` as (start, end) offsets: "s/p mastectomy, completed chemo
    2015" has two."""
    out: list[tuple[int, int]] = []
    start = 0
    for cut in _ITEM_END.finditer(text):
        out.append((start, cut.start()))
        start = cut.end()
    out.append((start, len(text)))
    return out


class _Over:
    """Whether a cancer's treatment, or the cancer itself, is said to be over."""

    def __init__(self, words: TreatmentOver) -> None:
        self.treatment = _words(words.treatments)
        self.done = _words(words.done)
        self.ongoing = _words(words.ongoing)
        suffixes = "|".join(re.escape(s) for s in words.removal_suffixes)
        self.removed = re.compile(
            rf"{_words(words.removals + words.treatments).pattern}|\b\w+(?:{suffixes})\b",
            re.IGNORECASE,
        )
        self.no_disease = _words(words.no_disease)

    def treatment_over(self, rest: str, start: int, end: int) -> bool:
        """Whether the treatment word at ``rest[start:end]`` is said to be over: a done word
        before it in its list item ("completed chemo", "s/p lumpectomy and radiation") or a
        year after it ("XRT 2010", "radiation (2008)"), and no word of the item that says it
        goes on ("completed cycle 2 of chemo")."""
        if not self.treatment.fullmatch(rest, start, end):
            return False
        item = next((a, b) for a, b in _items(rest) if a <= start and end <= b)
        if self.ongoing.search(rest, item[0], item[1]):
            return False
        return bool(self.done.search(rest, item[0], start)) or _dated(rest[end : item[1]])

    def removed_before(self, rest: str) -> tuple[bool, bool]:
        """Whether the list item right after a mention says it was removed or treated ("s/p
        hemicolectomy", "s/p lumpectomy and radiation"), and whether a year there dates it."""
        start, end = _items(rest)[0]
        done = self.done.search(rest, start, end)
        if done is None or self.ongoing.search(rest, start, end):
            return False, False
        if not self.removed.search(rest, done.end(), end):
            return False, False
        return True, _dated(rest[done.end() : end])

    def says_no_disease(self, rest: str) -> bool:
        """Whether the sentence says no disease is left ("NED", "no evidence of recurrence")."""
        return self.no_disease.search(rest) is not None


_YEAR_IN = re.compile(r"(?<![\w/])(?:\d{1,2}/)?(?:19|20)\d\d\b")


def _dated(text: str) -> bool:
    """Whether ``text`` holds a four-digit year ("2010", "in 2012", "(2008)", "7/2010")."""
    return _YEAR_IN.search(text) is not None


class HistoryRule(BaseModel):
    """Acute categories (code prefixes) and the code of their history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    acute: list[str]
    history: str
    excludes_note: str | None = None
    """The acute category's Excludes note that names the history code."""
    history_names: str | None = None
    """Or: words of the history code's own title or inclusion terms that name the acute
    condition (Z86.73 "Personal history of transient ischemic attack (TIA) ...")."""
    not_with: list[str] = []
    still_with: list[str] = []


class TreatmentOver(BaseModel):
    """Words that say a cancer's treatment is over (see ``history_codes.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    treatments: list[str]
    """The still_with words that are treatments, which a note can say are over."""
    done: list[str]
    """Words before a treatment that say it is over ("completed chemo", "s/p XRT")."""
    ongoing: list[str]
    """Words of a treatment's list item that say it goes on ("completed cycle 2 of chemo")."""
    removals: list[str]
    """Words that say a cancer was removed ("s/p resection")."""
    removal_suffixes: list[str]
    """Word endings that say so ("s/p mastectomy")."""
    no_disease: list[str]
    """Phrases that say no disease is left ("NED", "no evidence of recurrence")."""
    applies_to: list[str]
    """The history codes (prefixes) whose rules read these words: Z85, not Z87.891."""


class HistoryRules(BaseModel):
    """The contents of ``history_codes.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    treatment_over: TreatmentOver | None = None
    rules: list[HistoryRule]


def load_history_rules() -> HistoryRules:
    """The packaged history-code rules (validated; unknown keys are an error)."""
    return load_data_file(HISTORY_FILE, HistoryRules)


class HistoryCodes:
    """The rules whose history code the store knows, by acute prefix."""

    def __init__(self, rules: HistoryRules, store: TerminologyStore) -> None:
        self.by_prefix: dict[str, tuple[str, str, str]] = {}
        self.not_with: dict[str, re.Pattern[str]] = {}
        self.still_with: dict[str, re.Pattern[str]] = {}
        for rule in rules.rules:
            title = store.title(ICD10CM, rule.history)
            if title is None:
                continue  # an artifact without it: the acute code stays
            for prefix in rule.acute:
                why = (
                    f"{prefix} excludes {rule.excludes_note}"
                    if rule.excludes_note
                    else f"{rule.history} names {rule.history_names}"
                )
                self.by_prefix[prefix] = (rule.history, title, why)
                if rule.not_with:
                    self.not_with[prefix] = _words(rule.not_with)
                if rule.still_with:
                    self.still_with[prefix] = _words(rule.still_with)
        over = rules.treatment_over
        self.over = _Over(over) if over is not None else None
        self.over_codes = tuple(over.applies_to) if over is not None else ()

    def _prefix_of(self, code: str) -> str | None:
        """The longest rule prefix of ``code``: a category ("I21") or a code ("G45.9", so
        that G45.4 transient global amnesia is no TIA)."""
        for n in range(len(code), 2, -1):
            if code[:n] in self.by_prefix:
                return code[:n]
        return None

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with the history code selected in place of a selected acute code,
        when the mention is affirmed, historical and old by the note's own words: a year
        right after it ("S/P MI 1992", "AMI '81") or a cue that says so ("history of MI",
        "prior MI", "remote MI").  "S/P MI" alone, or "PMH: MI", may be weeks ago (an
        admission for the cath after an MI is still I21), so the acute code stays.  A cancer
        is also old when the item after it says it was removed or treated and a year dates
        it ("PMH: colon cancer s/p hemicolectomy 2010"), or the sentence says no disease is
        left ("Breast cancer s/p lumpectomy and radiation in 2012, NED"); a treatment the
        note says is over keeps no C code ("History of prostate cancer s/p radiation
        (2008)")."""
        a = entity.assertion
        if a.negated or a.uncertain or a.hypothetical or a.family:
            return entity.codes
        if not any(
            c.system == ICD10CM and c.selected and self._prefix_of(c.code) is not None
            for c in entity.codes
        ):
            return entity.codes  # most mentions: no code a history rule replaces
        if (
            _NOT_OLD.search(entity.text)
            or _NOT_OLD.search(_words_before(doc, entity.start))
            or _NOT_OLD.search(_after_cue(entity, doc))
        ):
            # "acute MI" left in a history section's scope, "history of metastatic breast
            # cancer"
            return entity.codes
        old_cue = any(
            c.category == "historical" and c.detail and _OLD_CUE.search(c.detail) for c in a.cues
        )
        old = a.historical and (old_cue or _year_after(doc, entity.end))
        rest = _rest_of_sentence(doc, entity.end)
        told = _unmasked_rest(doc, entity.end)  # read only for the words that say it is over
        removed, dated = self.over.removed_before(told) if self.over else (False, False)
        # the note's words say the cancer is over, though no cue calls it old
        over_by_words = removed and (
            (a.historical and dated) or (self.over is not None and self.over.says_no_disease(told))
        )
        if not old and not over_by_words:
            return entity.codes
        out: list[CodeCandidate] = []
        changed = False
        for cand in entity.codes:
            prefix = (
                self._prefix_of(cand.code)
                if cand.system == ICD10CM and cand.selected and not changed
                else None
            )
            if prefix is None:
                out.append(cand)
                continue
            code, display, note = self.by_prefix[prefix]
            reads_over = self.over is not None and code.startswith(self.over_codes)
            if not old and not reads_over:
                out.append(cand)
                continue
            still = (
                _says(self.still_with.get(prefix), told, self.over.treatment_over)
                if self.over is not None and reads_over
                else _says(self.still_with.get(prefix), rest)
            )
            if still:
                out.append(cand)  # "prior smoker, now smokes 3 a day": still going on
                continue
            # old, but with its sequelae: neither the history code nor the acute one holds
            sequelae = _says(self.not_with.get(prefix), rest)
            reason = (
                f"history of {cand.code}: the note speaks of it in the past, and "
                f"{note} [icd10cm:{code}]"
                + ("; not selected: the note names its sequelae" if sequelae else "")
            )
            out.append(icd_in_place_of(cand, code, display, reason, selected=not sequelae))
            out.append(replace(cand, selected=False))
            changed = True
        return first_of_each(out) if changed else out
