"""Codes the classification never reports together: a document-level check after linking.

ICD-10-CM's Excludes1 notes say two conditions are never coded together ("R73 Elevated blood
glucose level — Excludes1: diabetes mellitus (E08-E13)"): when a note's selected codes hold
both, one of them says something the other contradicts, usually a generic code beside the
specific one ("hyperglycemia" R73.9 beside "DM2 with hyperglycemia" E11.65, "hemiplegia"
G81.90 beside I69.351).  The terminology build turns each note into ``excludes1`` crosswalk
rows (see :mod:`terminology.sources.icd10cm`); this module reads them once, when the stage is
built, and for each conflict deselects one code, which stays an unselected candidate whose
reason cites the note:

- the code whose note excludes the other, since the note sends its condition there;
- but the excluded code when the note calls it "NOS" (A41 "Sepsis" excludes "bacteremia NOS
  (R78.81)": the unspecified form goes), when it is a sign or symptom (chapter 18, R00-R99)
  beside a code of another chapter (guideline I.B.4-5: a symptom is not coded beside its
  established diagnosis), or when it is a personal history (Z85-Z87) beside a current
  condition (I.C.21.c.4: history codes are for conditions that no longer exist).

Excludes1 has an exception, conditions unrelated to each other (guideline I.A.12.a), which
the note must show: two signs (R06.00 dyspnea, R06.82 tachypnea) are never deselected, and a
sign or a history is deselected only in a sentence that names the other code's condition too
("Hypoglycemia in type 2 diabetic", "History of CVA with residual hemiparesis"); "leg edema"
sentences away from "pulmonary edema" keeps R60.0, "he quit smoking" its Z87.891.

When each of two codes loses by the other's note, the note that names the other's whole
category by its title decides ("Manic episode" F30 excludes "bipolar disorder (F31.-)", while
F31 excludes only "bipolar disorder, single manic episode (F30.-)": F30.9 goes beside F31.9).
When both notes do (E10 excludes "type 2 diabetes mellitus (E11.-)" and E11 "type 1 diabetes
mellitus (E10.-)"), neither code can be told right, and both are deselected: a wrong code is
worse than none.

A code whose title says it is "without complications" (E11.9) is also deselected beside
a selected code of the same condition "with" a complication (E11.621): the title contradicts
it.  When the excluded code's title says "without" a word of the holder's note, the excluded
code goes rather than the holder (unless the holder is a symptom): "I25.10 ... without
angina pectoris" beside the unstable angina I20.0, whose note reads "angina pectoris with
atherosclerotic heart disease ...", "K80.20 Calculus of gallbladder without cholecystitis"
beside K81.0.  Of a substance's use, abuse and dependence only the highest is kept
(guideline I.C.5.b.1: F10.20 beside F10.10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from note2fhir.coding.candidates import current, deselected, selected_icd
from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

EXCLUDES1 = "excludes1"
"""The crosswalk relation the terminology build gives an Excludes1 note."""

_NOS = re.compile(r"\bNOS[ \t]*\([^()]*\)[ \t]*$")
_WITHOUT_COMPLICATIONS = re.compile(r"\bwithout complications?\b", re.IGNORECASE)
_TERM = re.compile(r"[ \t]*\([^()]*\)[ \t]*$")
"""The bracket of codes at the end of a note ("type 2 diabetes mellitus (E11.-)")."""
_HISTORY = ("Z85", "Z86", "Z87")
"""Personal history categories (I.C.21.c.4)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """``loser`` is deselected because the note of ``source`` (``holder`` or an ancestor of
    it) excludes ``excluded``."""

    loser: str
    holder: str
    excluded: str
    source: str
    note: str


def _prefixes(code: str) -> list[str]:
    """The code and its ancestors in the tabular list: E11.649, E11.64, E11.6, E11."""
    out = [code]
    while len(code) > 3:  # a category has three characters
        code = code[:-1].rstrip(".")
        out.append(code)
    return out


def _symptom(code: str) -> bool:
    return code.startswith("R")


