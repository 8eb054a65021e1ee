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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import regex

from note2fhir.deid.lexicons import DeidRules, Lexicons

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


@dataclass(frozen=True, slots=True)
class _Tok:
    start: int
    end: int
    text: str
    low: str

    @property
    def alpha(self) -> bool:
        return self.text[0].isalpha()

    @property
    def title(self) -> bool:
        return self.text[0].isupper() and not self.text.isupper()


_TOKEN = regex.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_])){0,40}|\d{1,40}|\S")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_FLAGS = regex.IGNORECASE | regex.VERSION0


def _words(items: Iterable[str]) -> str:
    ordered = sorted({regex.escape(w) for w in items}, key=len, reverse=True)
    return "(?:" + "|".join(w.replace(r"\ ", r"\s+") for w in ordered) + ")"


@dataclass
class Detector:
    """Finds PHI in a note; built once per process from the rules and dictionaries."""

    rules: DeidRules
    lex: Lexicons
    protected: frozenset[str] = frozenset()
    _sets: dict[str, frozenset[str]] = field(default_factory=dict, init=False)
    _patterns: list[tuple[str, str, regex.Pattern[str]]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        r = self.rules
        for name in (
            "titles",
            "credentials",
            "relatives",
            "person_cues",
            "not_names",
            "value_after",
            "value_before",
            "facility_prefixes",
        ):
            self._sets[name] = frozenset(w.lower() for w in getattr(r, name))
        self._sets["to_from"] = frozenset({"to", "from", "into", "at"})
        self._sets["facility_verbs"] = frozenset(w.lower() for w in r.facility_verbs)
        self._sets["facility_single"] = frozenset(w for w in r.facility_words if " " not in w)
        self.protected = self.protected | frozenset(w.lower() for w in r.protected)
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
                    r"(?<![\w/])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
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
                "ID",
                "id-cue",
                regex.compile(
                    r"\b" + _words(r.id_cues) + r"\s{0,3}(?:(?:#|no\.?|number|num|:)\s{0,3}){0,3}"
                    r"(?P<v>(?=[A-Za-z0-9-]{0,20}\d)[A-Za-z0-9][A-Za-z0-9-]{3,24})\b",
                    _FLAGS,
                ),
            ),
            ("ID", "long-number", regex.compile(r"(?<![\d.,/])\d{7,}(?![\d.,/])")),
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
            (
                "DATE",
                "iso",
                regex.compile(
                    r"(?<![\d-])(?P<y>(?:19|20)\d{2})-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)(?![\d-])"
                ),
            ),
            (
                "DATE",
                "numeric",
                regex.compile(
                    r"(?<![\d/.-])(?P<m>[01]?\d)(?P<s>[/.-])(?P<d>[0-3]?\d)(?:(?P=s)(?P<y>(?:19|20)?\d{2}))?"
                    r"(?![\d/]|[.-]\d|%)"
                ),
            ),
            (
                "DATE",
                "year",
                regex.compile(r"(?<![\d/.:#@-])(?:19[0-9]{2}|20[0-4][0-9])(?![\d/:%])"),
            ),
            ("DATE", "short-year", regex.compile(r"(?<=[A-Za-z]\s{0,2})'\d{2}\b")),
        ]

    # -- public ---------------------------------------------------------------------------

    def common(self, low: str) -> bool:
        """Is ``low`` an ordinary English word (or an inflection of one)?"""
        english = self.lex.english
        if low in english:
            return True
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
        found.extend(self._regexes(text, deadline))
        tokens = [
            _Tok(m.start(), m.end(), m.group(), m.group().lower())
            for m in self._run(_TOKEN, text, deadline)
        ]
        upper = _mostly_upper(text)
        found.extend(self._names(text, tokens, upper, deadline))
        found.extend(self._places(text, tokens, upper, deadline))
        found = _merge(found)
        found.extend(self._propagate(text, tokens, found, deadline))
        return _merge(found)

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

    def _regexes(self, text: str, deadline: float) -> Iterator[Detection]:
        for phi_type, rule, pattern in self._patterns:
            for m in self._run(pattern, text, deadline):
                start, end = m.span("v") if "v" in m.groupdict() and m.group("v") else m.span()
                if phi_type == "DATE" and not self._date_ok(text, m, rule):
                    continue
                if rule == "ipv4" and not _is_ip_context(text, m.start()):
                    continue
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
            if not year:
                if before in self._sets["value_before"] or after in self._sets["value_after"]:
                    return False
                if (month, day) == (2, 2) or text[m.end() : m.end() + 1] == "+":
                    return False
                if before.isdigit() or _number_slash_before(text, m.start()):
                    return False
            return True
        if rule == "year":
            if before in {"at", "@", "by", "q", "x", "~", "until", "till", "from", "to", "and"}:
                return before == "from" and after not in {"to", "-"}
            if after in self._sets["value_after"] or after in {"hrs", "h", "kcal", "units", "to"}:
                return False
            nxt = text[m.end() : m.end() + 2].strip()
            if nxt[:1] in {"-", ":"} or before in {"-", ":"}:
                return False
            return (
                before
                in {
                    "in",
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
                or regex.fullmatch(r"[A-Z]{2,5}", _raw_word_before(text, m.start())) is not None
                or _MONTH_RE.fullmatch(before) is not None
            ) and before not in self._sets["value_before"]
        return True

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

    def _extend(self, tokens: list[_Tok], i: int, upper: bool, step: int, limit: int = 3) -> int:
        """From name token ``i`` take more name tokens in direction ``step``; last index."""
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
            if is_initial or (
                self._name_like(tok, "weak", upper)
                and (tok.title or tok.text.isupper() or tok.low in self.lex.surnames)
                and tok.low not in self.protected
            ):
                last = j
                taken += 1
                j += step
                continue
            break
        return last

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
            if nxt < n and tokens[nxt].text in {".", ":", ","}:
                nxt += 1
            if (
                low in s["titles"]
                and nxt < n
                and _gap(tokens, i, nxt) <= 2
                and tokens[i + 1].text != ":"
                and not (low == "ms" and not tok.title)
            ):
                first = tokens[nxt]
                if (
                    first.alpha
                    and len(first.text) == 1
                    and nxt + 1 < n
                    and tokens[nxt + 1].text == "."
                ) or self._name_like(first, "strong", upper):
                    end = self._extend(tokens, nxt, upper, 1)
                    yield Detection(first.start, tokens[end].end, "NAME", "title")
                continue
            if (
                low in s["credentials"]
                and i > 0
                and not (low == "pt" and not upper and tok.text != "PT")
            ):
                prev = i - 1
                if tokens[prev].text == ",":
                    prev -= 1
                if prev >= 0 and _same_line(text, tokens[prev].end, tok.start):
                    cand = tokens[prev]
                    if self._name_like(cand, "medium", upper) and (
                        cand.title or cand.text.isupper() or cand.low in self.lex.surnames
                    ):
                        begin = self._extend(tokens, prev, upper, -1)
                        yield Detection(tokens[begin].start, cand.end, "NAME", "signature")
                continue
            if low in s["relatives"] and nxt < n and _gap(tokens, i, nxt) <= 3:
                cand = tokens[nxt]
                if (
                    self._name_like(cand, "medium", upper)
                    and cand.low not in s["relatives"]
                    and len(cand.low) >= 3
                ):
                    end = self._extend(tokens, nxt, upper, 1)
                    yield Detection(cand.start, tokens[end].end, "NAME", "relative")
                    continue
            if low in s["relatives"] and i >= 2 and tokens[i - 1].text in {"(", ","}:
                cand = tokens[i - 2]
                if self._name_like(cand, "medium", upper) and (
                    cand.title or cand.low in self.lex.first_names
                ):
                    begin = self._extend(tokens, i - 2, upper, -1)
                    yield Detection(tokens[begin].start, cand.end, "NAME", "relative")
                    continue
            if low in s["person_cues"] and nxt < n:
                cand = tokens[nxt]
                if (
                    self._name_like(cand, "weak", upper)
                    and len(cand.low) >= 3
                    and (cand.low in self.lex.first_names or cand.low in self.lex.surnames)
                ):
                    end = self._extend(tokens, nxt, upper, 1)
                    yield Detection(cand.start, tokens[end].end, "NAME", "person-cue")
                    continue
            # A capitalised first name followed by a surname, both from the Census lists.
            if not upper and tok.title and i + 1 < n and _gap(tokens, i, i + 1) == 1:
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
                i + 1 < n and f"{low} {tokens[i + 1].low}" in self.rules.facility_words
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
                if j < n:
                    cand = tokens[j]
                    if (
                        cand.alpha
                        and cand.low not in s["not_names"]
                        and cand.low not in self.protected
                        and not self.common(cand.low)
                        and (cand.title or cand.text.isupper() or cand.low not in lex.english)
                    ):
                        end = self._extend(tokens, j, upper, 1, limit=2)
                        yield Detection(cand.start, tokens[end].end, "HOSPITAL", "facility-cue")
                        continue
            # "St. Elizabeth's", "Sacred Heart", "Holy Cross", "Mount Auburn"
            if low in s["facility_prefixes"] and i + 1 < n:
                j = i + 1
                if tokens[j].text == "." and j + 1 < n:
                    j += 1
                cand = tokens[j]
                if (
                    cand.alpha
                    and cand.low not in s["not_names"]
                    and (cand.title or upper or cand.text.isupper())
                ):
                    if low in {"st", "saint"} and (
                        upper or not cand.title or (i > 0 and tokens[i - 1].title)
                    ):
                        continue  # "ST depression"; "Main St" is found by the address rule
                    if low in {"sacred", "holy"} and cand.low not in {
                        "heart",
                        "cross",
                        "family",
                        "name",
                        "spirit",
                        "redeemer",
                        "trinity",
                    }:
                        continue
                    yield Detection(tok.start, cand.end, "HOSPITAL", "facility-prefix")
                    continue
            # cities and states from the dictionaries
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
                    or (self._location_cue(tokens, i) and (cap or upper or name not in lex.english))
                ):
                    end = part[-1].end
                    if followed_by_state:
                        end = tokens[i + size + 1].end
                    yield Detection(part[0].start, end, "LOCATION", "city")
                    break

    def _location_cue(self, tokens: list[_Tok], i: int) -> bool:
        before = " ".join(t.low for t in tokens[max(0, i - 2) : i])
        return any(before.endswith(cue) for cue in self.rules.location_cues)

    def _propagate(
        self, text: str, tokens: list[_Tok], found: list[Detection], deadline: float
    ) -> Iterator[Detection]:
        """A word found as a name or place once is PHI wherever else it occurs in the note
        ("Dr. Rakusin ... called rakusin"), unless it is a common or clinical word."""
        words: dict[str, str] = {}
        for det in found:
            if det.type not in {"NAME", "HOSPITAL", "LOCATION"}:
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
                    words.setdefault(low, det.type)
        if time.monotonic() > deadline:
            raise DeidTimeoutError
        for tok in tokens:
            phi_type = words.get(tok.low)
            if phi_type is not None:
                yield Detection(tok.start, tok.end, phi_type, "propagated")


