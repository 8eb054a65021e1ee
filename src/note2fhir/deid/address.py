"""Postal addresses: street lines in US and international forms, unit lines, PO and military
boxes, and the city, region, country and postcode lines that follow a street in an address
block.

A street line needs a shape no clinical phrase has: a house number beside a street-type word
("12 Timms Drive", "Villacher Strasse 89", "Rua do Arenque 1634", "Søndergade 52"), or a
number, a name that is no English or clinical word and a second number with a unit or an
address cue ("692 Kuuse 53 Apt. 641", "address: 5366 Pivovarská 276").  Only after a street
does a line of capitalised words count as a place ("\\n Brønderslev\\n Denmark 35018"), so a
manufacturer's "Munich, Germany" in a case report stays clean.

Every pattern has bounded repetitions only (linear time) and runs under the note's deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import regex

_FLAGS = regex.VERSION0
_CAP = r"\p{Lu}[\p{L}\p{M}'’-]{0,30}"
"""A capitalised (or upper-case) word: "Søndergade", "KNIVSTA", "Αλεξάνδρας"."""
_WORD = r"[\p{L}\p{M}][\p{L}\p{M}'’-]{0,30}"
_NUM = r"\d{1,5}[A-Za-z]?(?![\w/:-]|[.,]\d)\.?"
"""A house number ("52", "94.", "12B"), not the start of a value ("5.5", "3/4", "2-3")."""
_LEAD = r"(?<![\w.,/:-])(?:\d{1,6}[ \t]{1,2}){0,2}"
"""The number(s) before a street ("48334 36 rue de pologne": a postcode, then the house)."""
_UNIT = (
    r"(?:Apt|APT|Apartment|Suite|SUITE|Ste|Unit|UNIT|Floor|Fl|Room|Rm)\.?[ \t]{0,2}#?[ \t]?"
    r"\d{1,5}[A-Za-z]?\b"
)
_POSTCODE = (
    r"(?:\d{2,5}(?:[ -]\d{2,4})?|[A-Z]\d[A-Z][ ]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2})"
    r"(?![\w-])"
)
_LETTER_WORD = regex.compile(r"[\p{L}\p{M}][\p{L}\p{M}'’-]*")
_TWO_CAPITALS = regex.compile(r"(?<![\p{L}])\p{Lu}{2}(?![\p{L}])")
_ANY_CASE = frozenset({"unit", "military", "po-box"})
_CLAUSE_END = regex.compile(r"[ \t]*(?:[,;?!\n]|\.(?!\d)|$)")
_LINE_END = regex.compile(r"[ \t]*(?:\r?\n|$|[?!.,;:])")
_CUE_BEFORE = regex.compile(
    r"(?:\baddress(?:es)?\b[^\n]{0,30}|\b(?:at|to|on|in|is)[ \t]{1,3}|[:>?][ \t]{0,4}"
    r"|^[ \t]{0,8})$",
    regex.IGNORECASE | _FLAGS,
)


def _alternatives(items: Iterable[str]) -> str:
    ordered = sorted({regex.escape(w) for w in items}, key=len, reverse=True)
    return "(?:" + "|".join(ordered) + ")"


@dataclass(frozen=True, slots=True)
class AddressWords:
    """The street vocabulary of ``deid_rules.yaml`` and the checks of the caller's dictionaries."""

    street_types: Iterable[str]
    """After the street's name, the house number before it: "Street", "Ave", "Drive"."""
    rare_street_types: Iterable[str]
    """Street types that are also ordinary nouns ("Center", "Point", "Radial"): the street's
    name must then hold a word that is no English word."""
    street_words: Iterable[str]
    """After the street's name, the house number after it: "Strasse", "Gasse", "tér"."""
    street_suffixes: Iterable[str]
    """Ends of one-word street names: "-gade", "-vej", "-strasse", "-laan", "-katu"."""
    street_prefixes: Iterable[str]
    """Before the street's name: "Rua", "Via", "Piazza", "Avenida", "ul."."""
    lower_prefixes: Iterable[str]
    """The prefixes that are no English word, so count in lower case too ("rue de pologne")."""
    connectors: frozenset[str]
    """Small words inside street and place names: "Rua do Arenque", "Villa del Mar"."""
    countries: frozenset[str]
    is_word: Callable[[str], bool]
    """Is a lower-case token an English word?"""
    never: frozenset[str]
    """Clinical and function words that are never part of a street's name."""


