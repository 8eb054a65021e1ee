"""Replacing detected PHI: masks, consistent surrogates and per-patient date shifting.

Surrogates and date offsets are derived from HMAC-SHA256 of the value (or of the patient key)
under a per-deployment secret, so the same real name becomes the same fake name in every note
of a patient, and every date of a patient moves by the same number of days (intervals keep).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import regex

from note2fhir.deid.detect import Detection
from note2fhir.deid.lexicons import Lexicons
from note2fhir.offsets import OffsetMap, OffsetMapBuilder

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DEFAULT_YEAR = 2001  # a year for dates written without one (not a leap year)


def keyed_int(secret: bytes, *parts: str) -> int:
    """A stable 64-bit integer from HMAC-SHA256(secret, parts)."""
    digest = hmac.new(secret, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def date_offset_days(secret: bytes, patient_key: str, min_days: int, max_days: int) -> int:
    """The patient's date shift in days, in ``[min_days, max_days]`` and never 0."""
    span = max_days - min_days + 1
    days = min_days + keyed_int(secret, "date-shift", patient_key) % span
    return days or max_days


@dataclass(frozen=True, slots=True)
class Replacer:
    """Turns detections into replacement strings under one policy."""

    mode: str
    shift_dates: bool
    secret: bytes
    patient_key: str
    offset_days: int
    lex_first: tuple[str, ...]
    lex_last: tuple[str, ...]
    lex_cities: tuple[str, ...]

    @classmethod
    def build(
        cls,
        *,
        mode: str,
        shift_dates: bool,
        secret: bytes,
        patient_key: str,
        offset_days: int,
        lex: Lexicons,
    ) -> Replacer:
        """A replacer with sorted surrogate pools (stable across processes; sorted once
        per process, not per note)."""
        first, last, cities = _pools(lex)
        return cls(
            mode=mode,
            shift_dates=shift_dates,
            secret=secret,
            patient_key=patient_key,
            offset_days=offset_days,
            lex_first=first,
            lex_last=last,
            lex_cities=cities,
        )

    def replacement(self, value: str, phi_type: str) -> str:
        """The text that stands for ``value`` in the output."""
        if phi_type == "DATE" and (self.shift_dates or self.mode == "surrogate"):
            shifted = shift_date(value, self.offset_days)
            if shifted is not None:
                return shifted
        if self.mode == "mask":
            return f"[{phi_type}]"
        return self._surrogate(value, phi_type)

    def _pick(self, pool: tuple[str, ...], *parts: str) -> str:
        return pool[keyed_int(self.secret, self.patient_key, *parts) % len(pool)]

    def _surrogate(self, value: str, phi_type: str) -> str:
        if phi_type == "NAME":
            words = _NAME_PARTS.findall(value)
            out = []
            for index, word in enumerate(words):
                if not word[0].isalpha():
                    out.append(word)
                elif len(word) == 1:
                    out.append(
                        chr(
                            ord("A")
                            + keyed_int(self.secret, self.patient_key, "initial", word.lower()) % 26
                        )
                    )
                else:
                    pool = self.lex_first if index == 0 and len(words) > 1 else self.lex_last
                    out.append(_case_like(self._pick(pool, "name", word.lower()), word))
            return "".join(out)
        if phi_type in {"LOCATION", "HOSPITAL"}:
            if any(ch.isdigit() for ch in value):
                return _digits_like(value, self.secret, self.patient_key)
            city = _case_like(self._pick(self.lex_cities, "place", value.lower()), value)
            return f"{city} Hospital" if phi_type == "HOSPITAL" else city
        if phi_type == "EMAIL":
            user = self._pick(self.lex_last, "email", value.lower())
            return f"{user}@example.org"
        if phi_type == "URL":
            return f"https://example.org/{keyed_int(self.secret, 'url', value) % 10**6:06d}"
        if phi_type == "IP":
            return f"192.0.2.{keyed_int(self.secret, 'ip', value) % 254 + 1}"
        if phi_type == "AGE":
            return "90"
        if phi_type == "DATE":
            return "[DATE]"
        return _digits_like(value, self.secret, self.patient_key)