_MONTH_RE = regex.compile(_MONTH + r"\.?", regex.IGNORECASE)


def _mostly_upper(text: str) -> bool:
    letters = [c for c in text[:20000] if c.isalpha()]
    if not letters:
        return False
    return sum(c.isupper() for c in letters) / len(letters) > 0.6


def _is_lower_word(tok: _Tok) -> bool:
    return tok.text.islower()


def _gap(tokens: list[_Tok], a: int, b: int) -> int:
    """Characters between two tokens (a before b)."""
    return tokens[b].start - tokens[a].end


def _same_line(text: str, a: int, b: int) -> bool:
    return "\n" not in text[a:b]


def _word_before(text: str, pos: int) -> str:
    m = regex.search(r"(\S{1,20})\s{0,3}$", text[max(0, pos - 24) : pos])
    if m is None:
        return ""
    word = m.group(1).lower()
    if word in {"(", ",", "-", ":", "@", "~", "#"}:
        return word
    return word.strip(":,;(")


def _raw_word_before(text: str, pos: int) -> str:
    m = regex.search(r"([A-Za-z]{1,20})\s{1,3}$", text[max(0, pos - 24) : pos])
    return m.group(1) if m else ""


def _word_after(text: str, pos: int) -> str:
    m = regex.match(r"\s{0,3}([A-Za-z%]{1,20}|\d)", text[pos : pos + 24])
    return m.group(1).lower() if m else ""


def _number_slash_before(text: str, pos: int) -> bool:
    """True in "120/80/5" style runs, where the match starts after another slash number."""
    return pos > 0 and text[pos - 1] == "/"


def _is_ip_context(text: str, start: int) -> bool:
    return not regex.search(
        r"\bv(?:ersion)?\s?$", text[max(0, start - 10) : start], regex.IGNORECASE
    )


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
