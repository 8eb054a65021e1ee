"""Context checks that keep dictionary matches honest: ambiguous abbreviations need support,
short and stop-word matches are refused, acronyms must be written as acronyms."""

from __future__ import annotations

import re
from bisect import bisect_right

from note2fhir.document import ClinicalDocument, Section
from note2fhir.extract.lexicon import AmbiguityRule, ClinicalLexicon
from note2fhir.extract.words import Word, is_upper_written


class SectionLookup:
    """The section at an offset in logarithmic time (a long note has many headings)."""

    def __init__(self, sections: list[Section]) -> None:
        self.sections = sorted(sections, key=lambda s: s.start)
        self.starts = [s.start for s in self.sections]

    def at(self, offset: int) -> Section | None:
        """The section that contains ``offset``, if any."""
        i = bisect_right(self.starts, offset) - 1
        if i >= 0 and offset < self.sections[i].end:
            return self.sections[i]
        return None

    def in_heading(self, offset: int) -> bool:
        """Whether ``offset`` lies in a section heading ("PE:", "Assessment and Plan")."""
        section = self.at(offset)
        return section is not None and offset < section.heading_end


def followed_by_colon(doc: ClinicalDocument, end: int) -> bool:
    """Whether the mention is a label: "PE: normal", "MS: A&Ox3"."""
    pos = end
    text = doc.text
    while pos < len(text) and pos < end + 3 and text[pos] in " \t":
        pos += 1
    return pos < len(text) and text[pos] == ":"


_MEASURED = re.compile(
    r"(?:['’]?s)?[ \t]{0,2}(?:[:=<>~≥≤]+|to|of|at|in|around|about|approx\.?)?[ \t]{0,2}\d",
    re.IGNORECASE,
)


_GRADE = re.compile(r"[ \t]{1,2}([0-9]+|[ivx]+)\b(?![ \t]{0,2}(?:mg|mcg|g|tab|tabs)\b)", re.I)
"""The token right after a mention when it may be a grade: "ASA 2", "ASA III" (not "ASA 1
tab")."""


def followed_by_number(doc: ClinicalDocument, end: int) -> bool:
    """Whether a number follows the mention: a measurement, not a disease ("VT 360" tidal
    volume, "PAD 22-26" pulmonary artery diastolic pressure, "RA's 10-14", "VT >350",
    "decrease her VT to 650")."""
    return _MEASURED.match(doc.text, end) is not None


def nearby_words(words: list[Word], first: int, last: int, window: int) -> set[str]:
    """Normalised words (and adjacent pairs, "r o", "v q") within ``window`` words of the
    mention ``words[first:last]`` in its sentence."""
    sentence = words[first].sentence
    found: set[str] = set()
    lo = max(0, first - window)
    hi = min(len(words), last + window)
    previous: str | None = None
    for i in range(lo, hi):
        word = words[i]
        if word.sentence != sentence or first <= i < last:
            previous = None
            continue
        found.add(word.text)
        if previous is not None:
            found.add(f"{previous} {word.text}")
        previous = word.text
    return found


def ambiguous_verdict(
    doc: ClinicalDocument,
    words: list[Word],
    first: int,
    last: int,
    norm: str,
    lexicon: ClinicalLexicon,
    sections: SectionLookup,
    *,
    capitals_mean_nothing: bool,
) -> tuple[bool, str]:
    """Whether an ambiguous abbreviation at ``words[first:last]`` keeps its dictionary meaning,
    and why.

    >>> # "PE: clear lungs" in a physical exam section → (False, "section physical_exam")
    >>> # "CTA negative for PE" → (True, "supporting word 'cta'")
    """
    rules = lexicon.ambiguous
    rule = rules.rules.get(norm, AmbiguityRule())
    start, end = words[first].start, words[last - 1].end
    if sections.in_heading(start):
        return False, "section heading"
    nearby = nearby_words(words, first, last, rules.window)
    support = sorted(nearby.intersection(rule.support))
    if support:
        return True, f"supporting word '{support[0]}'"
    if rule.needs_support:
        if rule.note_support and not nearby.intersection(rule.against):
            in_note = sorted({w.text for w in words}.intersection(rule.note_support))
            if in_note:
                return True, f"supporting word '{in_note[0]}' in the note"
        return False, "no supporting word"
    section = sections.at(start)
    against_sections = (
        rule.against_sections
        if rule.against_sections is not None
        else rules.default_against_sections
    )
    if section is not None and section.name in against_sections:
        return False, f"section {section.name}"
    if followed_by_colon(doc, end):
        return False, "written as a label"
    if rule.against_number and followed_by_number(doc, end):
        return False, "a number follows"
    if rule.against_grades:
        grade = _GRADE.match(doc.text, end)
        if grade is not None and grade.group(1).lower() in rule.against_grades:
            return False, "a grade follows"
    against = sorted(nearby.intersection(rule.against))
    if against:
        return False, f"word '{against[0]}' nearby"
    if not capitals_mean_nothing and is_upper_written(doc.text[start:end]):
        return True, "written in capitals"
    if rule.keep_by_default:
        return True, "no opposing context"
    return False, "no supporting context"


def single_word_allowed(
    written: str, norm: str, lexicon: ClinicalLexicon, *, capitals_mean_nothing: bool
) -> bool:
    """Whether a one-word store match may stand alone: never a stop term; a short word only
    when written in capitals (in mixed-case text) or a known lower-case abbreviation."""
    if norm in lexicon.stop_terms:
        return False
    if len(norm) >= lexicon.min_lowercase_single:
        return True
    if norm in lexicon.lowercase_abbreviations:
        return True
    return is_upper_written(written) and not (capitals_mean_nothing and len(norm) <= 2)


def acronym_allowed(term: str, written: str, *, capitals_mean_nothing: bool) -> bool:
    """A store name written as an acronym ("ALL", "CAP") only matches text written in
    capitals too; in an ALL CAPS note capitals say nothing, so it passes."""
    letters = [ch for ch in term if ch.isalpha()]
    if not letters or len(letters) > 4 or not all(ch.isupper() for ch in letters):
        return True
    return capitals_mean_nothing or is_upper_written(written)
