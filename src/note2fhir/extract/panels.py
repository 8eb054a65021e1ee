"""Test results written after disease names: "HIV was negative", "COVID/flu negative",
"COVID and flu negative", "Flu A/B pending".  Such a name is the name of its test, not the
disease: a negative result refutes nothing the note asserted, and a panel's one result cannot
say which of its names it belongs to.  A positive result or a status (pending, ordered) makes
tests only of names every one of which is a panel name (``panel_names`` in the lexicon):
"Sepsis/bacteremia, positive blood cultures" keeps the sepsis, "pneumonia and HIV negative"
the pneumonia."""

from __future__ import annotations

import re
from collections.abc import Set

_NEGATIVE_RESULT = re.compile(
    r"(?:[ \t]{1,2}(?:type[ \t])?(?:a|b|a/b|a[ \t]and[ \t]b)\b)?"  # "Influenza A negative"
    r"[ \t]{0,2}(?:(?:was|were|is|are|came[ \t]back|returned|tested)[ \t]{1,2})?"
    r"(?:negative|neg\b|non-?reactive|\([ \t]?-[ \t]?\))(?![ \t]{0,2}(?:for|to)\b)",
    re.IGNORECASE,
)
"""A negative result right after a problem name: the name is that of its test ("HIV was
negative"); a positive one may state the disease, so it stays, and "the tumor was negative for
ER" speaks of a stain of the tumor."""
_PANEL_ITEM = r"[A-Za-z][\w-]{0,15}(?:[ \t][A-E]\b)?(?:/[A-Za-z]{1,4}\b)?"
_TEST_WORDS = (
    r"(?:[ \t]{1,2}(?:rapid[ \t]{1,2})?"
    r"(?:swab|pcr|test|antigen|screen|screening|assay|panel)s?)?"
)
_POSITIVE = (
    r"(?:(?:was|were|is|are|came[ \t]back|returned)[ \t]{1,2})?"
    r"(?:positive|pos\b|detected|reactive)"
)
_STATUS = r"(?:pending|ordered|collected|drawn)\b"
_SLASH_PANEL = re.compile(
    r"(?:[ \t][AB]\b)?(?P<members>(?:[ \t]?/[ \t]?"
    + _PANEL_ITEM
    + r"){1,8})"
    + _TEST_WORDS
    + r"[ \t]{0,2}:?(?:(?P<negative>"
    + _NEGATIVE_RESULT.pattern
    + r")|[ \t]{0,2}(?:"
    + _POSITIVE
    + "|"
    + _STATUS
    + "))",
    re.IGNORECASE,
)
"""A name in a slash list of tests with one result: "COVID/flu negative", "Flu/COVID swab
negative", "COVID/flu A/flu B/RSV negative", "COVID/flu/RSV swab: positive for RSV",
"Flu/COVID pending".  A negative result makes every name a test; a positive one or a status
only a list of panel names ("Sepsis/bacteremia, positive blood cultures" is no panel)."""
_STATUS_TAIL = re.compile(_TEST_WORDS + r"[ \t]{0,2}:?[ \t]{0,2}" + _STATUS, re.IGNORECASE)
"""A test still to come after a panel name: "COVID pending", "Flu swab ordered"."""
_PANEL_TAIL = re.compile(
    _TEST_WORDS + r"[ \t]{0,2}:?[ \t]{0,2}(?:" + _POSITIVE + "|" + _STATUS + ")", re.IGNORECASE
)
_SLASH_BEFORE = re.compile(r"(?P<member>[A-Za-z][\w-]{1,15}(?:[ \t][AB])?)[ \t]?/[ \t]?$")
"""The member before the last name of a slash list ("w/" and "s/p" are no members)."""
_JOINED_LIST = re.compile(
    r"(?:[ \t][AB]\b)?((?:[ \t]{0,2}(?:,|&|and|,[ \t]{0,2}and)[ \t]{1,2}" + _PANEL_ITEM + r"){1,6})"
    r"(?:[ \t]{1,2}(?:all|both))?"
    + _TEST_WORDS
    + r"[ \t]{0,2}:?(?:"
    + _NEGATIVE_RESULT.pattern
    + r"|[ \t]{0,2}(?:(?:were|are|was|is)[ \t]{1,2})?"
    + _STATUS
    + ")",
    re.IGNORECASE,
)
"""A list joined by commas or "and" before one negative result or a status: "COVID and flu
negative", "COVID, flu, RSV all negative", "Flu and strep tests ordered"; read as tests only
when every item is a panel name."""
_JOIN_WORDS = re.compile(r"[,&]|\band\b", re.IGNORECASE)


_ASSAY_RESULT = re.compile(
    r"[ \t-]{0,2}(?:1/2|1|2)?[ \t-]{0,2}(?:ab|ag|antibody|antigen)"
    r"(?:[ \t]{0,2}/[ \t]{0,2}(?:ab|ag|antibody|antigen))*"
    r"(?:[ \t]{1,2}(?:test|screen|combo))?[ \t]{0,2}:?[ \t]{0,2}(?:(?:was|is)[ \t]{1,2})?"
    r"(?:negative|neg\b|non-?reactive|positive|pos\b|reactive)",
    re.IGNORECASE,
)
"""An antibody or antigen assay's result after its disease: "HIV 1/2 Ab negative", "HIV
Ag/Ab neg", "HCV Ab positive" (an antibody, or a screen, states no infection)."""


def names_its_test(text: str, start: int, end: int, panel: Set[str]) -> bool:
    """Whether the name at ``text[start:end]`` names its test by the result or status after
    it (``panel``: lower-case names of tests run together)."""
    if _NEGATIVE_RESULT.match(text, end) or _ASSAY_RESULT.match(text, end):
        return True
    name = text[start:end].lower()
    if name in panel and _STATUS_TAIL.match(text, end):
        return True
    found = _SLASH_PANEL.match(text, end)
    if found is not None:
        if found.group("negative"):
            return True
        members = [x.strip().lower() for x in found.group("members").split("/")]
        return name in panel and all(x in panel for x in members if x)
    before = _SLASH_BEFORE.search(text, max(0, start - 20), start)
    if before is not None and _PANEL_TAIL.match(text, end):
        return name in panel and before.group("member").lower() in panel
    return _joined_panel(text, end, name, panel)


def _joined_panel(text: str, end: int, name: str, panel: Set[str]) -> bool:
    """Whether a name opens a list of panel names joined by commas or "and" before one
    negative result or a status ("COVID and flu negative")."""
    if name not in panel:
        return False
    found = _JOINED_LIST.match(text, end)
    if found is None:
        return False
    items = [i.strip().lower() for i in _JOIN_WORDS.split(found.group(1)) if i.strip()]
    # a bare type letter belongs to the name before it ("Influenza A, B and RSV", "Hepatitis
    # B and C negative")
    return bool(items) and all(i in panel or i in _TYPE_LETTERS for i in items)


_TYPE_LETTERS = frozenset("abcde")
