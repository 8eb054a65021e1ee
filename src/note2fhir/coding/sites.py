"""Site codes: a generic finding's code replaced when the note names a site its category
excludes ("edema in cerebellum" is G93.6 Cerebral edema, not R60.9 Edema, unspecified).

The mention's span often holds only the head word: the site stands before it ("pul edema",
"left optic nerve edema") or after it ("edema of the brain and lungs").  The rules are data
(``resources/site_codes.yaml``); each replacement must be in the terminology store, whose
display is used, so no code or title is written here.  A carcinoma "in situ" right after the
mention loses its malignant code the same way: its own code (D00-D09) is not in the words."""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from note2fhir.coding.candidates import icd_in_place_of
from note2fhir.document import ClinicalDocument, CodeCandidate, Entity
from note2fhir.resources.loader import load_data_file
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

SITE_FILE = "site_codes.yaml"
_BEFORE = re.compile(r"([A-Za-z]+)([ \t/-]{1,3})$")
"""The word right before a position, joined to it by spaces, "/" or "-" only ("CP/pul
edema", "esophago-gastric melanoma"); other punctuation ends the noun phrase."""
_BEFORE_WORDS = 4
_AFTER = re.compile(
    r"[ \t]{1,2}(?:in|of|within|involving)[ \t]{1,2}((?:[A-Za-z]+[ \t]{1,2}){0,2}[A-Za-z]+)",
    re.IGNORECASE,
)
"""Up to three words after the mention's "in/of": "edema in cerebellum", "oedema of the
brain", "edema of the superficial dermis"."""
_MODIFIERS = frozenset(
    {"the", "a", "both", "his", "her", "left", "right", "l", "r", "lt", "rt", "bilateral",
     "bilat", "b", "mild", "moderate", "severe", "diffuse", "focal", "marked", "significant",
     "trace", "minimal", "slight", "acute", "chronic", "new", "worsening", "persistent",
     "extensive", "small", "large", "superficial", "deep", "interstitial", "primary",
     "advanced", "nerve", "matter", "white", "gray", "grey", "fiber", "layer", "margin"}
)  # fmt: skip
"""Words that may stand between a head and its site word ("left optic nerve edema",
"pulmonary interstitial edema"); any other word ends the search ("LUNGS CLEAR BILAT EDEMA"
names no site of the edema, "edema in setting of pulmonary hypertension" neither)."""
_IN_SITU = re.compile(r"[ \t]{1,2}in[ \t-]{1,2}situ\b", re.IGNORECASE)
"""A carcinoma "in situ" right after the mention: no malignant (C) code holds (D00-D09)."""


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
                    title = store.title(ICD10CM, site.code)
                    if title is not None:
                        found = (site.code, title, site.excludes_note or "")
                for word in site.words:
                    sites[word.lower()] = found
            for prefix in rule.generic:
                self.by_prefix[prefix] = sites

    def apply(self, entity: Entity, doc: ClinicalDocument) -> list[CodeCandidate]:
        """``entity.codes`` with a selected generic code replaced by the code of the site the
        note names next to the mention, or unselected when that site has no code here."""
        if _IN_SITU.match(doc.text, entity.end) and any(
            c.system == ICD10CM and c.selected and c.code.startswith("C") for c in entity.codes
        ):  # "cervical carcinoma in situ" is D06.9, which no word here picks: none
            return [replace(c, selected=False) if c.system == ICD10CM else c for c in entity.codes]
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
                reason = (
                    f'the note names the site "{word}", and {cand.code[:3]} '
                    f"excludes {note} [icd10cm:{code}]"
                )
                out.append(icd_in_place_of(cand, code, display, reason))
            out.append(replace(cand, selected=False))
        return out


def _site_word(
    text: str, start: int, end: int, sites: dict[str, tuple[str, str, str] | None]
) -> str | None:
    """The site word of the mention ``text[start:end]``: a word of the mention itself
    ("pulmonary interstitial edema"); for a bare head, the nearest one before it in its noun
    phrase ("CP/pul edema", "left optic nerve edema") or after "in/of" ("edema of the
    brain"), with only modifiers between."""
    inside: list[str] = [w.lower() for w in re.findall(r"[A-Za-z]+", text[start:end])]
    for word in reversed(inside[:-1]):
        if word in sites:
            return word
    if len(inside) != 1:
        return None  # "PEDAL EDEMA", "leg edema": the mention names its own site
    at = start
    for _ in range(_BEFORE_WORDS):
        found = _BEFORE.search(text, max(0, at - 40), at)
        if found is None:
            break
        word = found.group(1).lower()
        if word in sites:
            return word
        if word not in _MODIFIERS:
            break
        at = found.start()
    after = _AFTER.match(text, end)
    if after is not None:
        for word in after.group(1).lower().split():
            if word in sites:
                return word
            if word not in _MODIFIERS:
                break
    return None
