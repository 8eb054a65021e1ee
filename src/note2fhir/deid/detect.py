"""PHI detection: rules, dictionaries and context over one note.

Every pattern is compiled with the ``regex`` module and run with a deadline, so a pathological
note raises :class:`DeidTimeoutError` instead of hanging (the stage turns that into a catalogue
error; PHI is never passed through).  Patterns are written to be linear anyway: bounded
repetitions, no nested unbounded quantifiers.

Types (as in the PhysioNet deid gold where one exists): NAME, DATE, AGE, PHONE, EMAIL, URL,
IP, ID (MRN, SSN, account, licence, device, plan, vehicle numbers), LOCATION (street, city,
state, ZIP), HOSPITAL (hospital and facility names).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import regex

from note2fhir.deid.address import AddressFinder, AddressWords
from note2fhir.deid.lexicons import DeidRules, Lexicons
from note2fhir.deid.open_text import OpenTextNames
from note2fhir.deid.organisations import Organisations
from note2fhir.deid.tokens import TOKEN as _TOKEN
from note2fhir.deid.tokens import Tok as _Tok
from note2fhir.deid.tokens import after_cues as _after_cues
from note2fhir.deid.tokens import base as _base
from note2fhir.deid.tokens import cues_by_last_word as _cues_by_last_word
from note2fhir.deid.tokens import gap as _gap
from note2fhir.deid.tokens import same_line as _same_line
from note2fhir.deid.tokens import style as _style
from note2fhir.deid.tokens import unpossessed as _unpossessed

PHI_TYPES = (
    "NAME",
    "DATE",
    "AGE",
    "PHONE",
    "EMAIL",
    "URL",
    "IP",
    "ID",
    "LOCATION",
    "HOSPITAL",
)
"""Every PHI type the detector assigns."""

_PRIORITY = {
    t: i
    for i, t in enumerate(
        ("EMAIL", "URL", "IP", "ID", "PHONE", "DATE", "AGE", "HOSPITAL", "LOCATION", "NAME")
    )
}


class DeidTimeoutError(Exception):
    """The per-note time budget ran out (the caller fails the document)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """A PHI span of the text, its type and the rule that found it (for explanations)."""

    start: int
    end: int
    type: str
    rule: str


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_FLAGS = regex.IGNORECASE | regex.VERSION0
_PHONE_GROUPS = r"(?:(?:[ .-]{1,2}|(?<=\))|[ ]?(?=\())(?:\(0?\d{1,4}\)|\d{1,8})){0,6}"
_PHONE_VALUE = r"(?:\+[ ]?\d{1,15}|\(\+?\d{1,4}\)|\d{1,15})" + _PHONE_GROUPS
"""A phone number in any national format: groups of digits parted by spaces, dots or dashes,
with a country code or an area code in brackets ("+41 (0)96 471 07 95", "(08) 8747 6301")."""
_ID_GAP = r"\s{0,3}(?:(?:#|no\.?|number|num|:|(?:is|was)\b)\s{0,3}){0,3}"
"""Between an identifier's cue and its value: "MRN # 123", "member number is A123"."""
_PHONE_RULES = frozenset({"phone-lead", "phone-label", "phone-plus"})
"""Phone rules whose number must hold 7 to 15 digits (checked after the match)."""
_EVENTS = (
    "mi", "nqwmi", "qwmi", "imi", "ami", "nstemi", "stemi", "cva", "tia", "cabg", "ptca", "pci",
    "avr", "mvr", "chf", "dvt", "pe", "stent", "stents", "turp", "appy", "chole", "tah", "bka",
    "aka", "fx", "afib",
)  # fmt: skip
"""Past events after which a two-digit number on a history line is a year ("MI 92")."""


class _Need:
    """A short pattern that every match of a costlier one holds ("::" in an IPv6 address);
    with ``lower`` it is searched in the lower-cased note, for a pattern that ignores case."""

    __slots__ = ("lower", "pattern")

    def __init__(self, pattern: str, *, lower: bool = False) -> None:
        self.pattern = regex.compile(pattern, regex.VERSION0)
        self.lower = lower


def _words(items: Iterable[str]) -> str:
    ordered = sorted({regex.escape(w) for w in items}, key=len, reverse=True)
    return "(?:" + "|".join(w.replace(r"\ ", r"\s+") for w in ordered) + ")"