@lru_cache(maxsize=4)
def _pools(lex: Lexicons) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The first-name, surname and city pools of ``lex`` (cached: sorting them costs
    ~15 ms, more than detecting PHI in a note)."""
    return _pool(lex.first_names), _pool(lex.common_surnames), _pool(lex.cities)


def _pool(words: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(w for w in words if w.isalpha() and len(w) >= 3))


def _case_like(word: str, model: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model.islower():
        return word.lower()
    return word.capitalize()


def _digits_like(value: str, secret: bytes, key: str) -> str:
    """Same shape, other characters: digits for digits, letters for letters."""
    seed = keyed_int(secret, key, "digits", value)
    out = []
    for index, ch in enumerate(value):
        step = (seed >> (index % 48)) + index * 7
        if ch.isdigit():
            out.append(str(step % 10))
        elif ch.isalpha():
            letter = chr(ord("A") + step % 26)
            out.append(letter if ch.isupper() else letter.lower())
        else:
            out.append(ch)
    return "".join(out)


_NUMERIC = regex.compile(r"^(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{2}|\d{4}))?$")
_ISO = regex.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WORDY = regex.compile(
    r"^(?:(?P<m1>[A-Za-z]{3,9})\.?\s+(?P<d1>\d{1,2})(?P<o1>st|nd|rd|th)?"
    r"|(?P<d2>\d{1,2})(?P<o2>st|nd|rd|th)?(?P<of>\s+of)?\s+(?P<m2>[A-Za-z]{3,9})\.?)"
    r"(?P<sep>,?\s+)?(?P<y>\d{4})?$",
    regex.IGNORECASE,
)
_YEAR = regex.compile(r"(?:19|20)\d{2}")
_MONTH_YEAR = regex.compile(r"([A-Za-z]{3,9})\.?,?\s+(\d{4})")
_NAME_PARTS = regex.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*|\W+")


def shift_date(value: str, days: int) -> str | None:
    """``value`` moved by ``days``, in the same format ("7/22" → "9/3"), or None when the
    text is not a date this function can read (a lone year moves with its July 1st)."""
    text = value.strip()
    m = _NUMERIC.match(text)
    if m:
        month, day, sep, year_text = int(m[1]), int(m[3]), m[2], m[4]
        year = _full_year(year_text) if year_text else _DEFAULT_YEAR
        moved = _move(year, month, day, days)
        if moved is None:
            return None
        model = "00" if m[1].startswith("0") or m[3].startswith("0") else "0"
        out = f"{_pad(moved.month, model)}{sep}{_pad(moved.day, model)}"
        if year_text:
            out += sep + (str(moved.year) if len(year_text) == 4 else f"{moved.year % 100:02d}")
        return out
    m = _ISO.match(text)
    if m:
        moved = _move(int(m[1]), int(m[2]), int(m[3]), days)
        return (
            None
            if moved is None
            else f"{moved.year:04d}-{_pad(moved.month, m[2])}-{_pad(moved.day, m[3])}"
        )
    m = _WORDY.match(text)
    if m:
        month_text = m["m1"] or m["m2"]
        month_no = _month_number(month_text)
        day_text = m["d1"] or m["d2"]
        if month_no is None:
            return None
        year = int(m["y"]) if m["y"] else _DEFAULT_YEAR
        moved = _move(year, month_no, int(day_text), days)
        if moved is None:
            return None
        name = _case_like(MONTHS[moved.month - 1], month_text)
        if len(month_text.rstrip(".")) <= 4 and month_text.lower() not in MONTHS:
            name = name[:3]
        ordinal = _ordinal(moved.day) if (m["o1"] or m["o2"]) else ""
        year_out = f"{m['sep'] or ' '}{moved.year}" if m["y"] else ""
        if m["m1"]:
            return f"{name} {moved.day}{ordinal}{year_out}"
        return f"{moved.day}{ordinal}{m['of'] or ''} {name}{year_out}"
    weekday = _weekday_number(text)
    if weekday is not None:
        return _case_like(WEEKDAYS[(weekday + days) % 7], text)
    if _YEAR.fullmatch(text):
        moved = _move(int(text), 7, 1, days)
        return None if moved is None else str(moved.year)
    m = _MONTH_YEAR.fullmatch(text)
    month_number = _month_number(m[1]) if m else None
    if m and month_number is not None:
        moved = _move(int(m[2]), month_number, 15, days)
        return (
            None if moved is None else f"{_case_like(MONTHS[moved.month - 1], m[1])} {moved.year}"
        )
    return None


def _weekday_number(text: str) -> int | None:
    low = text.lower()
    return WEEKDAYS.index(low) if low in WEEKDAYS else None


def _month_number(text: str) -> int | None:
    low = text.lower().rstrip(".")
    for index, name in enumerate(MONTHS):
        if len(low) >= 3 and name.startswith(low[:3]) and (low == name or len(low) <= 4):
            return index + 1
    return None


def _full_year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    value = int(text)
    return 2000 + value if value < 50 else 1900 + value


def _move(year: int, month: int, day: int, days: int) -> date | None:
    try:
        return date(year, month, day) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def _pad(value: int, model: str) -> str:
    return f"{value:02d}" if len(model) == 2 and model.startswith("0") else str(value)


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def apply(
    text: str, detections: list[Detection], replacer: Replacer
) -> tuple[str, OffsetMap, list[tuple[int, int, str]]]:
    """The de-identified text, its map onto ``text`` and the replacement spans (in the new
    text, each mapping back to the whole original PHI span)."""
    builder = OffsetMapBuilder()
    spans: list[tuple[int, int, str]] = []
    pos = 0
    new_len = 0
    for det in detections:
        builder.copy(text, pos, det.start)
        new_len += det.start - pos
        value = replacer.replacement(text[det.start : det.end], det.type)
        builder.replace(value, det.start, det.end)
        spans.append((new_len, new_len + len(value), det.type))
        new_len += len(value)
        pos = det.end
    builder.copy(text, pos, len(text))
    new_text, omap = builder.build(len(text))
    return new_text, omap, spans