def _history(code: str) -> bool:
    return code.startswith(_HISTORY)


def _loser(
    holder: str, excluded: str, note: str, titles: dict[str, str], holder_past: bool = False
) -> str:
    """Which of two conflicting codes goes (see the module docstring); ``holder_past``: the
    holder's mentions are all historical, so no "without" title contradicts it ("CAD. Hx of
    unstable angina 2015" keeps I25.10 ... without angina pectoris)."""
    if _NOS.search(note):
        return excluded
    if _symptom(excluded) and not _symptom(holder):
        return excluded
    if _history(excluded) and not _history(holder):
        return excluded
    if not _symptom(holder) and not holder_past and _denies(titles.get(excluded, ""), note):
        return excluded  # "I25.10 ... without angina pectoris" beside the angina I20.0
    return holder


_WITHOUT_WORD = re.compile(r"\bwithout (\w+)", re.IGNORECASE)
_WORD = re.compile(r"\w+")


def _denies(title: str, note: str) -> bool:
    """Whether ``title`` says "without" what ``note`` names: K80.20 "Calculus of gallbladder
    without cholecystitis ..." beside a code whose note reads "cholecystitis with
    cholelithiasis (K80.-)"; not E11.649 "... with hypoglycemia without coma" beside E16.2's
    "diabetes with hypoglycemia (...)"."""
    denied = {m.group(1).lower() for m in _WITHOUT_WORD.finditer(title)}
    # a note that names a "without" code by its title says "without" too: not a word it names
    term = _WITHOUT_WORD.sub("", _TERM.sub("", note).lower())
    named = {_SAME_WORD.get(w, w) for w in _WORD.findall(term)}
    return bool(denied & named)


_SAME_WORD = {"hemorrhage": "bleeding"}
"""Words the titles and notes use for one thing (K57.90 "without bleeding", K92's note
"diverticular disease with hemorrhage")."""


_SUBSTANCE_RANK = {"2": 3, "1": 2, "9": 1}
"""Psychoactive substance use (F10-F19, subcategory .9), abuse (.1) and dependence (.2): the
higher of two in one note is coded alone (guideline I.C.5.b.1)."""


def _substance_outranks(code: str, other: str) -> bool:
    """Whether ``code`` outranks ``other``, a use, abuse or dependence code of the same
    substance (dependence over abuse over use: F10.20 beside F10.10), which I.C.5.b.1 codes
    alone."""
    if not (code.startswith("F1") and code[:3] == other[:3] and min(len(code), len(other)) > 4):
        return False
    return _SUBSTANCE_RANK.get(code[4], 0) > _SUBSTANCE_RANK.get(other[4], 0)