@dataclass
class Detector:
    """Finds PHI in a note; built once per process from the rules and dictionaries."""

    rules: DeidRules
    lex: Lexicons
    protected: frozenset[str] = frozenset()
    eponym_pairs: frozenset[str] = frozenset()
    """Two-word openings of eponymous terms ("gaucher cells", "glasgow coma"): see
    :func:`~note2fhir.deid.lexicons.terminology_eponyms`."""
    _sets: dict[str, frozenset[str]] = field(default_factory=dict, init=False)
    _patterns: list[tuple[str, str, regex.Pattern[str]]] = field(default_factory=list, init=False)
    _needs: dict[str, tuple[_Need, ...]] = field(default_factory=dict, init=False)
    _facility_pairs: frozenset[str] = field(default=frozenset(), init=False)
    _facility_pair_first: frozenset[str] = field(default=frozenset(), init=False)
    _place_first: frozenset[str] = field(default=frozenset(), init=False)
    _country_first: frozenset[str] = field(default=frozenset(), init=False)
    _phrase_cue_last: frozenset[str] = field(default=frozenset(), init=False)
    _eponym_first: frozenset[str] = field(default=frozenset(), init=False)
    _name_cues_by_last: dict[str, tuple[tuple[str, ...], ...]] = field(
        default_factory=dict, init=False
    )
    _employer_last: frozenset[str] = field(default=frozenset(), init=False)
    _addresses: AddressFinder | None = field(default=None, init=False)
    _open: OpenTextNames | None = field(default=None, init=False)
    _orgs: Organisations | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        r = self.rules
        for name in (
            "titles",
            "credentials",
            "relatives",
            "roles",
            "person_cues",
            "not_names",
            "value_after",
            "value_before",
            "value_context",
            "facility_prefixes",
            "not_hospitals",
            "not_facility_before",
            "not_facility_after",
            "eponym_heads",
            "bare_eponyms",
            "ordinal_counted",
        ):
            self._sets[name] = frozenset(w.lower() for w in getattr(r, name))
        self._sets["to_from"] = frozenset({"to", "from", "into", "at"})
        self._sets["employer_cues"] = frozenset(
            " ".join(w.lower().split()) for w in r.employer_cues
        )
        self._employer_last = frozenset(w.rsplit(" ", 1)[-1] for w in self._sets["employer_cues"])
        # ventilator words ("Psv", "Cpap") and ethnicities are never names either
        self._sets["not_names"] |= self._sets["value_context"]
        self._sets["not_names"] |= frozenset(w.lower() for w in r.ethnicity_words)
        self._orgs = Organisations(
            r.organisation_words,
            self.lex.countries | frozenset(c.lower() for c in r.citation_countries),
            self.lex.states,
            self.lex.state_codes,
        )
        self._sets["facility_verbs"] = frozenset(w.lower() for w in r.facility_verbs)
        self._sets["facility_single"] = frozenset(w for w in r.facility_words if " " not in w)
        self._facility_pairs = frozenset(w for w in r.facility_words if w.count(" ") == 1)
        self._facility_pair_first = frozenset(w.split()[0] for w in self._facility_pairs)
        # first words of the city and state names: most tokens start none
        self._place_first = frozenset(
            name.split(" ", 1)[0] for name in self.lex.cities | self.lex.states
        )
        self._phrase_cue_last = frozenset(
            c.split()[-1].lower() for c in r.location_cues if " " in c
        )
        self._country_first = frozenset(c.split(" ", 1)[0] for c in self.lex.countries)
        # the first words of the pairs, also with a possessive ending ("bowen's")
        firsts = {p.split(" ", 1)[0] for p in self.eponym_pairs}
        self._eponym_first = frozenset(
            firsts | {f + "'s" for f in firsts} | {f + "’s" for f in firsts}
        )
        self._hospital_ends = tuple(sorted({e.upper() for e in r.hospital_abbreviation_ends}))
        self.protected = self.protected | frozenset(w.lower() for w in r.protected)
        self._name_cues_by_last = _cues_by_last_word(r.name_cues)
        self._addresses = AddressFinder(
            AddressWords(
                street_types=r.street_types,
                rare_street_types=r.rare_street_types,
                street_words=r.street_words,
                street_suffixes=r.street_suffixes,
                street_prefixes=r.street_prefixes,
                lower_prefixes=r.street_lower_prefixes,
                connectors=frozenset(w.lower() for w in r.street_connectors),
                countries=self.lex.countries,
                is_word=self.common,
                never=self._sets["not_names"] | self.protected,
            )
        )
        self._open = OpenTextNames(self)
        month = _MONTH
        self._patterns = [
            (
                "EMAIL",
                "email",
                regex.compile(
                    r"(?<![\w.+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}",
                    _FLAGS,
                ),
            ),
            ("URL", "url", regex.compile(r"\b(?:https?://|www\.)[^\s<>\"']{1,2000}", _FLAGS)),
            (
                "IP",
                "ipv4",
                regex.compile(
                    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
                ),
            ),
            ("ID", "ssn", regex.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")),
            (
                "PHONE",
                "phone",
                regex.compile(
                    r"(?<![\w/])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]|\d{3}/(?=\d{3}/))\d{3}[\s./-]\d{4}"
                    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w/])",
                    _FLAGS,
                ),
            ),
            (
                "PHONE",
                "phone-cue",
                regex.compile(
                    r"\b" + _words(r.phone_cues) + r"\s{0,3}(?:[:#.]\s{0,3}){0,2}(?:#\s{0,2})?"
                    r"(?P<v>\d{3}[\s.-]\d{4}|\d{4,5})(?![\d/.:]|\s?(?:mg|ml|cc|units?|u)\b)",
                    _FLAGS,
                ),
            ),
            (
                "PHONE",
                "phone-lead",
                regex.compile(
                    r"\b" + _words(r.phone_lead_cues) + r"\s{0,3}(?:[:#.]\s{0,3}){0,2}"
                    r"(?:(?:is|at|on)[ \t]{1,3})?(?P<v>" + _PHONE_VALUE + r")(?![\w+-]|\.\d)",
                    _FLAGS,
                ),
            ),
            (
                "PHONE",
                "phone-label",
                regex.compile(
                    r"(?:^|(?<=[,;\\]))[ \t>]{0,3}(?P<v>"
                    + _PHONE_VALUE
                    + r")[ \t]?-?[ \t]?"
                    + _words(r.phone_labels)
                    + r"\b",
                    _FLAGS | regex.MULTILINE,
                ),
            ),
            (
                "PHONE",
                "phone-plus",  # "+46 (0)8 928 571 38", "+447700 921 916"
                regex.compile(r"(?<![\w+])\+[ ]?\d{1,15}" + _PHONE_GROUPS + r"(?![\w-]|\.\d)"),
            ),
            (
                "ID",
                "id-cue",
                regex.compile(
                    r"\b"
                    + _words(r.id_cues)
                    + _ID_GAP
                    + r"(?P<v>(?=[A-Za-z0-9-]{0,20}\d)[A-Za-z0-9][A-Za-z0-9-]{3,24})\b",
                    _FLAGS,
                ),
            ),
            # a full stop after the number ends the sentence ("I have lost my card 4574...61.")
            ("ID", "long-number", regex.compile(r"(?<![\d.,/])\d{7,40}(?![\d,/]|\.\d)")),
            (
                "ID",
                "iban",  # kept only when its ISO 13616 mod-97 check digits hold (_iban_end)
                regex.compile(
                    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}"
                    r"(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])"
                ),
            ),
            (
                "IP",
                "ipv6",
                regex.compile(
                    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
                    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6})(?![\w:])"
                ),
            ),
            (
                "ID",
                "vin",
                regex.compile(
                    r"\b(?=[A-HJ-NPR-Z0-9]{0,16}\d)(?=[A-HJ-NPR-Z0-9]{0,16}[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b"
                ),
            ),
            (
                "AGE",
                "age-90",
                regex.compile(
                    r"\b(?:ages?|aged)\s{0,3}(?P<v>9\d|1[0-2]\d)\b|\b(?P<v>9\d|1[0-2]\d)\s?-?\s?"
                    r"(?:yo|y/o|y\.o\.?|yrs?|years?)\b(?:\s?-?\s?old)?",
                    _FLAGS,
                ),
            ),
            (
                "LOCATION",
                "street",
                regex.compile(
                    r"\b\d{1,6}[ \t]{1,3}(?-i:(?:[A-Z][A-Za-z'-]{0,24}\.?[ \t]{1,3}){1,4})"
                    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|court|way"
                    r"|terrace|circle|parkway|pkwy|highway|hwy|square)\b\.?"
                    r"(?:,?\s{0,3}(?:apt|apartment|suite|ste|unit|#)\.?\s{0,3}[\w-]{1,8})?",
                    _FLAGS,
                ),
            ),
            (
                "LOCATION",
                "po-box",
                regex.compile(r"\bp\.?\s?o\.?\s{0,3}box\s{0,3}\d{1,8}\b", _FLAGS),
            ),
            (
                "LOCATION",
                "zip",
                regex.compile(
                    r"(?<=\b(?:[A-Z]{2}|"
                    + _words(s.title() for s in self.lex.states)
                    + r")\.?,?\s{1,3})\d{5}(?:-\d{4})?\b"
                ),
            ),
            (
                "LOCATION",
                "zip-cue",  # "ZIP: 7412 SL", "my zip code is 35350", "Postal code B0J 2H0"
                regex.compile(
                    r"\b(?:zip(?:[ -]?code)?|postal[ \t]code|post[ \t]?code)[ \t]{0,3}(?::|is)?"
                    r"[ \t]{0,3}(?P<v>(?=[A-Z0-9]{0,5}\d)[A-Z0-9]{3,6}(?:[ -][A-Z0-9]{2,4})?)\b",
                    _FLAGS,
                ),
            ),
            (
                "DATE",
                "month-day",
                regex.compile(
                    r"\b(?P<m>"
                    + month
                    + r")\.?\s{1,3}(?P<d>[0-3]?\d)"
                    + _ORD
                    + r"(?:,?\s{1,3}(?P<y>(?:19|20)\d{2}|'\d{2}))?\b",
                    _FLAGS,
                ),
            ),
            (
                "DATE",
                "day-month",
                regex.compile(
                    r"\b(?P<d>[0-3]?\d)"
                    + _ORD
                    + r"(?:\s{1,3}of)?\s{1,3}(?P<m>"
                    + month
                    + r")\b\.?(?:,?\s{1,3}(?P<y>(?:19|20)\d{2}))?",
                    _FLAGS,
                ),
            ),
            (
                "DATE",
                "month-year",
                regex.compile(
                    r"\b(?P<m>" + month + r")\.?,?\s{1,3}(?P<y>(?:19|20)\d{2})\b", _FLAGS
                ),
            ),
            # A weekday narrows the date down, and left beside shifted dates it would give the
            # shift away (its offset modulo 7): it is shifted with them.
            (
                "DATE",
                "weekday",
                regex.compile(
                    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b(?!['\u2019]?s\b)", _FLAGS
                ),
            ),
            (
                "DATE",
                "iso",
                regex.compile(
                    r"(?<![\d-])(?P<y>(?:19|20)\d{2})-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)(?![\d-])"
                    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?(?![\d:]))?"
                ),
            ),
            (
                "DATE",
                "numeric",
                regex.compile(
                    r"(?<![\d/])(?<![\d/]\.)(?<![\d.]-)(?P<m>[01]?\d)(?P<s>[/.-])(?P<d>[0-3]?\d)"
                    r"(?:(?P=s)(?P<y>(?:19|20)?\d{2}))?(?![\d/]|[.-]\d|%)"
                ),
            ),
            (
                "DATE",
                "month-year-numeric",  # "echo 8/87", "fx4/97": the second number is no day
                regex.compile(
                    r"(?<![\d/])(?<!\d\.)(?<![\d.]-)(?P<m>0?[1-9]|1[0-2])/(?P<y>[3-9]\d)"
                    r"(?![\d/]|[.-]\d|%)"
                ),
            ),
            (
                "DATE",
                "ordinal-day",  # "cultures drawn on the 11th"
                regex.compile(
                    r"\b(?:on|since|until|till|by|from|before|after)\s{1,3}the\s{1,3}"
                    r"(?P<v>(?P<d>[1-3]?\d)(?:st|nd|rd|th))\b",
                    _FLAGS,
                ),
            ),
            (
                "DATE",
                "year",
                regex.compile(r"(?<![\d/.:#@-])(?:19[0-9]{2}|20[0-4][0-9])(?![\d/:%])"),
            ),
            ("DATE", "short-year", regex.compile(r"(?<=[A-Za-z]\s{0,2}|\w\s{1,2})'\d{2}\b")),
            # "PMH: MI 92, CABG 95": a past event and its two-digit year (history lines only)
            (
                "DATE",
                "event-year",
                regex.compile(
                    r"(?<=\b" + _words(_EVENTS) + r"[ \t]{1,2})\d{2}(?=[ \t]{0,2}[,.;)]|[ \t]*$)",
                    _FLAGS | regex.MULTILINE,
                ),
            ),
            # "CVA 74'", "CHOLECYSTECTOMY 77'"
            ("DATE", "short-year", regex.compile(r"(?<=[A-Za-z]\s{1,2})\d{2}'(?![\w'])")),
        ]
        # What every match of the costlier patterns holds, found far faster than the pattern
        # itself runs: most notes hold none, and the pattern is then skipped.
        months = _Need(r"\b" + month + r"\b", lower=True)
        self._needs = {
            "month-day": (months,),
            "day-month": (months,),
            "month-year": (months,),
            # the cue, then the value up to its first digit
            "id-cue": (
                _Need(
                    r"(?<=\b"
                    + _words(c.lower() for c in r.id_cues)
                    + _ID_GAP
                    + r"[a-z0-9-]{0,20})\d",
                    lower=True,
                ),
            ),
            "phone": (_Need(r"\d{3}[\s./-]\d{4}"),),
            "phone-cue": (
                _Need(r"\d{4}"),
                _Need(
                    r"\b" + _words(c.lower() for c in r.phone_cues) + r"[\s:#.]{0,14}\d{3}",
                    lower=True,
                ),
            ),
            "phone-lead": (
                _Need(r"\b" + _words(c.lower() for c in r.phone_lead_cues), lower=True),
            ),
            "phone-label": (
                _Need(r"[\d)][ \t-]{0,3}" + _words(c.lower() for c in r.phone_labels), lower=True),
            ),
            "iban": (_Need(r"(?<=[A-Za-z]{2})\d\d ?[A-Za-z0-9]{4}"),),
            # eight groups, or two parted by "::"
            "ipv6": (_Need(r"::|:(?:[0-9A-Fa-f]{1,4}:){6}"),),
            "vin": (_Need(r"[A-HJ-NPR-Z0-9]{17}"),),
            "url": (_Need(r"https?://|www\.", lower=True),),
            "zip-cue": (_Need(r"zip|code", lower=True),),
        }

    # -- public ---------------------------------------------------------------------------

    def common(self, low: str) -> bool:
        """Is ``low`` an ordinary English word (or an inflection of one)?"""
        english = self.lex.english
        if low in english:
            return True
        if "-" in low:
            # "follow-up", "long-term", "heart-failure": a compound of words is a word; not one
            # of two names that are words too ("Rose-Ann", "Hill-Wood"; "Garcia-Smith" has a
            # part that is no word)
            parts = low.split("-")
            lex = self.lex
            if len(parts) < 2 or not all(part and self.common(part) for part in parts):
                return False
            names = sum(p in lex.first_names or p in lex.common_surnames for p in parts)
            return names < 2
        for suffix, add in (
            ("s", ""),
            ("es", ""),
            ("ed", ""),
            ("ed", "e"),
            ("d", ""),
            ("ing", ""),
            ("ing", "e"),
            ("ly", ""),
            ("er", ""),
            ("ies", "y"),
            ("ied", "y"),
        ):
            if (
                low.endswith(suffix)
                and len(low) - len(suffix) >= 3
                and low[: -len(suffix)] + add in english
            ):
                return True
        return False

    def detect(
        self, text: str, *, budget_s: float, known: Iterable[tuple[str, str]] = ()
    ) -> list[Detection]:
        """PHI spans of ``text``, merged and sorted; ``known`` adds (value, type) pairs that
        must be found wherever they occur (the Patient's names, identifiers, ...).

        Raises :class:`DeidTimeoutError` when ``budget_s`` seconds are exceeded.
        """
        deadline = time.monotonic() + budget_s
        found: list[Detection] = []
        found.extend(self._known(text, known, deadline))
        upper = _mostly_upper(text)
        # on ASCII text IGNORECASE compares exactly what lower() gives, offset for offset
        low = text.lower() if text.isascii() else None
        found.extend(self._regexes(text, low, upper, deadline))
        if self._addresses is not None:
            for start, end, rule in self._addresses.find(
                text, upper, lambda pattern, note: self._run(pattern, note, deadline)
            ):
                found.append(Detection(start, end, "LOCATION", rule))
        tokens = self._tokens(text, deadline)
        found.extend(self._names(text, tokens, upper, deadline))
        found.extend(self._places(text, tokens, upper, deadline))
        found = self._drop_organisations(text, tokens, found)
        eponyms = self._eponyms(text, tokens, upper)
        if eponyms:
            found = self._drop_eponyms(tokens, found, eponyms)
        found = _merge(found)
        found.extend(self._conjoined(text, tokens, found, upper))
        if not upper and self._open is not None:
            found.extend(self._open.listed(text, tokens, _merge(found)))
        found.extend(self._propagate(text, tokens, found, deadline, eponyms, upper))
        return _merge(found)

    def memorable(self, text: str, found: Iterable[Detection]) -> list[tuple[str, str]]:
        """(word, type) pairs worth finding in the patient's other notes: the words of the
        names and places that a context rule found ("Dr. Rakusin" gives "rakusin"), not
        English or clinical words, nor what was itself only propagated."""
        out: dict[str, str] = {}
        for det in found:
            if det.type not in {"NAME", "HOSPITAL", "LOCATION"} or det.rule in _NOT_REMEMBERED:
                continue
            for m in _TOKEN.finditer(text, det.start, det.end):
                low = m.group().lower()
                if (
                    len(low) >= 3
                    and low.isalpha()
                    and not self.common(low)
                    and low not in self.protected
                    and low not in self._sets["not_names"]
                    and low not in self._sets["facility_single"]
                    and low not in self._sets["facility_prefixes"]
                ):
                    out.setdefault(low, det.type)
        return sorted(out.items())

    # -- eponyms ---------------------------------------------------------------------------

    def _eponyms(self, text: str, tokens: list[_Tok], upper: bool) -> dict[int, str]:
        """Tokens that name a disease, sign, score or device after a person ("Gaucher
        disease", "Bowen's disease", "Babinski sign", "Apgar scores", "Swan-Ganz catheter",
        "Glasgow coma scale"), by index, with their word (no possessive ending).

        The head must follow on the same line after one space, written as running text is
        (lower case or Title case; capitals only in a note of capitals), and must be no label:
        "Kowalski\nCell: 617-555-1234" and "Kowalski PROCEDURE" name no eponym."""
        heads = self._sets["eponym_heads"]
        pairs = self.eponym_pairs
        particles = self._open.particles if self._open is not None else frozenset()
        out: dict[int, str] = {}
        pair_first = self._eponym_first
        for i in range(len(tokens) - 1):
            nxt = tokens[i + 1]
            tok = tokens[i]
            head = nxt.low in heads or nxt.low.endswith(_PROCEDURE_ENDS)
            if not head and tok.low not in pair_first:
                continue
            if (
                len(tok.low) < 3
                or not tok.alpha
                or nxt.start - tok.end != 1
                or text[tok.end] != " "
                or not _running_case(nxt.text, upper)
                or _labels(text, nxt.end)
            ):
                continue
            base = _base(tok.low)
            if head:
                out[i] = base
                # "Cornelia de Lange syndrome": the given name before the particles too
                k = i - 1
                while k > 0 and tokens[k].low in particles and tokens[k].text.islower():
                    k -= 1
                if k < i - 1 and tokens[k].title:
                    out[k] = tokens[k].low
                elif k == i - 1 and k >= 0 and self._eponym_partner(text, tokens, k, k + 1):
                    # a second person's name: "Passey muir valve", "Stevens Johnson syndrome"
                    out[k] = _base(tokens[k].low)
                elif (
                    k == i - 1
                    and k >= 1
                    and tokens[k].text in {"-", "–"}
                    and self._eponym_partner(text, tokens, k - 1, k)
                ):
                    out[k - 1] = _base(tokens[k - 1].low)  # "Epstein–Barr virus"
            elif f"{base} {nxt.low}" in pairs:
                out[i] = base
                out.setdefault(i + 1, nxt.low)  # "vena cava": the whole term
        return out

    def _eponym_partner(self, text: str, tokens: list[_Tok], k: int, joint: int) -> bool:
        """Is ``tokens[k]`` the name of an eponym's first person: a capitalised word of the
        name lists that is no English word, one space before the eponym's word ``joint``
        ("Passey muir") or right before its dash (``joint`` is the dash: "Epstein–Barr")?"""
        tok = tokens[k]
        low = _base(tok.low)
        dash = joint > k + 1 or tokens[joint].text in {"-", "–"}
        return (
            tok.alpha
            and tok.title
            and len(low) >= 3
            and (
                tokens[joint].start == tok.end
                if dash
                else tokens[joint].start - tok.end == 1 and text[tok.end] == " "
            )
            and (low in self.lex.surnames or low in self.lex.first_names)
            and not self.common(low)
        )

    def _drop_organisations(
        self, text: str, tokens: list[_Tok], found: list[Detection]
    ) -> list[Detection]:
        """Leave out the names found by their shape alone and the dictionary places that are
        part of an organisation's name or a manufacturer's citation ("Carl Zeiss GmbH, Jena,
        Germany", "New York Heart Association", "(Life Technologies, Carlsbad, CA)")."""
        orgs = self._orgs
        if orgs is None or not any(d.rule in _SHAPE_RULES or d.rule in _PLACE_RULES for d in found):
            return found
        starts = [t.start for t in tokens]
        return [
            d
            for d in found
            if not (
                (d.rule in _SHAPE_RULES and orgs.inside(text, tokens, starts, d.start, d.end))
                or (d.rule in _PLACE_RULES and orgs.place_inside(text, tokens, starts, d))
            )
        ]

    def _drop_eponyms(
        self, tokens: list[_Tok], found: list[Detection], eponyms: dict[int, str]
    ) -> list[Detection]:
        """Leave out the names and places made only of words that stand as eponyms where
        they are ("with Gaucher disease"), unless a title, a cue or the Patient resource
        names them ("Dr. Parkinson", "daughter Kowalski").  The same word elsewhere in the
        note is left to the name rules, but for the rules that go by a word's shape alone."""
        starts = [t.start for t in tokens]
        # "Purtscher's flecken ... Purtscher's retinopathy": the eponym of one place is the
        # eponym of the other
        eponym_words = {w for k, w in eponyms.items() if tokens[k].title}
        shape_only = _SHAPE_RULES
        out: list[Detection] = []
        for det in found:
            if det.type in {"NAME", "HOSPITAL", "LOCATION"} and det.rule not in _EPONYM_PROOF:
                k = bisect_left(starts, det.start)
                inside: list[int] = []
                while k < len(tokens) and tokens[k].start < det.end:
                    if tokens[k].alpha and len(tokens[k].low) > 1:
                        inside.append(k)
                    k += 1
                weak = det.rule in shape_only
                if inside and all(
                    k in eponyms or (weak and _base(tokens[k].low) in eponym_words) for k in inside
                ):
                    continue
            out.append(det)
        return out

    # -- passes ---------------------------------------------------------------------------

    def _run(
        self, pattern: regex.Pattern[str], text: str, deadline: float
    ) -> Iterator[regex.Match[str]]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeidTimeoutError
        try:
            yield from pattern.finditer(text, timeout=remaining)
        except TimeoutError:
            raise DeidTimeoutError from None

    def _may_match(
        self,
        needs: Iterable[_Need],
        text: str,
        low: str | None,
        deadline: float,
        held: dict[_Need, bool],
    ) -> bool:
        """May ``text`` match a pattern whose matches all hold ``needs``?  A need of the
        lower-cased text is only checked when ``low`` is given (the note is ASCII); ``held``
        keeps what was found of each need in this note (three date patterns share one)."""
        for need in needs:
            note = low if need.lower else text
            if note is None:
                continue
            if need not in held:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeidTimeoutError
                try:
                    held[need] = need.pattern.search(note, timeout=remaining) is not None
                except TimeoutError:
                    raise DeidTimeoutError from None
            if not held[need]:
                return False
        return True

    def _tokens(self, text: str, deadline: float) -> list[_Tok]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeidTimeoutError
        try:
            return [
                _Tok(m.start(), m.end(), w, w.lower())
                for m in _TOKEN.finditer(text, timeout=remaining)
                for w in (m.group(),)
            ]
        except TimeoutError:
            raise DeidTimeoutError from None

    def _known(
        self, text: str, known: Iterable[tuple[str, str]], deadline: float
    ) -> Iterator[Detection]:
        by_type: dict[str, set[str]] = {}
        for raw, phi_type in known:
            value = raw.strip()
            if len(value) >= 2:
                by_type.setdefault(phi_type, set()).add(value)
        for phi_type, values in by_type.items():
            pattern = regex.compile(r"(?<!\w)" + _words(values) + r"(?!\w)", _FLAGS)
            for m in self._run(pattern, text, deadline):
                yield Detection(m.start(), m.end(), phi_type, "fhir-patient")

    def _regexes(
        self, text: str, low: str | None, upper: bool, deadline: float
    ) -> Iterator[Detection]:
        held: dict[_Need, bool] = {}
        for phi_type, rule, pattern in self._patterns:
            if not self._may_match(self._needs.get(rule, ()), text, low, deadline, held):
                continue
            for m in self._run(pattern, text, deadline):
                start, end = m.span("v") if "v" in m.groupdict() and m.group("v") else m.span()
                if phi_type == "DATE" and not self._date_ok(text, m, rule):
                    continue
                if rule == "street" and not self._street_ok(m.group(), upper):
                    continue
                if rule == "url":
                    end = start + _url_length(m.group())
                if rule == "ipv4" and not _is_ip_context(text, m.start()):
                    continue
                if (
                    rule in _PHONE_RULES
                    and not 7 <= sum(c.isdigit() for c in text[start:end]) <= 15
                ):
                    continue
                if rule == "iban":
                    end = _iban_end(m.group())
                    if end == 0:
                        continue
                    end += start
                if phi_type == "PHONE" and text[start - 1 : end + 1] == f"({text[start:end]})":
                    start, end = start - 1, end + 1  # "(201-223-4567)" as a whole
                yield Detection(start, end, phi_type, rule)

    def _date_ok(self, text: str, m: regex.Match[str], rule: str) -> bool:
        before = _word_before(text, m.start())
        after = _word_after(text, m.end())
        if rule in {"month-day", "day-month"}:
            day = int(m.group("d"))
            if not 1 <= day <= 31:
                return False
            month = m.group("m")
            if month.lower() == "may" and not month[0].isupper() and not m.group("y"):
                return False
            if month.lower() == "mar" and not m.group("y"):
                return False
            return after not in self._sets["value_after"] or rule == "day-month"
        if rule == "numeric":
            month, day, sep, year = int(m.group("m")), int(m.group("d")), m.group("s"), m.group("y")
            if not (1 <= month <= 12 and 1 <= day <= 31):
                return False
            if sep != "/" and not year:
                return False
            if sep == "." and year and len(year) == 2:
                return False
            if year and len(year) == 2 and self._value_context(text, m.start(), m.end()):
                return False  # "BIPAP 10/5/12"
            if not year:
                if before in self._sets["value_before"] or after in self._sets["value_after"]:
                    return False
                if (month, day) == (2, 2) or text[m.end() : m.end() + 1] == "+":
                    return False
                counted = before.isdigit() and len(before) < 3 and not self._times_before(text, m)
                if counted or _number_slash_before(text, m.start()):
                    return False  # "HR 80 120/80"; "at 2300 10/15", "CULTURED X 2 8/15" are dates
                if self._value_context(text, m.start(), m.end()):
                    return False
                if _score_or_karyotype(text, m.start(), month, day, before):
                    return False
                if _fraction_like(month, day) and before not in _DATE_CUES:
                    return False  # "rales 2/3", "1/2 NPH", "4/4 bottles", "5/5"
            return True
        if rule == "month-year-numeric":
            return (
                before not in self._sets["value_before"]
                and after not in self._sets["value_after"]
                and not (before.isdigit() and len(before) < 3)
                and not _number_slash_before(text, m.start())
                and not self._value_context(text, m.start(), m.end())
            )
        if rule == "short-year" and m.group().endswith("'"):
            return before not in {"hob", "x", "q", "for", "over", "times", "every", "at", "to"}
        if rule == "event-year":
            line = text[max(0, m.start() - 200) : m.start()].rsplit("\n", 1)[-1].lower()
            return _HISTORY.search(line) is not None
        if rule == "ordinal-day":
            return 1 <= int(m.group("d")) <= 31 and after not in self._sets["ordinal_counted"]
        if rule == "year":
            if _YEAR.fullmatch(before):
                return True  # "CABG 1957, 1971"
            if before in {"at", "@", "by", "q", "x", "~", "until", "till", "from", "to", "and"}:
                return before == "from" and after not in {"to", "-"}
            if after in self._sets["value_after"] or after in {"hrs", "h", "kcal", "units", "to"}:
                return False
            nxt = text[m.end() : m.end() + 2].strip()
            if nxt[:1] in {"-", ":"} or before in {"-", ":"}:
                return False
            if before in {"a", "the"}:
                # "a 2017 Polish film", "the 1996 election"; not "a 2000 mL bolus"
                return _CAPITALISED_AFTER.match(text, m.end()) is not None
            return (
                before
                in {
                    "in",
                    "during",
                    "since",
                    "of",
                    "year",
                    "yr",
                    "dx",
                    "hx",
                    "s/p",
                    "circa",
                    "ca",
                    "diagnosed",
                    "(",
                    ",",
                    "born",
                    "dob",
                    "summer",
                    "fall",
                    "spring",
                    "winter",
                    "early",
                    "late",
                    "mid",
                }
                or _ABBREVIATION.fullmatch(_raw_word_before(text, m.start())) is not None
                or _MONTH_RE.fullmatch(before) is not None
            ) and before not in self._sets["value_before"]
        return True

    def _times_before(self, text: str, m: regex.Match[str]) -> bool:
        """Is the small number before a date a count ("PAN CULTURED X 2 8/15")?"""
        left = text[max(0, m.start() - 12) : m.start()]
        return _TIMES_COUNT.search(left) is not None

    def _street_ok(self, match: str, upper: bool) -> bool:
        """Is "12 Elm Street" an address, not "HR 80-103 SR TO ST" or "3 PERSANTINE THALLIUM
        ST-BORDERLINE ISCHEMIC ST" (the ST segment)?"""
        words = [w.strip(".,'").lower() for w in match.split()[1:-1]]
        suffix = match.rsplit(maxsplit=1)[-1].strip(".").lower() if match.strip() else ""
        for word in words:
            if (
                word in self._sets["not_names"]
                or word in self.protected
                or word in self._sets["value_context"]
                or (upper and suffix == "st" and ("-" in word or self.common(word)))
            ):
                return False
        return True

    def _value_context(self, text: str, start: int, end: int) -> bool:
        """Is a ventilator or other setting word near ``text[start:end]`` ("PSV 10/5",
        "on 10/5 BIPAP", "flowby 6/3"), on the same line?"""
        lo = max(0, start - 24)
        left = text[lo:start].rsplit("\n", 1)[-1]
        words = _VALUE_WORD.findall(left.lower())
        if lo > 0 and text[lo - 1].isalnum() and left[:1].isalnum() and words:
            words = words[1:]  # the window cut a word
        words = words[-3:]
        # the word right after, when only spaces part them ("on 10/5 BIPAP", not "8/14). AC")
        right = _NEXT_WORD.match(text, end, min(len(text), end + 24))
        if right is not None:
            words.append(right.group(1).lower())
        return any(w in self._sets["value_context"] for w in words)

    def _name_like(self, tok: _Tok, level: str, upper: bool) -> bool:
        """May ``tok`` be (part of) a person's name, given the strength of the cue?"""
        low = tok.low
        if not tok.alpha or low in self._sets["not_names"] or low in self._sets["credentials"]:
            return False
        if level == "strong":
            return len(low) >= 2 or tok.text.isupper()
        if low in self.protected or len(low) < 2:
            return False
        in_dict = low in self.lex.first_names or low in self.lex.surnames
        common = self.common(low)
        if level == "medium":
            return in_dict or not common
        cap = tok.title and not upper
        return (cap and not common) or (in_dict and not common and (cap or not _is_lower_word(tok)))

    def _cued(self, tok: _Tok, upper: bool, strong: bool = True) -> bool:
        """May ``tok`` be a name right after a cue that names a person ("wife Suzette",
        "CASEWORKER LEONA", "spoke with helen")?

        A first name of the Census lists counts even when it is also a word ("HUSBAND RICH"),
        but then only capitalised (in a note in capitals, only after a ``strong`` cue: a
        relative or a role, not "to" or "with"); any other word must not be an English word,
        and in a note written in one case ("WIFE AGRESS", "daughter present") it must be in a
        name list.
        """
        low = tok.low
        if self._never_name(tok):
            return False
        common = self.common(low)
        # capitalised in a note in lower case, or in lower case in a note in capitals
        # ("HOUSE STAFF mary souza AWARE")
        cap = (
            _style(tok) == "title"
            or (_style(tok) == "upper" and (strong or not upper))
            or (_style(tok) == "lower" and upper)
        )
        given = low in self.lex.first_names or (strong and low in self.lex.nicknames)
        if given and (not common or cap) and low not in self.protected:
            return True
        if common or low in self.protected:
            return False
        if upper or _style(tok) != "title":
            return low in self.lex.first_names or low in self.lex.surnames
        return True

    def _never_name(self, tok: _Tok) -> bool:
        """Tokens no name rule may take: non-words, single letters, listed non-names,
        credentials and relative words."""
        low = tok.low
        return (
            not tok.alpha
            or len(low) < 2
            or low in self._sets["not_names"]
            or low in self._sets["credentials"]
            or low in self._sets["relatives"]
        )

    def _continues(self, tok: _Tok, prev: _Tok, step: int, lax: bool) -> bool:
        """Does name token ``prev`` go on with ``tok`` (the token after it for ``step`` 1,
        before it for -1)?  ``lax`` after a title: "Dr. Ferdinand Halfpenny"."""
        low = tok.low
        if self._never_name(tok) or low in self._sets["titles"]:
            return False
        style = _style(tok)
        if style != _style(prev) and not (style == "title" and _style(prev) == "upper"):
            return False
        first, last = (prev, tok) if step > 0 else (tok, prev)
        common = self.common(low)
        if common or low in self.protected:
            # after a strong cue a Census surname that is also a word ("Name: Åsa Laine")
            if (
                lax
                and step > 0
                and style == "title"
                and low in self.lex.surnames
                and low not in self.protected
            ):
                return True
            # "Dr. Art White", "Bernard Foley", "dr. john bowman", "Hank Przybylo (son)":
            # a given name then a surname, even when they are also words
            if first.low not in self.lex.first_names or style == "mixed":
                return False
            if step > 0:
                return last.low in self.lex.surnames or (lax and style == "title")
            return first.low not in self.protected or style != "lower"
        in_dict = low in self.lex.first_names or low in self.lex.surnames
        if style == "lower":
            return in_dict
        if style == "upper":
            return in_dict or len(low) >= 5
        return True

    def _extend(
        self,
        tokens: list[_Tok],
        i: int,
        upper: bool,
        step: int,
        limit: int = 3,
        lax: bool = False,
    ) -> int:
        """From name token ``i`` take more name tokens in direction ``step``; last index."""
        del upper  # the capitalisation of the name itself decides
        last = i
        j = i + step
        taken = 1
        while 0 <= j < len(tokens) and taken < limit:
            tok = tokens[j]
            if tok.text == "." and 0 <= j + step < len(tokens):
                j += step
                continue
            if tok.text in {"-", "'"}:
                break
            if _gap(tokens, last, j) > 2:
                break
            is_initial = (
                tok.alpha
                and len(tok.text) == 1
                and (tok.text.isupper() or (j + 1 < len(tokens) and tokens[j + 1].text == "."))
            )
            # after a middle initial the given name decides ("Katie E Miles")
            after_initial = step > 0 and last != i and len(tokens[last].text) == 1
            prev = tokens[i] if after_initial else tokens[last]
            if (
                is_initial
                or self._continues(tok, prev, step, lax and last == i)
                or (after_initial and self._surname_after_initial(tok))
            ):
                last = j
                taken += 1
                j += step
                continue
            break
        return last

    def _surname_after_initial(self, tok: _Tok) -> bool:
        """After a name and a middle initial, a capitalised Census surname is the surname even
        when it is also a word ("Martim A Pereira", "Landerico B Hidalgo")."""
        return (
            tok.title
            and tok.text.isalpha()
            and tok.low in self.lex.surnames
            and tok.low not in self.protected
            and not self._never_name(tok)
        )

    def _initial_then_name(self, tokens: list[_Tok], j: int) -> int | None:
        """Index of the name in "S. DOMINICO" when ``tokens[j]`` is an initial, else None."""
        n = len(tokens)
        tok = tokens[j]
        if (
            tok.alpha
            and len(tok.text) == 1
            and tok.text.isupper()
            and j + 2 < n
            and tokens[j + 1].text == "."
            and _gap(tokens, j + 1, j + 2) <= 2
            and self._continues(tokens[j + 2], tokens[j + 2], 1, False)
        ):
            return j + 2
        return None

    def _names(
        self, text: str, tokens: list[_Tok], upper: bool, deadline: float
    ) -> Iterator[Detection]:
        s = self._sets
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if i % 2048 == 0 and time.monotonic() > deadline:
                raise DeidTimeoutError
            low = tok.low
            nxt = i + 1
            if nxt < n and tokens[nxt].text in {".", ":", ",", "'", "’"}:
                nxt += 1
            if (
                low in s["titles"]
                and nxt < n
                and _gap(tokens, i, nxt) <= 2
                and tokens[i + 1].text not in {":", ","}
                and not (low == "ms" and not tok.title)
            ):
                first = tokens[nxt]
                # "severe MR. Valvular defects", "mild mr, trace tr": "MR" is mitral
                # regurgitation or magnetic resonance unless a name follows
                level = "medium" if low == "mr" and not tok.title else "strong"
                if (
                    first.alpha
                    and len(first.text) == 1
                    and nxt + 1 < n
                    and tokens[nxt + 1].text == "."
                ) or self._name_like(first, level, upper):
                    end = self._extend(tokens, nxt, upper, 1, lax=True)
                    yield Detection(first.start, tokens[end].end, "NAME", "title")
                    # "Drs. Ballou and Dutter"
                    if (
                        low == "drs"
                        and end + 2 < n
                        and tokens[end + 1].low in {"and", "&"}
                        and self._cued(tokens[end + 2], upper)
                    ):
                        last = self._extend(tokens, end + 2, upper, 1)
                        yield Detection(tokens[end + 2].start, tokens[last].end, "NAME", "title")
                continue
            bracketed_role = low in s["roles"] and i > 0 and tokens[i - 1].text == "("
            if (low in s["credentials"] or bracketed_role) and i > 0:
                yield from self._signature(text, tokens, i, upper)
                if low in s["credentials"]:
                    continue
            if (
                low in s["relatives"]
                and nxt < n
                and _gap(tokens, i, nxt) <= 3
                and _same_line(text, tok.end, tokens[nxt].start)
            ):
                cand = tokens[nxt]
                name_at = self._initial_then_name(tokens, nxt)
                if (
                    name_at is not None
                    or self._cued(cand, upper)
                    or self._given_pair(tokens, nxt)
                    or self._bare_after_relative(text, tokens, nxt)
                ):
                    end = self._extend(tokens, name_at if name_at is not None else nxt, upper, 1)
                    yield Detection(cand.start, tokens[end].end, "NAME", "relative")
                    continue
            if low in s["relatives"] and i >= 2 and tokens[i - 1].text in {"(", ","}:
                cand = tokens[i - 2]
                if (cand.title or cand.low in self.lex.first_names) and (
                    self._cued(cand, upper) or self._name_like(cand, "medium", upper)
                ):
                    begin = self._extend(tokens, i - 2, upper, -1)
                    yield Detection(tokens[begin].start, cand.end, "NAME", "relative")
                    continue
            if (
                (low in s["person_cues"] or low in s["roles"])
                and nxt < n
                and _gap(tokens, i, nxt) <= 3
                and _same_line(text, tok.end, tokens[nxt].start)
            ):
                cand = tokens[nxt]
                name_at = self._initial_then_name(tokens, nxt)
                in_dict = cand.low in self.lex.first_names or cand.low in self.lex.surnames
                if low in s["roles"]:
                    ok = (in_dict or not upper) and (
                        self._cued(cand, upper) or self._given_pair(tokens, nxt)
                    )
                else:  # "with", "to", "by": a name list and no English word
                    # in a note in mixed case a short word in capitals is an abbreviation
                    # ("consistent with PAM")
                    short_caps = not upper and cand.text.isupper() and len(cand.low) <= 3
                    ok = (
                        in_dict
                        and not short_caps
                        and (
                            self._name_like(cand, "weak", upper)
                            or (cand.low in self.lex.first_names and self._cued(cand, upper, False))
                        )
                    )
                if name_at is not None or (len(cand.low) >= 3 and ok):
                    end = self._extend(tokens, name_at if name_at is not None else nxt, upper, 1)
                    # "associated with Gaucher disease", "by Goldmann applanation": a bare
                    # preposition is no proof against an eponym head; "spoke with" is
                    before = tokens[i - 1].low if i > 0 else ""
                    weak = low in _WEAK_CUES and (
                        before not in s["person_cues"] or before in _WEAK_CUES
                    )
                    rule = "preposition-cue" if weak else "person-cue"
                    yield Detection(cand.start, tokens[end].end, "NAME", rule)
                    continue
            # "my name is Rubija", "Name is Kondouli": whoever is named there
            if (
                low == "is"
                and i > 0
                and tokens[i - 1].low == "name"
                and nxt < n
                and _gap(tokens, i, nxt) <= 2
                and self._cued(tokens[nxt], upper)
            ):
                end = self._extend(tokens, nxt, upper, 1)
                yield Detection(tokens[nxt].start, tokens[end].end, "NAME", "person-cue")
                continue
            owner = self._before_phone(text, tokens, i, upper) if low in _PHONE_WORDS else None
            if owner is not None:
                yield Detection(tokens[owner].start, tokens[i - 1].end, "NAME", "phone-owner")
            # "the Romero family", "KEEP ROMERO FAMILY AWARE"
            if low in {"family", "families"} and i > 0 and _gap(tokens, i - 1, i) == 1:
                cand = tokens[i - 1]
                # a frequent surname may also be a rare word ("romero", a fish)
                word_ok = not self.common(cand.low) or (
                    cand.low in self.lex.common_surnames
                    and len(cand.low) >= 5
                    and cand.low not in _FAMILY_ADJECTIVES
                )
                if (
                    cand.alpha
                    and _style(cand) in {"title", "upper"}
                    and cand.low in self.lex.surnames
                    and cand.low not in s["not_names"]
                    and cand.low not in self.protected
                    and word_ok
                    and not self._is_place_word(cand.low)
                ):
                    yield Detection(cand.start, cand.end, "NAME", "family-name")
            if not upper and tok.title and i + 1 < n and _gap(tokens, i, i + 1) == 1:
                # A capitalised first name followed by a surname, both from the Census lists.
                other = tokens[i + 1]
                if (
                    other.title
                    and low in self.lex.first_names
                    and other.low in self.lex.surnames
                    and not (low in self.lex.english and other.low in self.lex.english)
                    and low not in self.protected
                    and other.low not in self.protected
                    and low not in s["not_names"]
                    and other.low not in s["not_names"]
                ):
                    yield Detection(tok.start, other.end, "NAME", "dictionary-pair")
                    continue
            if not upper and tok.text.islower() and self._lower_given(tokens, i):
                begin = self._extend(tokens, i, upper, -1, limit=2)
                end = self._extend(tokens, i, upper, 1)
                if end == i and self._unknown_lower(tokens, i + 1) and _gap(tokens, i, i + 1) == 1:
                    end = i + 1  # "theresa kondouli": a surname no list has
                yield Detection(tokens[begin].start, tokens[end].end, "NAME", "lower-given-name")
                continue
            if not upper and tok.title and i > 0 and self._mid_sentence_name(text, tokens, i):
                end = self._extend(tokens, i, upper, 1)
                yield Detection(tok.start, _unpossessed(tokens[end]), "NAME", "given-name")
        yield from self._closing_name(text, tokens, upper)
        yield from self._introduced(text, deadline)
        if not upper:
            yield from self._name_shapes(text, tokens, deadline)
            if self._open is not None:
                yield from self._open.find(text, tokens)

    # -- names by their shape (mixed-case text) --------------------------------------------

    def _plain_word(self, tok: _Tok) -> bool:
        """Capitalised ("Nishiyama", "Szász"), no English, clinical, cue or place-type word:
        may be a part of a person's name."""
        low = tok.low
        s = self._sets
        return (
            tok.alpha
            and tok.title
            and len(low) >= 2
            and _PROPER.fullmatch(_base(tok.text)) is not None
            and not self.common(_base(low))
            and _base(low) not in self.protected
            and low not in s["not_names"]
            and low not in s["credentials"]
            and low not in s["relatives"]
            and low not in s["titles"]
            and low not in s["facility_single"]
            and low not in s["facility_prefixes"]
            and low not in s["value_context"]
        )

    def _given(self, tok: _Tok) -> bool:
        """A capitalised given name of the Census lists that is no word ("Tilly" is one, so
        not), or a capitalised word with letters beyond English ("Szabina", "Jožef")."""
        return (
            tok.low in self.lex.first_names
            or tok.low in self.lex.world_given
            or not _base(tok.text).isascii()
        ) and self._plain_word(tok)

    def _initial_at(self, tokens: list[_Tok], j: int) -> int | None:
        """Index after a middle initial ("D." or "D") at ``tokens[j]``, else None."""
        if j >= len(tokens):
            return None
        tok = tokens[j]
        if not (tok.alpha and len(tok.text) == 1 and tok.text.isupper()):
            return None
        if j + 1 < len(tokens) and tokens[j + 1].text == "." and _gap(tokens, j, j + 1) == 0:
            return j + 2
        return j + 1

    def _name_shapes(self, text: str, tokens: list[_Tok], deadline: float) -> Iterator[Detection]:
        """Names known by their shape in mixed-case text, without a cue word:

        - a given name (or a word with letters beyond English) then a capitalised word that is
          no English or clinical word, with or without a middle initial ("Tomomi Nishiyama",
          "Weronika Martinsen", "Bryan Maclean");
        - two such capitalised words about a middle initial ("Faina D. Yefremova");
        - a capitalised word after a strong cue ("my name is Rubija", "Name: Toshimi Arata",
          "Directed By: Johannes Varvio", "Hi Freddy", "called Brosca Erdős");
        - a capitalised given name in a list or at a sentence start ("They had 6: Gaetane,
          Hannah, Anthony", "Scott is a very sympathetic person");
        - a capitalised possessive that is no word ("Matej's address").
        """
        n = len(tokens)
        cue_ends = self._name_cue_ends(tokens)
        for i, tok in enumerate(tokens):
            if i % 2048 == 0 and time.monotonic() > deadline:
                raise DeidTimeoutError
            if not tok.title or not tok.alpha:
                continue
            line_end = self._name_line(text, tokens, i)
            if line_end is not None:
                yield Detection(tok.start, tokens[line_end].end, "NAME", "name-line")
                continue
            j = i + 1
            if j < n and _gap(tokens, i, j) == 1 and _same_line(text, tok.end, tokens[j].start):
                after_initial = self._initial_at(tokens, j)
                k = after_initial if after_initial is not None else j
                if (
                    k < n
                    and _gap(tokens, k - 1, k) <= 1
                    and _same_line(text, tok.end, tokens[k].start)
                    and self._plain_word(tokens[k])
                    and (
                        self._given(tok)
                        or (
                            self._plain_word(tok)
                            and (
                                after_initial is not None
                                or tokens[k].low in self.lex.surnames
                                or tokens[k].low in self.lex.world_surnames
                                or not tokens[k].text.isascii()
                            )
                        )
                    )
                ):
                    end = self._extend(tokens, k, False, 1, limit=2)
                    yield Detection(tok.start, _unpossessed(tokens[end]), "NAME", "name-shape")
                    continue
            if i in cue_ends and (
                self._plain_word(tok)
                or (
                    (tok.low in self.lex.first_names or tok.low in self.lex.surnames)
                    and tok.text.isalpha()
                    and tok.low not in self.protected
                    and tok.low not in self._sets["not_names"]
                )
            ):
                end = self._extend(tokens, i, False, 1, lax=True)
                yield Detection(tok.start, _unpossessed(tokens[end]), "NAME", "name-cue")
                continue
            if (
                self._given(tok)
                and len(tok.low) >= 3
                and tok.low not in self.lex.countries
                and self._listed_or_opening(text, tokens, i)
            ):
                yield Detection(tok.start, tok.end, "NAME", "given-name")
                continue
            if (
                tok.low.endswith(("'s", "’s"))
                and len(tok.low) >= 5
                and tok.text[1:-2].islower()
                and self._plain_word(tok)
                and i + 1 < n
                and tokens[i + 1].text.islower()
                and tokens[i + 1].low not in self._sets["eponym_heads"]
                and tokens[i + 1].low not in _ELLIPTIC_AFTER
                and (
                    _base(tok.low) in self.lex.first_names
                    or _base(tok.low) in self.lex.surnames
                    or not _base(tok.text).isascii()
                    or (i > 0 and tokens[i - 1].text.islower())
                )
            ):
                yield Detection(tok.start, tok.end - 2, "NAME", "possessive")

    def _name_line(self, text: str, tokens: list[_Tok], i: int) -> int | None:
        """A line that is only a name, as heads a letter, an address block or a resume
        ("Philippe Guernon", "> Gyala Antall", "Stephan M Urner"): two or three capitalised
        words that are no English or clinical word, with or without a middle initial.
        Returns the index of the name's last token, else None."""
        line_start = text.rfind("\n", 0, tokens[i].start) + 1
        if text[line_start : tokens[i].start].strip(" \t>"):
            return None
        k = i
        words = 0
        n = len(tokens)
        while k < n and _same_line(text, tokens[i].start, tokens[k].start):
            after_initial = self._initial_at(tokens, k) if words else None
            if after_initial is not None:
                k = after_initial
                continue
            tok = tokens[k]
            # the first word may be a given name that is also a word ("Lina", "Johannes")
            given = (
                k == i
                and _PROPER.fullmatch(tok.text) is not None
                and tok.low in self.lex.first_names
                and tok.low not in self.protected
                and tok.low not in self._sets["not_names"]
            )
            if not (given or self._plain_word(tok)) or tok.low.endswith(("'s", "’s")):
                return None
            words += 1
            k += 1
        if not 2 <= words <= 3:
            return None
        last = k - 1
        newline = text.find("\n", tokens[last].end)
        rest = text[tokens[last].end : newline if newline >= 0 else len(text)]
        return last if not rest.strip() else None

    def _name_cue_ends(self, tokens: list[_Tok]) -> set[int]:
        """Indexes of the tokens right after a strong name cue ("my name is", "Name:",
        "Hi", "Directed By:"), punctuation after the cue skipped."""
        return _after_cues(tokens, self._name_cues_by_last, skip_is=True)

    def _listed_or_opening(self, text: str, tokens: list[_Tok], i: int) -> bool:
        """Is ``tokens[i]`` in a list of names ("Gaetane, Hannah and Derek"), after a colon,
        or the first word of a sentence or line followed by a verb or a comma ("Scott is",
        "Leif, can I")?"""
        prev = tokens[i - 1] if i > 0 else None
        if prev is not None and not _same_line(text, prev.end, tokens[i].start):
            prev = None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if prev is not None and prev.text in {",", "and", "&", ":"}:
            return True
        if prev is None or prev.text in {".", "!", "?", '"', "“"}:
            return nxt is None or nxt.text in {",", ":"} or nxt.low in _SUBJECT_VERBS
        return False

    def _introduced(self, text: str, deadline: float) -> Iterator[Detection]:
        """The subject of "Sumiko254 Larue605 is a 60 year-old ..." at the start of a line or
        sentence: the patient's name (no title needed)."""
        if not self._may_match((_INTRODUCED_NEED,), text, None, deadline, {}):
            return
        for m in self._run(_INTRODUCED, text, deadline):
            # a word with a number stuck to it ("An125") is a generated name, never a word
            words = [w.lower() for w in m.group("v").split() if not w[-1].isdigit()]
            if any(
                w in self._sets["not_names"]
                or w in self.protected
                or w in self._sets["relatives"]
                or (self.common(w) and w not in self.lex.first_names)
                for w in words
            ):
                continue
            yield Detection(m.start("v"), m.end("v"), "NAME", "introduced")

    def _conjoined(
        self, text: str, tokens: list[_Tok], found: list[Detection], upper: bool
    ) -> Iterator[Detection]:
        """The name after "and" or "&" that follows a name or hospital found by a cue
        ("suzette and ank", "SCREENED BY BALTIMORE REHAB AND KIMBROUGH"): a word of the same
        case that is no English, clinical or cue word."""
        n = len(tokens)
        starts = {det.start for det in found if det.type == "NAME"}
        for k in range(n - 2):
            # "Nekolná and Pearson were", "Marrero and Murphy": two capitalised names joined,
            # one of them found or both in the Census lists
            if tokens[k + 1].low in {"and", "&"} and self._joined_names(text, tokens, k, starts):
                yield Detection(tokens[k].start, tokens[k].end, "NAME", "conjoined")
                if tokens[k + 2].start not in starts:
                    yield Detection(tokens[k + 2].start, tokens[k + 2].end, "NAME", "conjoined")
        if not found:
            return
        ends = {det.end: det for det in found if det.type in {"NAME", "HOSPITAL"}}
        for k in range(n - 2):
            det = ends.get(tokens[k].end)
            if det is None or tokens[k + 1].low not in {"and", "&"}:
                continue
            cand = tokens[k + 2]
            low = cand.low
            if (
                not cand.alpha
                or len(low) < 3
                or _style(cand) != _style(tokens[k])
                or _gap(tokens, k, k + 1) != 1
                or _gap(tokens, k + 1, k + 2) != 1
                or not _same_line(text, tokens[k].end, cand.start)
                or low in self._sets["not_names"]
                or low in self._sets["relatives"]
                or low in self._sets["credentials"]
                or low in self._sets["facility_single"]
                or low in self.protected
                or self.common(low)
                or (_style(cand) == "lower" and upper)
            ):
                continue
            named = low in self.lex.first_names or low in self.lex.surnames
            if _style(cand) == "upper" and not named and len(low) < 6:
                continue  # "DR SMITH AND NSG": an abbreviation
            # in lower case the phrase must end there ("suzette and ank."): a verb goes on
            if (
                det.type == "NAME"
                and _style(cand) == "lower"
                and k + 3 < n
                and _same_line(text, cand.end, tokens[k + 3].start)
                and tokens[k + 3].text not in {".", ",", ";", ")"}
            ):
                continue
            end = self._extend(tokens, k + 2, upper, 1) if det.type == "NAME" else k + 2
            yield Detection(cand.start, tokens[end].end, det.type, "conjoined")

    def _joined_names(self, text: str, tokens: list[_Tok], k: int, starts: set[int]) -> bool:
        """Are ``tokens[k]`` and ``tokens[k + 2]`` (around "and") two people's names: both
        capitalised words that are no English, clinical or cue word, the second found as a
        name already or both Census names, and no eponym's noun after ("Crohn and Graves
        disease" is protected anyway)?"""
        pair = (tokens[k], tokens[k + 2])
        if k + 3 < len(tokens) and tokens[k + 3].low in self._sets["eponym_heads"]:
            return False
        if k > 0 and tokens[k - 1].start in starts and _gap(tokens, k - 1, k) <= 1:
            return False  # "Dr. Rakusin Smith and ...": the first word is inside a name
        for tok in pair:
            low = tok.low
            if (
                not tok.alpha
                or not tok.title
                or len(low) < 3
                or low in self._sets["not_names"]
                or low in self._sets["relatives"]
                or low in self._sets["facility_single"]
                or low in self.protected
                or self.common(low)
            ):
                return False
        if _gap(tokens, k, k + 1) != 1 or _gap(tokens, k + 1, k + 2) != 1:
            return False
        if not _same_line(text, pair[0].start, pair[1].end):
            return False
        if self._orgs is not None and self._orgs.inside(
            text, tokens, [t.start for t in tokens], pair[0].start, pair[1].end
        ):
            return False  # "a Johnson & Johnson company"
        if pair[1].start in starts:
            return True
        census = self.lex.surnames | self.lex.first_names
        return all(tok.low in census for tok in pair) or (
            any(tok.low in census for tok in pair) and not all(tok.text.isascii() for tok in pair)
        )

    def _bare_after_relative(self, text: str, tokens: list[_Tok], j: int) -> bool:
        """An unknown lower-case word that ends the phrase after a relative is the relative's
        name ("communication with husband milovan."); a verb would go on ("wife agress
        that ...")."""
        tok = tokens[j]
        low = tok.low
        if (
            not tok.alpha
            or not tok.text.islower()
            or len(low) < 4
            or "-" in low
            or "'" in low
            or low in self._sets["not_names"]
            or low in self.protected
            or self.common(low)
        ):
            return False
        if j + 1 == len(tokens):
            return True
        nxt = tokens[j + 1]
        return not _same_line(text, tok.end, nxt.start) or nxt.text in {".", ",", ";", ")"}

    def _before_phone(self, text: str, tokens: list[_Tok], i: int, upper: bool) -> int | None:
        """Index of the first token of the name in "Lopie Certusi cell# 410-322-1419" when
        ``tokens[i]`` is a phone word followed by a number; else None."""
        if i == 0 or tokens[i].low not in _PHONE_WORDS:
            return None
        ahead = tokens[i + 1 : i + 4]
        if not any(t.text.isdigit() for t in ahead):
            return None
        cand = tokens[i - 1]
        if (
            not _same_line(text, cand.end, tokens[i].start)
            or not cand.alpha
            or _style(cand) != "title"
            or upper
            or len(cand.low) < 3
            or cand.low in self._sets["not_names"]
            or cand.low in self.protected
            or self.common(cand.low)
        ):
            return None
        return self._extend(tokens, i - 1, upper, -1)

    def _given_pair(self, tokens: list[_Tok], j: int) -> bool:
        """Is ``tokens[j]`` a capitalised given name that is also a word, followed by a
        capitalised surname ("Husband Rich Martino")?"""
        if j + 1 >= len(tokens) or _gap(tokens, j, j + 1) != 1:
            return False
        given, family = tokens[j], tokens[j + 1]
        return (
            given.low in self.lex.first_names
            and (
                _style(given) == "title"
                or (given.text.isupper() and given.low not in self.protected)
            )
            and given.low not in self._sets["not_names"]
            and self._continues(family, given, 1, False)
        )

    def _mid_sentence_name(self, text: str, tokens: list[_Tok], i: int) -> bool:
        """A capitalised given name (Census or another country's) that is no English or
        clinical word, after a lower-case word of the same sentence ("once Natalie woke up");
        or such a frequent surname (Census rank) or another country's, of 4 letters or more,
        that is no people, language or place of the dictionary and opens no eponym of the
        terminology either ("unlike the Jensen novel"; not "a new English place", "western
        Scotland", "Romberg's was positive")."""
        tok, prev = tokens[i], tokens[i - 1]
        low = _base(tok.low)
        lex = self.lex
        return (
            len(low) >= 3
            and (
                low in lex.first_names
                or low in lex.world_given
                or (
                    len(low) >= 4
                    and (low in lex.common_surnames or low in lex.world_surnames)
                    and low not in lex.proper_words
                    and low not in self._eponym_first
                    and low not in self._sets["bare_eponyms"]
                )
            )
            and low not in self.protected
            and low not in self._sets["not_names"]
            and not self.common(low)
            and not self._is_place_word(low)
            and low not in lex.countries
            and text[tok.end : tok.end + 1] not in _TRADEMARKS
            and prev.alpha
            and prev.text.islower()
            and _gap(tokens, i - 1, i) == 1
            and prev.low not in self._sets["to_from"]
            and _same_line(text, prev.end, tok.start)
        )

    def _lower_given(self, tokens: list[_Tok], i: int) -> bool:
        """In a note in mixed case, a given name (Census or another country's) in lower case
        that is no English, clinical or place word ("mary theresa kondouli from speech",
        "spoke to suzette"): people are typed in lower case in haste, clinical words are not
        given names."""
        low = tokens[i].low
        if (
            len(low) < 4
            or (
                low not in self.lex.first_names
                and (low not in self.lex.world_given or len(low) < WORLD_LOWER_MIN)
            )
            or low in self.protected
            or low in self._sets["not_names"]
            or self.common(low)
            or self._is_place_word(low)
        ):
            return False
        return len(low) >= 5 or (
            i + 1 < len(tokens)
            and _gap(tokens, i, i + 1) == 1
            and tokens[i + 1].text.islower()
            and self._continues(tokens[i + 1], tokens[i], 1, False)
        )

    def _unknown_lower(self, tokens: list[_Tok], j: int) -> bool:
        """Is ``tokens[j]`` a lower-case word of 4 letters or more that no list knows?"""
        if j >= len(tokens):
            return False
        tok = tokens[j]
        low = tok.low
        return (
            tok.alpha
            and tok.text.islower()
            and len(low) >= 4
            and "-" not in low
            and low not in self._sets["not_names"]
            and low not in self.protected
            and not self.common(low)
            and not self._is_place_word(low)
        )

    def _is_place_word(self, low: str) -> bool:
        return low in self.lex.cities or low in self.lex.states

    def _signature(self, text: str, tokens: list[_Tok], i: int, upper: bool) -> Iterator[Detection]:
        """The name before a credential or a bracketed role: "Bernard Foley CRT",
        "DAN A. FORMAN-LYONS, RRT", "DICK CUCCHIARA (RESIDENT)", "K. Rizzo RN"."""
        prev = i - 1
        while prev >= 0 and tokens[prev].text in {",", "("}:
            prev -= 1
        if prev < 0 or not _same_line(text, tokens[prev].end, tokens[i].start):
            return
        # the whole line before the credential, when it is only a name
        begin = prev
        words = 0
        ok = True
        while begin >= 0 and _same_line(text, tokens[begin].end, tokens[i].start):
            tok = tokens[begin]
            if tok.text in {".", ","}:
                begin -= 1
                continue
            if (
                not tok.alpha
                or _style(tok) not in {"title", "upper"}
                or tok.low in self._sets["not_names"]
                or tok.low in self._sets["credentials"]
                or words >= 4
            ):
                ok = False
                break
            words += 1
            begin -= 1
        start_tok = begin + 1
        while start_tok <= prev and not tokens[start_tok].alpha:
            start_tok += 1
        line_start = text.rfind("\n", 0, tokens[i].start) + 1
        if (
            ok
            and words >= 1
            and not text[line_start : tokens[start_tok].start].strip()
            and any(
                t.low in self.lex.first_names
                or (len(t.low) >= 2 and not self.common(t.low) and t.low not in self.protected)
                for t in tokens[start_tok : prev + 1]
            )
        ):
            yield Detection(tokens[start_tok].start, tokens[prev].end, "NAME", "signature")
            return
        cand = tokens[prev]
        if self._name_like(cand, "medium", upper) and (
            cand.title or cand.text.isupper() or cand.low in self.lex.surnames
        ):
            first = self._extend(tokens, prev, upper, -1)
            yield Detection(tokens[first].start, cand.end, "NAME", "signature")

    def _closing_name(self, text: str, tokens: list[_Tok], upper: bool) -> Iterator[Detection]:
        """A note that ends with a bare given name is signed ("... 1400U/HR. SUSAN")."""
        del upper
        if not tokens or text[tokens[-1].end :].strip() or not tokens[-1].alpha:
            return
        end = len(tokens) - 1
        begin = end
        while (
            begin > 0
            and end - begin < 2
            and (tokens[begin - 1].alpha or tokens[begin - 1].text == ".")
        ):
            if not _same_line(text, tokens[begin - 1].end, tokens[begin].start):
                break
            if tokens[begin - 1].text == "." and (begin < 2 or len(tokens[begin - 2].text) != 1):
                break
            begin -= 1
        while begin < end and not tokens[begin].alpha:
            begin += 1
        before = tokens[begin - 1] if begin > 0 else None
        if (
            before is not None
            and before.alpha
            and _same_line(text, before.end, tokens[begin].start)
        ):
            return  # mid-sentence: "... will call Susan" is not a signature
        first = tokens[begin]
        part = [t for t in tokens[begin : end + 1] if t.alpha]
        if (
            first.low in self.lex.first_names
            and first.low not in self.protected
            and first.low not in self._sets["not_names"]
            and all(
                _style(t) in {"title", "upper"}
                and t.low not in self._sets["not_names"]
                and t.low not in self._sets["credentials"]
                for t in part
            )
            and (not self.common(first.low) or len(part) > 1)
        ):
            yield Detection(first.start, tokens[end].end, "NAME", "closing-name")

    def _places(
        self, text: str, tokens: list[_Tok], upper: bool, deadline: float
    ) -> Iterator[Detection]:
        s = self._sets
        lex = self.lex
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if i % 2048 == 0 and time.monotonic() > deadline:
                raise DeidTimeoutError
            low = tok.low
            # "<Name> Hospital", "Calvert Hosp", "Quartermain VAMC"
            if low in s["facility_single"] or (
                i + 1 < n
                and low in self._facility_pair_first
                and f"{low} {tokens[i + 1].low}" in self._facility_pairs
            ):
                j = i - 1
                begin = i
                while j >= 0 and i - j <= 3 and _gap(tokens, j, j + 1) <= 2:
                    cand = tokens[j]
                    if (
                        not cand.alpha
                        or cand.low in s["not_names"]
                        or cand.low in s["facility_single"]
                    ):
                        break
                    if self.common(cand.low) and not (cand.title and not upper):
                        break
                    begin = j
                    j -= 1
                if (
                    begin == i
                    and tok.text.isupper()
                    and len(low) >= 4
                    and not self.common(low)
                    and low not in s["not_names"]
                    and (not upper or (i > 0 and tokens[i - 1].low in _HOSPITAL_BEFORE))
                ):
                    yield Detection(tok.start, tok.end, "HOSPITAL", "facility")  # "from VAMC"
                    continue
                if begin < i:
                    end = i + 1 if low in s["facility_single"] else i + 2
                    yield Detection(
                        tokens[begin].start, tokens[min(end, n) - 1].end, "HOSPITAL", "facility"
                    )
                continue
            # "transferred to GH", "admitted to Quartermain 3"
            if low in s["to_from"] and i > 0 and tokens[i - 1].low in s["facility_verbs"]:
                j = i + 1
                if j < n and tokens[j].low == "the":
                    j += 1
                if j < n and self._facility_name(text, tokens, j, upper):
                    end = self._extend(tokens, j, upper, 1, limit=2)
                    yield Detection(tokens[j].start, tokens[end].end, "HOSPITAL", "facility-cue")
                    continue
            # "ON QUARTERMAIN 6", "called To quartermain 6": a ward by its number
            if i > 0 and tokens[i - 1].low in _WARD_BEFORE and self._ward(tokens, i, upper):
                yield Detection(tok.start, tok.end, "HOSPITAL", "ward")
                continue
            # "at the GBMC", "SEEN BY GBMC NURSE", "from MGH"
            if 2 <= len(low) <= 6 and tok.text.isupper() and self._hospital_abbreviation(tokens, i):
                yield Detection(tok.start, tok.end, "HOSPITAL", "hospital-abbreviation")
                continue
            # "HUSBAND CEO OF IBM", "works at Genentech"
            if (
                i > 0
                and tokens[i - 1].low in self._employer_last
                and self._employer(tokens, i, upper)
            ):
                end = self._extend(tokens, i, upper, 1, limit=3)
                yield Detection(tok.start, tokens[end].end, "LOCATION", "employer")
                continue
            # "moved here from New Zealand", "travelling to Tunisia"
            country = self._country_at(tokens, i, upper) if low in self._country_first else 0
            if country and self._location_cue(tokens, i, phrases_only=True):
                yield Detection(tok.start, tokens[i + country - 1].end, "LOCATION", "country-cue")
                continue
            # "lives at Carpenter Assisted living", "LIVES AT KEELEY HOUSE"
            if (
                i > 0
                and tokens[i - 1].low in self._phrase_cue_last
                and tok.alpha
                and _style(tok) in {"title", "upper"}
                and len(low) >= 3
                and not self.common(low)
                and low not in self.protected
                and low not in s["not_names"]
                and low not in lex.states
                and self._location_cue(tokens, i, phrases_only=True)
            ):
                end = self._extend(tokens, i, upper, 1, limit=3)
                yield Detection(tok.start, tokens[end].end, "LOCATION", "location-cue")
                continue
            # "St. Elizabeth's", "Sacred Heart", "Holy Cross", "Mount Auburn"
            if low in s["facility_prefixes"] and i + 1 < n:
                j = i + 1
                if tokens[j].text == "." and j + 1 < n:
                    j += 1
                cand = tokens[j]
                fixed = low in {"sacred", "holy"} and cand.low in _HOLY
                if (
                    cand.alpha
                    and cand.low not in s["not_names"]
                    and (cand.title or upper or cand.text.isupper() or fixed)
                ):
                    # "ST depression"; "Main St" is found by the address rule; in capitals
                    # "ST. MARY" is a saint's name
                    saint_in_capitals = (
                        cand.text.isupper()
                        and tokens[i + 1].text == "."
                        and cand.low in self.lex.first_names
                        and cand.low not in self.protected
                    )
                    if (
                        low in {"st", "saint"}
                        and (not cand.title or (i > 0 and tokens[i - 1].title))
                        and not saint_in_capitals
                    ):
                        continue
                    if low in {"sacred", "holy"} and not fixed:
                        continue
                    last = j
                    if (
                        j + 1 < n
                        and tokens[j + 1].low in s["facility_single"]
                        and _gap(tokens, j, j + 1) <= 2
                    ):
                        last = j + 1  # "sacred heart Memorial"
                    yield Detection(tok.start, tokens[last].end, "HOSPITAL", "facility-prefix")
                    continue
            # cities and states from the dictionaries
            if low not in self._place_first:
                continue
            for size in (3, 2, 1):
                if i + size > n:
                    continue
                part = tokens[i : i + size]
                if not all(t.alpha for t in part) or any(
                    _gap(part, k, k + 1) > 1 for k in range(size - 1)
                ):
                    continue
                name = " ".join(t.low for t in part)
                if (
                    name in lex.states
                    and (size > 1 or name not in lex.english)
                    and (upper or all(t.title or t.text.isupper() for t in part))
                ):
                    yield Detection(part[0].start, part[-1].end, "LOCATION", "state")
                    break
                if name not in lex.cities or name in self.protected:
                    continue
                ambiguous = name in lex.english or name in s["not_names"] or name in lex.first_names
                if size == 1 and ambiguous and not self._location_cue(tokens, i):
                    continue
                cap = all(t.title or t.text.isupper() for t in part)
                followed_by_state = (
                    i + size + 1 < n
                    and tokens[i + size].text == ","
                    and (
                        tokens[i + size + 1].text in lex.state_codes
                        or tokens[i + size + 1].low in lex.states
                    )
                )
                if (
                    (name in lex.big_cities and (cap or upper or name not in lex.english))
                    or followed_by_state
                    or (
                        self._location_cue(tokens, i, weak=not ambiguous)
                        and (cap or upper or name not in lex.english)
                    )
                ):
                    end = part[-1].end
                    if followed_by_state:
                        end = tokens[i + size + 1].end
                    yield Detection(part[0].start, end, "LOCATION", "city")
                    break

    def _country_at(self, tokens: list[_Tok], i: int, upper: bool) -> int:
        """The number of tokens of the capitalised country name ("New Zealand", "China") that
        opens at ``tokens[i]``, 0 when none does."""
        if not tokens[i].alpha or tokens[i].low not in self._country_first:
            return 0
        for size in (3, 2, 1):
            part = tokens[i : i + size]
            if (
                len(part) == size
                and all(t.alpha and (t.title or t.text.isupper() or upper) for t in part)
                and " ".join(t.low for t in part) in self.lex.countries
            ):
                return size
        return 0

    def _employer(self, tokens: list[_Tok], i: int, upper: bool) -> bool:
        """Is ``tokens[i]`` an employer's name after an employer cue ("CEO OF IBM", "works
        for Genentech"): capitalised (or in capitals), no English, clinical or cue word?"""
        tok = tokens[i]
        low = tok.low
        before = tokens[i - 1].low
        if i > 1:
            two = f"{tokens[i - 2].low} {before}"
            if two not in self._sets["employer_cues"] and before not in self._sets["employer_cues"]:
                return False
        elif before not in self._sets["employer_cues"]:
            return False
        return (
            tok.alpha
            and len(low) >= 2
            and (tok.text.isupper() or (tok.title and not upper))
            and low not in self._sets["not_names"]
            and low not in self.protected
            and not self.common(low)
        )

    def _facility_name(self, text: str, tokens: list[_Tok], j: int, upper: bool) -> bool:
        """Is ``tokens[j]``, after "transferred to", a hospital's or ward's name ("GH",
        "Quartermain 3", "Calvert") and not a place in the hospital ("CT", "the MCIU"),
        a device ("NRB", "camode") or a site ("from pheresis line", "RLE ulcer")?"""
        s = self._sets
        cand = tokens[j]
        low = cand.low
        if (
            not cand.alpha
            or low in s["not_names"]
            or low in self.protected
            or low in s["facility_single"]
            or self.common(low)
            or any(part in s["not_names"] or self.common(part) for part in low.split("-")[1:])
        ):
            return False
        if j + 1 < len(tokens) and tokens[j + 1].low in s["not_facility_after"]:
            return False
        if self._hospital_shape(cand):
            return True
        ward = j + 1 < len(tokens) and _WARD_NUMBER.fullmatch(tokens[j + 1].text) is not None
        if cand.text.isupper() and len(low) <= 4 and not upper:
            return False  # "to CT", "to IR", "on NRB": unit and device abbreviations
        if cand.text.isupper() and upper:
            return len(low) >= 5 or ward
        if cand.title and not upper:
            return len(low) >= 3
        return ward or (len(low) >= 4 and (low in self.lex.surnames or low in self.lex.cities))

    def _ward(self, tokens: list[_Tok], i: int, upper: bool) -> bool:
        """A ward: a name that is no word, drug or unit after "to", "on", "from" or "at",
        followed by a ward number, not a dose ("to Quartermain 6", "ON QUARTERMAIN 2")."""
        tok = tokens[i]
        low = tok.low
        n = len(tokens)
        if (
            i == 0
            or i + 1 >= n
            or tokens[i - 1].low not in _WARD_BEFORE
            or not tok.alpha
            or len(low) < 5
            or _style(tok) not in {"title", "upper", "lower"}
            or (tok.text.islower() and upper)
            or low in self._sets["not_names"]
            or low in self.protected
            or low in self._sets["value_context"]
            or self.common(low)
            or ("-" in low and all(self.common(part) for part in low.split("-")))  # follow-up
            or _WARD_NUMBER.fullmatch(tokens[i + 1].text) is None
            or _gap(tokens, i, i + 1) != 1
        ):
            return False
        after = tokens[i + 2] if i + 2 < n else None
        if after is None:
            return True
        dose = after.alpha and _gap(tokens, i + 1, i + 2) <= 1 and after.low in _UNITS
        if after.text == "." and _gap(tokens, i + 1, i + 2) == 0:
            # "ON QUARTERMAIN 6. DIFFICULT ...": a full stop, not "6.5"
            decimal = (
                i + 3 < n and tokens[i + 3].text[0].isdigit() and _gap(tokens, i + 2, i + 3) == 0
            )
            return not decimal
        return not dose and after.text not in {"%", ".", "/", "-", ":"}

    def _hospital_shape(self, tok: _Tok) -> bool:
        """Shaped like a hospital's abbreviation ("GH", "GBMC", "MGH", "JHH"): 2-6 letters
        with such an ending, and no clinical abbreviation ("ICH", "TSH", "BPH")."""
        text = tok.text
        return (
            2 <= len(text) <= 6
            and text.isalpha()
            and (text.isupper() or len(text) <= 3)
            and text.upper().endswith(self._hospital_ends)
            and tok.low not in self._sets["not_hospitals"]
            and tok.low not in self.protected
        )

    def _hospital_abbreviation(self, tokens: list[_Tok], i: int) -> bool:
        """A hospital abbreviation after "to", "at", "from", "by", "@" or "the", and not
        after "due to" and the like."""
        tok = tokens[i]
        if i == 0 or (tokens[i - 1].low not in _HOSPITAL_BEFORE and tokens[i - 1].low != "the"):
            return False
        if not tok.text.isupper() or not self._hospital_shape(tok):
            return False
        if self.common(tok.low) or tok.low in self._sets["not_names"]:
            return False
        j = i - 1
        if tokens[j].low == "the" and j > 0:
            j -= 1
        if tokens[j].low not in _HOSPITAL_BEFORE and tokens[i - 1].low != "the":
            return False
        if j > 0 and tokens[j - 1].low in self._sets["not_facility_before"]:
            return False
        return not (i + 1 < len(tokens) and tokens[i + 1].low in self._sets["not_facility_after"])

    def _location_cue(
        self, tokens: list[_Tok], i: int, weak: bool = False, phrases_only: bool = False
    ) -> bool:
        """Does a location cue ("lives in", "resident of") end right before ``tokens[i]``?
        ``weak`` also takes the bare prepositions ("son in Pikesville"); ``phrases_only``
        only the cues of several words (not "from")."""
        before = " ".join(t.low for t in tokens[max(0, i - 4) : i])
        cues = self.rules.location_cues + (self.rules.weak_location_cues if weak else [])
        if phrases_only:
            cues = [c for c in cues if " " in c]
        return any(before == cue or before.endswith(" " + cue) for cue in cues)

    def _propagate(
        self,
        text: str,
        tokens: list[_Tok],
        found: list[Detection],
        deadline: float,
        eponyms: dict[int, str],
        upper: bool,
    ) -> Iterator[Detection]:
        """A word found as a name or place once is PHI wherever else it occurs in the note
        ("Dr. Rakusin ... called rakusin"), unless it is a common or clinical word, and
        never where it names a disease ("Dr. Hunter ... Hunter syndrome")."""
        words: dict[str, str] = {}
        exact: dict[str, str] = {}  # names that are also words: "Hank", only so written
        for det in found:
            if det.type not in {"NAME", "HOSPITAL", "LOCATION"}:
                continue
            for m in _TOKEN.finditer(text, det.start, det.end):
                word = m.group()
                low = word.lower()
                if (
                    len(low) < 3
                    or not low.isalpha()
                    or low in self._sets["not_names"]
                    or low in self._sets["facility_single"]
                    or low in self._sets["facility_prefixes"]
                ):
                    continue
                if not self.common(low) and low not in self.protected:
                    words.setdefault(low, det.type)
                elif (
                    det.type == "NAME"
                    and det.rule in _CUED_RULES
                    and not upper
                    and word[0].isupper()
                    and word[1:].islower()
                    and low in self.lex.first_names
                ):
                    exact.setdefault(word, det.type)
        if time.monotonic() > deadline:
            raise DeidTimeoutError
        for i, tok in enumerate(tokens):
            phi_type = words.get(tok.low) or exact.get(tok.text)
            if phi_type is not None and i not in eponyms:
                yield Detection(tok.start, tok.end, phi_type, "propagated")


