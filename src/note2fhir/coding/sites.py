"""Site codes: a generic finding's code replaced when the note names a site its category
excludes ("edema in cerebellum" is G93.6 Cerebral edema, not R60.9 Edema, unspecified).

The mention's span often holds only the head word: the site stands before it ("pul edema",
"left optic nerve edema") or after it ("edema of the brain and lungs").  The rules are data
(``resources/site_codes.yaml``); each replacement must be in the terminology store, whose
display is used, so no code or title is written here."""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

SITE_FILE = "site_codes.yaml"
_WORD = re.compile(r"[A-Za-z]+")
_BEFORE_WORDS = 3
"""Words before the mention that may name its site ("left optic nerve edema")."""
_BEFORE_STOP = re.compile(r"[,;:.()\n]|\b(?:and|or|with|without|no|not|but)\b", re.I)
"""What ends the mention's noun phrase on its left: "lungs clear, no edema" names no site."""
_AFTER = re.compile(
    r"[ \t]{1,2}(?:in|of|within|involving)[ \t]{1,2}((?:[A-Za-z]+[ \t]{1,2}){0,2}[A-Za-z]+)",
    re.IGNORECASE,
)
"""Up to three words after the mention's "in/of": "edema in cerebellum", "oedema of the
brain", "edema of the superficial dermis"."""


class SiteRule(BaseModel):
    """Site words, and the code their category's Excludes1 note sends them to (None: none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[str]
    code: str | None
    excludes_note: str | None = None


class GenericRule(BaseModel):
    """Generic categories (code prefixes) and the sites they do not cover."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generic: list[str]
    sites: list[SiteRule]


class SiteRules(BaseModel):
    """The contents of ``site_codes.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: list[GenericRule]


def load_site_rules() -> SiteRules:
    """The packaged site-code rules (validated; unknown keys are an error)."""
    return load_data_file(SITE_FILE, SiteRules)


class SiteCodes:
    """The rules, by generic prefix and site word; a site whose code the store lacks keeps
    no code (the generic one stays an alternative)."""

    def __init__(self, rules: SiteRules, store: TerminologyStore) -> None:
        self.by_prefix: dict[str, dict[str, tuple[str, str, str] | None]] = {}
        for rule in rules.rules:
            sites: dict[str, tuple[str, str, str] | None] = {}
            for site in rule.sites:
                found = None
                if site.code is not None:
                    concept = store.concept(f"icd10cm:{site.code}")
                    if concept is not None:
                        found = (site.code, concept.preferred, site.excludes_note or "")
                for word in site.words:
                    sites[word.lower()] = found
            for prefix in rule.generic:
                self.by_prefix[prefix] = sites

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected generic code replaced by the code of the site the
        note names next to the mention, or unselected when that site has no code here."""
        generic = next(
            (
                c
                for c in entity.codes
                if c.system == ICD10CM and c.selected and c.code[:3] in self.by_prefix
            ),
            None,
        )
        if generic is None:
            return entity.codes
        sites = self.by_prefix[generic.code[:3]]
        word = _site_word(doc.text, entity.start, entity.end, sites)
        if word is None:
            return entity.codes
        target = sites[word]
        out: list[CodeCandidate] = []
        for cand in entity.codes:
            if cand is not generic:
                if target is None or (cand.system, cand.code) != (ICD10CM, target[0]):
                    out.append(cand)
                continue
            if target is not None:
                code, display, note = target
                out.append(
                    CodeCandidate(
                        system=ICD10CM,
                        code=code,
                        display=display,
                        score=cand.score,
                        reason=f'the note names the site "{word}", and {cand.code[:3]} '
                        f"excludes {note} [icd10cm:{code}]",
                        selected=True,
                    )
                )
            out.append(replace(cand, selected=False))
        return out


def _site_word(
    text: str, start: int, end: int, sites: dict[str, tuple[str, str, str] | None]
) -> str | None:
    """The site word nearest the mention: in the mention itself ("pulmonary interstitial
    edema"), in its noun phrase before it, or after "in/of" right after it."""
    before = text[max(0, start - 60) : start]
    stops = [m.end() for m in _BEFORE_STOP.finditer(before)]
    if stops:
        before = before[stops[-1] :]
    words: list[str] = [w.lower() for w in _WORD.findall(before)][-_BEFORE_WORDS:]
    words += [w.lower() for w in _WORD.findall(text[start:end])][:-1]
    for word in reversed(words):
        if word in sites:
            return word
    after = _AFTER.match(text, end)
    if after is not None:
        following: list[str] = after.group(1).lower().split()
        for word in following:
            if word in sites:
                return word
    return None