class CodeConflicts:
    """The release's Excludes1 notes, read once from the store, and the titles that say
    "without complications"."""

    def __init__(self, store: TerminologyStore) -> None:
        self.store = store
        self.excludes: dict[str, list[tuple[str, str]]] = {}
        for holder, target, note in store.relation(ICD10CM, EXCLUDES1):
            self.excludes.setdefault(holder, []).append((target, note or ""))
        self._plain: dict[str, bool] = {}
        self._titles: dict[str, str] = {}  # the titles of the codes met (at most the release's)

    def conflicts(self, codes: set[str], past: frozenset[str] = frozenset()) -> list[Conflict]:
        """The Excludes1 conflicts among ``codes``, one per (holder, excluded) pair, with the
        code each deselects.

        >>> # {"R73.9", "E11.65"} -> [Conflict("R73.9", "R73.9", "E11.65", "R73",
        >>> #                                   "diabetes mellitus (E08-E13)")]
        """
        out: list[Conflict] = []
        titles = {code: self._title(code) for code in codes}
        for code in sorted(codes):
            seen: set[str] = set()
            for prefix in _prefixes(code):
                for target, note in self.excludes.get(prefix, ()):
                    for other in sorted(codes):
                        if other == code or other in seen or not other.startswith(target):
                            continue
                        seen.add(other)
                        loser = _loser(code, other, note, titles, code in past)
                        out.append(Conflict(loser, code, other, prefix, note))
        return out

    def _decided(self, conflicts: list[Conflict]) -> list[Conflict]:
        """``conflicts`` less those a mutual conflict's other note decides (see the module
        docstring)."""
        own = {(c.holder, c.excluded): c for c in conflicts if c.loser == c.holder}
        out: list[Conflict] = []
        for c in conflicts:
            other = c.excluded if c.loser == c.holder else c.holder
            if _substance_outranks(c.loser, other):
                continue
            back = own.get((c.excluded, c.holder))
            if c.loser == c.holder and back is not None:
                mine, theirs = self._names_category(c), self._names_category(back)
                if theirs and not mine:
                    continue  # the other note names my whole category: it decides
            out.append(c)
        return out

    def _names_category(self, conflict: Conflict) -> bool:
        """Whether the note's excluded term is the title of the excluded code's category."""
        title = self._title(conflict.excluded[:3])
        term = _TERM.sub("", conflict.note).strip().lower()
        return bool(title) and term == title.strip().lower()

    def _title(self, code: str) -> str:
        title = self._titles.get(code)
        if title is None:
            title = self._titles[code] = self.store.title(ICD10CM, code) or ""
        return title

    def without_complications(self, code: str) -> bool:
        """Whether the title of ``code`` says "without complications" (E11.9, E10.9)."""
        found = self._plain.get(code)
        if found is None:
            found = self._plain[code] = bool(_WITHOUT_COMPLICATIONS.search(self._title(code)))
        return found

    def complication_of(self, code: str, other: str) -> bool:
        """Whether ``other`` is a complication of the condition that the "without
        complications" code names: its title is the same condition "with" something
        ("Type 2 diabetes mellitus without complications" → "Type 2 diabetes mellitus with
        foot ulcer"; not "Venous insufficiency" beside chronic venous hypertension)."""
        title, other_title = self._title(code), self._title(other)
        match = _WITHOUT_COMPLICATIONS.search(title)
        if match is None or _WITHOUT_COMPLICATIONS.search(other_title):
            return False
        stem = title[: match.start()].strip().lower()
        return other_title.lower().startswith(f"{stem} with ")

    def apply(self, doc: ClinicalDocument) -> None:
        """Deselect, on every current mention of ``doc``, the codes that contradict another
        selected code of the note."""
        coded = [(e, c) for e in doc.entities if current(e) and (c := selected_icd(e))]
        codes = {c.code for _, c in coded}
        if len(codes) < 2:  # a conflict needs two codes
            return
        where: dict[str, list[int | None]] = {}
        for entity, cand in coded:
            where.setdefault(cand.code, []).append(doc.sentence_at(entity.start))
        why: dict[tuple[str, int | None], str] = {}
        for code in sorted(codes):
            if self.without_complications(code):
                other = next(
                    (o for o in sorted(codes) if o != code and self.complication_of(code, o)),
                    None,
                )
                if other is not None:
                    for at in where[code]:
                        why[code, at] = (
                            f"deselected: its title says without complications, and the "
                            f"note's {other} names one"
                        )
        now = {c.code for e, c in coded if not e.assertion.historical}
        past = frozenset(codes - now)
        for conflict in self._decided(self.conflicts(codes, past)):
            loser = conflict.loser
            other = conflict.excluded if loser == conflict.holder else conflict.holder
            if _symptom(loser) and _symptom(other):
                continue  # two signs are coded apart, related or not (I.A.12.a)
            near = _symptom(loser) or _history(loser)
            for at in where[loser]:
                if (loser, at) in why or (near and at not in where[other]):
                    continue
                why[loser, at] = (
                    f'deselected beside {other}: Excludes1 of {conflict.source} "{conflict.note}"'
                )
        for entity, cand in coded:
            reason = why.get((cand.code, doc.sentence_at(entity.start)))
            if reason is not None:
                entity.codes = deselected(entity.codes, cand, reason)