class AddressFinder:
    """Street lines and the address blocks that open with them; built once with the detector."""

    def __init__(self, words: AddressWords) -> None:
        self.words = words
        # "Street", "street" and "St", not "ST" (the ECG segment in "SINUS TACH ST 100")
        types = _alternatives(
            v for w in words.street_types for v in (w.lower(), w[:1].upper() + w[1:].lower())
        )
        rare = _alternatives(
            v for w in words.rare_street_types for v in (w.lower(), w[:1].upper() + w[1:].lower())
        )
        self._rare_types = frozenset(w.lower() for w in words.rare_street_types)
        street_words = _alternatives(words.street_words)
        suffixes = _alternatives(words.street_suffixes)
        prefixes = _alternatives(words.street_prefixes)
        self._lower_prefixes = frozenset(p.lower() for p in words.lower_prefixes)
        unit_tail = r"(?:,?[ \t]{0,3}" + _UNIT + r")?"
        # "Søndergade 52", "4844 Strickstrasse 61", "Villacher Strasse 89", "Erzsébet tér 19."
        intl = regex.compile(
            _LEAD + r"(?P<n>(?:" + _CAP + r"\.?[ \t]{1,2}){0,2}\p{Lu}[\p{L}\p{M}'’-]{0,30}"
            r"(?i:"
            + suffixes
            + r")|(?:"
            + _CAP
            + r"[ \t]{1,2}){1,3}(?i:"
            + street_words
            + r"))[ \t]{1,2}"
            + _NUM
            + unit_tail,
            _FLAGS,
        )
        # "Rua do Arenque 1634", "ul. Więckowskiego Stefana 28"
        prefix_first = regex.compile(
            _LEAD
            + r"(?P<p>(?i:"
            + prefixes
            + r"))(?P<n>(?:[ \t]{1,2}"
            + _WORD
            + r"\.?){1,5}?)[ \t]{1,2}"
            + _NUM
            + unit_tail,
            _FLAGS,
        )
        # What every match of these two holds, up to its house number: a digit is found far
        # faster than every position is tried as the start of a street, so most notes skip them.
        self._needs: dict[regex.Pattern[str], regex.Pattern[str]] = {
            intl: regex.compile(
                r"(?<=(?i:" + suffixes + r"|" + street_words + r")[ \t]{1,2})\d", _FLAGS
            ),
            prefix_first: regex.compile(
                r"(?<=(?i:" + prefixes + r")(?:[ \t]{1,2}" + _WORD + r"\.?){1,5}[ \t]{1,2})\d",
                _FLAGS,
            ),
        }
        self._streets: list[tuple[str, regex.Pattern[str]]] = [
            # "12 Timms Drive", "2202 Rissik St Apt. 050", "159 Eleftheriou Venizelou str"
            (
                "street-type",
                regex.compile(
                    r"(?<![\w.,/:-])\d{1,6}[ \t]{1,3}(?:\d{1,5}[ \t]{1,2})?(?P<n>(?:"
                    + _CAP
                    + r"\.?[ \t]{1,3}){1,4})(?P<t>"
                    + types
                    + r"|"
                    + rare
                    + r")\b\.?"
                    + unit_tail,
                    _FLAGS,
                ),
            ),
            ("street-intl", intl),
            ("street-prefix", prefix_first),
            # "31 Rue tachkent St.", "846 31 Rue Al Imam Al Bakri, Cite Merzgui": the house
            # number before, the street's name up to the end of the clause
            (
                "street-prefix",
                regex.compile(
                    r"(?<![\w.,/:-])\d{1,6}[ \t]{1,2}(?:\d{1,5}[ \t]{1,2})?(?P<p>(?i:"
                    + prefixes
                    + r"))(?P<n>(?:[ \t]{1,2}"
                    + _WORD
                    + r"){1,5}?)(?:[ \t]{1,2}"
                    + types
                    + r"\b\.?)?(?=[ \t]*(?:[,\n]|\.?$|\.[ \t])|[ \t]{1,3}"
                    + _UNIT
                    + r")"
                    + unit_tail,
                    _FLAGS | regex.MULTILINE,
                ),
            ),
            # "692 Kuuse 53 Apt. 641", "address: 5366 Pivovarská 276"
            (
                "street-numbered",
                regex.compile(
                    r"(?<![\w.,/:-])\d{1,6}[ \t]{1,2}(?:\d{1,5}[ \t]{1,2})?(?P<n>(?:"
                    + _CAP
                    + r"[ \t]{1,2}){1,3})\d{1,5}[A-Za-z]?(?![\w/:-]|[.,]\d)(?:[ \t]{1,2}"
                    + types
                    + r"\b\.?)?(?P<u>,?[ \t]{0,3}"
                    + _UNIT
                    + r"|(?=[ \t]*\r?\n[ \t>?]{0,8}"
                    + _UNIT
                    + r"))?",
                    _FLAGS,
                ),
            ),
            # "the corner of Bygget 64 and Komel Club", "corner of 25 Dili Gianni Street and King
            # Forges": both streets
            (
                "intersection",
                regex.compile(
                    r"(?:\b(?i:the)[ \t])?\b(?i:corner)[ \t]of[ \t]{1,2}"
                    r"(?P<n>(?:\d{1,6}[ \t]{1,2})?"
                    r"(?:(?:ul\.|C/)[ \t]?)?(?:"
                    + _CAP
                    + r"\.?[ \t]{1,2}){0,3}"
                    + _CAP
                    + r"(?:[ \t]{1,2}\d{1,5}\.?)?(?:[ \t]{1,2}(?:"
                    + types
                    + r"|"
                    + rare
                    + r")\b\.?)?[ \t]{1,2}(?:and|&)[ \t]{1,2}(?:"
                    + _CAP
                    + r"[ \t]{1,2}){0,2}"
                    + _CAP
                    + r"(?:[ \t]{1,2}(?:"
                    + types
                    + r")\b\.?)?)",
                    _FLAGS,
                ),
            ),
            # "Apt. 675" alone
            (
                "unit",
                regex.compile(
                    r"(?<![\w.])(?:Apt|APT|Apartment|Suite|SUITE)\.?[ \t]{0,2}#?\d{1,5}[A-Za-z]?\b",
                    _FLAGS,
                ),
            ),
            # "USNS Sekerková\nFPO AA 65728", "PSC 1234, Box 5678\nAPO AE 09876"
            (
                "military",
                regex.compile(
                    r"\b(?:(?:USS|USNS|USNV|USCGC)[ \t]{1,2}"
                    + _CAP
                    + r"(?:[ \t]"
                    + _CAP
                    + r"){0,2}"
                    r"|(?:PSC|CMR|Unit)[ \t]{1,2}\d{3,5},?[ \t]{1,2}Box[ \t]{1,2}\d{1,5})"
                    r",?\s{1,4}(?:APO|FPO|DPO)[ \t]{1,2}A[AEP][ \t]{1,2}\d{5}\b",
                    _FLAGS,
                ),
            ),
            (
                "po-box",
                regex.compile(
                    r"(?i:\b(?:p\.?[ \t]?o\.?|post[ \t]office)[ \t]{0,3}box)[ \t]{0,3}#?\d{1,8}\b",
                    _FLAGS,
                ),
            ),
        ]
        # a full stop only after the last word: "OULU NO. I now live ..." ends at "NO."
        place = (
            _CAP
            + r"(?:[ \t]{1,2}(?:"
            + _CAP
            + r"|"
            + _alternatives(self.words.connectors)
            + r"(?![\p{L}\p{M}'’-])))"
        )
        place += r"{0,3}\.?(?:[ \t]\(\p{L}{1,20}\))?"
        self._segment = regex.compile(
            r"(?P<sep>[ \t]{0,3},[ \t]{0,3}|[ \t]*\r?\n(?:[ \t>?]*\r?\n)?[ \t>?]{0,8}|[ \t]{1,3})"
            r"(?P<body>(?P<unit>"
            + _UNIT
            + r")|(?P<place>"
            + place
            + r")(?P<code>[ \t,]{1,3}"
            + _POSTCODE
            + r")?|(?P<post>"
            + _POSTCODE
            + r"))",
            _FLAGS,
        )

    def find(
        self,
        text: str,
        upper: bool,
        run: Callable[[regex.Pattern[str], str], Iterator[regex.Match[str]]],
    ) -> Iterator[tuple[int, int, str]]:
        """(start, end, rule) of the addresses of ``text``; ``run`` iterates a pattern's
        matches under the note's deadline.  In a note mostly in capitals only the boxes and
        unit lines count ("SINUS TACH ST 100" has the shape of a street)."""
        for rule, pattern in self._streets:
            if upper and rule not in _ANY_CASE:
                continue
            need = self._needs.get(pattern)
            if need is not None and next(run(need, text), None) is None:
                continue
            for m in run(pattern, text):
                if self._street_ok(text, m, rule):
                    yield m.start(), self._block_end(text, m.end()), rule

    def _street_ok(self, text: str, m: regex.Match[str], rule: str) -> bool:
        if rule in _ANY_CASE or rule == "intersection":
            return True
        w = self.words
        raw = [t for t in _LETTER_WORD.findall(m.group("n")) if t not in {"and", "C"}]
        names = [t.lower() for t in raw]
        if any(low in w.never and low not in w.connectors for low in names):
            return False
        if rule == "street-prefix":
            prefix = m.group("p")
            if prefix.islower() and prefix.lower() not in self._lower_prefixes:
                return False
            named = [(t, low) for t, low in zip(raw, names, strict=True) if low not in w.connectors]
            # "Via PEG 2": an abbreviation or an English word is no street's name
            return (
                bool(named)
                and not any(t.isupper() and len(t) <= 4 for t, _ in named)
                and not all(w.is_word(low) and low not in w.countries for _, low in named)
            )
        if rule == "street-type" and m.group("t").lower() in self._rare_types:
            # "Sieda Radial", "Philip Bypass", not "2 Medical Center"
            return any(not w.is_word(low) for low in names)
        if rule != "street-numbered":
            return True
        if any(w.is_word(low) for low in names):
            return False
        if m.group("u") is not None:
            return True
        # without a unit: an address cue before it and the end of a clause after it
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[max(line_start, m.start() - 60) : m.start()]
        if _CUE_BEFORE.search(before) is None:
            return False
        return _CLAUSE_END.match(text, m.end()) is not None

    def _block_end(self, text: str, end: int) -> int:
        """Where the address that opens with a street ending at ``end`` ends: its unit, city,
        region, country and postcode, on the same line or the lines below (at most six)."""
        for _ in range(6):
            m = self._segment.match(text, end)
            if m is None or not self._segment_ok(text, m):
                break
            end = m.end()
        return end

    def _segment_ok(self, text: str, m: regex.Match[str]) -> bool:
        sep = m.group("sep")
        newline = "\n" in sep
        if m.group("unit"):
            return True
        if m.group("post"):
            # a bare postcode only on its own line or after a comma
            return newline or "," in sep
        w = self.words
        lows = [t.lower() for t in _LETTER_WORD.findall(m.group("place"))]
        country = " ".join(lows) in w.countries or (
            len(lows) == 2 and lows[0] in w.countries  # "Cyprus (Greek)"
        )
        if country:
            return True
        codes = _TWO_CAPITALS.findall(m.group("place"))
        if any(low in w.never and low.upper() not in codes for low in lows):
            return False
        if newline:
            # a line of its own: nothing of a sentence after it
            return _LINE_END.match(text, m.end()) is not None
        return any(not w.is_word(low) for low in lows if low not in w.connectors)