_FAMILY_ADJECTIVES = frozenset(
    {"other", "whole", "entire", "large", "young", "close", "extended", "immediate", "loving",
     "supportive", "nuclear", "foster", "several", "various", "older", "elder", "younger",
     "grand", "small", "broken", "happy", "little", "great", "proud", "worried", "anxious",
     "concerned", "upset", "tearful", "grieving", "distraught", "these", "those", "their",
     "every", "whose", "patient", "caring", "involved", "present", "visiting", "french",
     "english", "irish", "italian", "german", "polish", "russian", "greek", "chinese"}
)  # fmt: skip
"""Words before "family" that are surnames too but describe the family ("the whole family")."""
_EPONYM_PROOF = frozenset(
    {"title", "fhir-patient", "known", "relative", "person-cue", "signature", "introduced",
     "phone-owner", "closing-name", "family-name"}
)  # fmt: skip
"""Rules whose names stand even before an eponym head: a title, a cue word or the Patient
resource names them ("Dr. Parkinson", "daughter Kowalski", "PCP: Kowalski"); not a bare
preposition ("preposition-cue": "associated with Gaucher disease")."""
_SHAPE_RULES = frozenset(
    {"name-shape", "given-name", "possessive", "dictionary-pair", "name-line", "name-list"}
)
"""Rules that find a name by its shape alone (no cue word, no title)."""
_PLACE_RULES = frozenset({"city", "state"})
"""Rules that find a place by the dictionaries alone."""
_ELLIPTIC_AFTER = frozenset({"was", "is", "were", "are", "positive", "negative", "test", "sign"})
"""Words right after a possessive that leave its noun out, as a test's eponym does
("Romberg's was positive", "Tinel's positive"); a person's possession names the noun."""
_WEAK_CUES = frozenset({"with", "by", "to", "from", "per", "seen", "aware", "patient", "pt"})
"""Person cues that stand before diseases and devices as often as before people."""


_TRADEMARKS = frozenset({"®", "™"})
"""Marks after a brand ("Hancock® II valve"): the word is no person's name."""

_PROCEDURE_ENDS = ("ectomy", "otomy", "ostomy", "plasty", "pexy", "rrhaphy", "scopy")
"""Endings of procedure words, heads of eponyms like "disease" ("McKeown oesophagectomy",
"Nissen fundoplication" is listed whole)."""


def _running_case(word: str, upper: bool) -> bool:
    """Whether an eponym head is written as running text is: "disease", "Disease", and
    "DISEASE" only in a note of capitals (a line label otherwise: "CELL", "TEST")."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return False
    if all(c.islower() for c in letters):
        return True
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return True
    return upper and all(c.isupper() for c in letters)


def _labels(text: str, end: int) -> bool:
    """Whether the word ending at ``end`` is a label: a colon follows it on its line."""
    k = end
    while k < len(text) and text[k] in " \t":
        k += 1
    return k < len(text) and text[k] == ":"


_HISTORY = regex.compile(r"\b(?:pmh|hx|history|h/o|s/p|psh)\b")
_SCORE_CUE = r"\b(?:pain|discomfort|score|scale|rated|rates|rating)\b"
_SCORE_NEAR = regex.compile(_SCORE_CUE + r"[^\n.;\d]{0,16}$", regex.IGNORECASE)
_SCORE_LIST = regex.compile(
    _SCORE_CUE + r"[^\n.;]{0,24}\b\d{1,2}/10\b[^\n.;]{0,24}$", regex.IGNORECASE
)
_KARYOTYPE_BEFORE = regex.compile(r"\b\d{2},X[XY]?[^\n\[]{0,24}\[$")
_VISIT_WORDS = frozenset(
    {"up", "follow-up", "f/u", "fu", "visit", "appt", "appointment", "seen", "clinic", "rtc"}
)


def _score_or_karyotype(text: str, start: int, month: int, day: int, before: str) -> bool:
    """Is the "N/10" or "[N/20]" at ``start`` a score or a cell count, not a date: a pain
    score ("pain level 5/10", "Pain 7/10 at rest, 3/10 after morphine") unless a date cue
    comes right before ("pain since 3/10", "follow-up 3/10"), or metaphases counted in a
    karyotype ("46,XX [2/20]")?"""
    left = text[max(0, start - 80) : start]
    score = day == 10 and month <= 10 and before not in _DATE_CUES | _VISIT_WORDS
    if score and (_SCORE_NEAR.search(left) or _SCORE_LIST.search(left)):
        return True
    return _KARYOTYPE_BEFORE.search(left) is not None


_TIMES_COUNT = regex.compile(r"(?<![A-Za-z])[xX][ \t]{1,2}\d{1,2}[ \t]{1,3}$")
_MONTH_RE = regex.compile(_MONTH + r"\.?", regex.IGNORECASE)
_CUED_RULES = frozenset(
    {"title", "relative", "signature", "person-cue", "preposition-cue", "phone-owner",
     "closing-name", "fhir-patient", "known"}
)  # fmt: skip
"""Rules whose names are kept even when they are also words ("Husband Rich Martino")."""
_INTRODUCED = regex.compile(
    r"(?:^|(?<=[.!?]\s{1,3}))[ \t]{0,8}(?P<v>[A-Z][a-z'’-]{1,30}\d{0,4}"
    r"(?:[ \t]{1,2}(?:[A-Z]\.?|[A-Z][a-z'’-]{1,30}\d{0,4})){0,3})\s{1,3}(?:is|was)\s{1,3}an?"
    r"\s{1,3}\d{1,3}[ \t-]{0,2}(?:years?|yrs?|y/?o\b|y\.o\.|months?|mo\b|weeks?|days?)",
    regex.MULTILINE,
)
_INTRODUCED_NEED = _Need(r"(?:is|was)\s{1,3}an?\s{1,3}\d")
"""What every match of :data:`_INTRODUCED` holds ("is a 60"), found far faster."""
_UNITS = frozenset(
    {"mg", "mcg", "g", "gm", "units", "unit", "u", "cc", "ml", "l", "lpm", "gtt", "mcg/kg",
     "mg/hr", "meq", "mmol", "amp", "amps", "tabs", "tab", "puffs", "hrs", "hr", "h", "min",
     "mins", "days", "day", "x", "liters", "l/min", "cm", "mm", "kg", "lb", "lbs", "pm", "am"}
)  # fmt: skip
_PROPER = regex.compile(r"(?:Mc|Mac|O['’]|D['’]|De|Di|La|Le|Van)?\p{Lu}\p{Ll}[\p{Ll}'’-]{0,40}")
"""Written as a proper name: a capital then small letters ("Szász", "McDonald", not "ABG",
"PaO")."""
WORLD_LOWER_MIN = 6
"""A name of another country in lower case counts from this length: shorter ones are too often
words of science ("titin")."""
_SUBJECT_VERBS = frozenset(
    {"is", "was", "has", "had", "will", "would", "can", "could", "said", "says", "told", "asked",
     "shouted", "replied", "lives", "lived", "works", "worked", "went", "called", "wrote"}
)  # fmt: skip
"""Verbs after a given name that opens a sentence and is its subject ("Scott is ...")."""
_NOT_REMEMBERED = frozenset({"propagated", "fhir-patient", "dictionary-pair", "given-name"})
"""Rules too weak (or too derived) to carry a word into the patient's other notes."""
_PHONE_WORDS = frozenset(
    {"cell", "home", "work", "phone", "tel", "telephone", "pager", "beeper", "mobile", "ph"}
)
_HOLY = frozenset({"heart", "cross", "family", "name", "spirit", "redeemer", "trinity"})
_WARD_BEFORE = frozenset({"to", "on", "from", "at"})
_HOSPITAL_BEFORE = frozenset({"to", "at", "from", "by", "@", "in", "into", "via", "leave", "left"})
_NEXT_WORD = regex.compile(r"[ \t]{0,3}([A-Za-z][A-Za-z0-9/-]{0,15})\b")
_VALUE_WORD = regex.compile(r"[a-z][a-z0-9/-]{0,15}")
_DATE_CUES = frozenset(
    {"on", "since", "from", "until", "till", "thru", "through", "by", "dated", "date", "dos",
     "admitted", "adm", "started", "due", "of", "(", "before", "after",
     "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)  # fmt: skip
"""Words before "1/4" or "5/5" that make it a date after all ("since 1/4")."""


def _fraction_like(month: int, day: int) -> bool:
    """Read "1/2", "2/3", "4/4", "5/5" as a fraction or a score unless a cue says date."""
    return (month <= day <= 6) or (day <= 4 and month <= 4)


def _mostly_upper(text: str) -> bool:
    """Is the note written in capitals (over 60 % of its first 20,000 letters)?"""
    head = text[:20000]
    if head.isascii():  # the same counts, in C
        raw = head.encode("ascii")
        letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
        capitals = len(raw) - len(raw.translate(None, _ASCII_CAPITALS))
    else:
        chars = [c for c in head if c.isalpha()]
        letters = len(chars)
        capitals = sum(c.isupper() for c in chars)
    if not letters:
        return False
    return capitals / letters > 0.6


_ASCII_CAPITALS = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LETTERS = _ASCII_CAPITALS + bytes(range(ord("a"), ord("z") + 1))


# compiled once: a pattern string given to regex.search is looked up in its cache each call
_YEAR = regex.compile(r"(?:19|20)\d{2}")
_CAPITALISED_AFTER = regex.compile(r" [A-Z][a-z]{2,20}\b")
_ABBREVIATION = regex.compile(r"[A-Z]{2,5}")
_WARD_NUMBER = regex.compile(r"\d{1,2}")
_LAST_WORD = regex.compile(r"(\S{1,20})\s{0,3}$")
_LAST_LETTERS = regex.compile(r"([A-Za-z]{1,20})\s{1,3}$")
_FIRST_WORD = regex.compile(r"\s{0,3}([A-Za-z%]{1,20}|\d)")
_VERSION_BEFORE = regex.compile(r"\bv(?:ersion)?\s?$", regex.IGNORECASE)


def _is_lower_word(tok: _Tok) -> bool:
    return tok.text.islower()


def _word_before(text: str, pos: int) -> str:
    m = _LAST_WORD.search(text[max(0, pos - 24) : pos])
    if m is None:
        return ""
    word = m.group(1).lower()
    if word in {"(", ",", "-", ":", "@", "~", "#"}:
        return word
    return word.strip(":,;(")


def _raw_word_before(text: str, pos: int) -> str:
    m = _LAST_LETTERS.search(text[max(0, pos - 24) : pos])
    return m.group(1) if m else ""


def _word_after(text: str, pos: int) -> str:
    m = _FIRST_WORD.match(text[pos : pos + 24])
    return m.group(1).lower() if m else ""


def _number_slash_before(text: str, pos: int) -> bool:
    """True in "120/80/5" style runs, where the match starts after another slash number."""
    return pos > 0 and text[pos - 1] == "/"


def _iban_end(match: str) -> int:
    """Length of the IBAN that opens ``match`` ("GB82 WEST 1234 5698 7654 32", with or without
    spaces) when its ISO 13616 mod-97 check digits hold, trying without a last short group
    the pattern may have taken from the next word ("... 6119 to"); 0 when none holds."""
    candidates = [match]
    head, sep, tail = match.rpartition(" ")
    if sep and len(tail) <= 3:
        candidates.append(head)
    for cand in candidates:
        compact = cand.replace(" ", "").upper()
        if not 15 <= len(compact) <= 34 or not compact[2:4].isdigit():
            continue
        moved = compact[4:] + compact[:4]
        digits = "".join(str(int(c, 36)) for c in moved)
        if int(digits) % 97 == 1:
            return len(cand)
    return 0


def _url_length(url: str) -> int:
    """Length of a URL without the punctuation that ends its sentence or bracket
    ("www.neurology.org)." → "www.neurology.org")."""
    end = len(url)
    while end > 1 and url[end - 1] in ".,;:!?'\")]":
        if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        end -= 1
    return end


def _is_ip_context(text: str, start: int) -> bool:
    return not _VERSION_BEFORE.search(text[max(0, start - 10) : start])


def _merge(found: list[Detection]) -> list[Detection]:
    """Union overlapping spans; the merged span keeps the most specific type."""
    out: list[Detection] = []
    for det in sorted(found, key=lambda d: (d.start, -d.end)):
        if out and det.start < out[-1].end:
            last = out[-1]
            keep = last if _PRIORITY[last.type] <= _PRIORITY[det.type] else det
            out[-1] = Detection(last.start, max(last.end, det.end), keep.type, keep.rule)
        else:
            out.append(det)
    return out
