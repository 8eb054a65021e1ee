"""ICD-10-CM from the tabular list bundled with the ``simple_icd_10_cm`` package.

The package (MIT licence) ships the CDC/NCHS April 1, 2026 release of the ICD-10-CM tabular
list and builds from it every valid code, including the seventh-character extensions
(``S72.001A``) that the XML only describes in ``sevenChrDef`` notes; we read codes through its
API rather than re-implementing those rules.  Each code becomes a concept ``icd10cm:<code>``
whose preferred term is the code's title; inclusion terms and a category's "includes" notes
are its synonyms, and ICD conventions give short variants: parenthesised words are
nonessential modifiers and a trailing "NOS" or ", unspecified" names the default code, so
"Stroke NOS" under I63.9 also indexes "stroke".

Two kinds of inclusion term are read only in their code's context and are left out, since
alone they would name the wrong condition (see :func:`context_only`): a term that is the
title of a code in another category ("Polyneuropathy" under A69.22 "Other neurologic
disorders in Lyme disease" is G62.9), and a bare substance under a substance-related category
("caffeine" under F15 "Other stimulant related disorders", "Cocaine (topical)" under T41.3).

Each Excludes1 note that ends with codes in brackets ("diabetes mellitus (E08-E13)" under R73)
becomes ``excludes1`` crosswalk rows from the code holding it (a block's or chapter's note from
each of its categories) to every code it names, at the level it names them (a range of
categories gives each category, "I69.35-" gives I69.35), the note's text as the rule: the
``coding`` stage reads them to keep apart codes the classification never reports together.

>>> # with ArtifactWriter(folder) ...: load_icd10cm(writer)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as package_version
from types import ModuleType

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import ICD10CM
from terminology.writer import ArtifactWriter

SOURCE = "icd10cm"
VERSION = "2026 (April 1, 2026 release)"
RELEASE_DATE = "2026-04-01"
EXTERNAL_CAUSES_CHAPTER = "20"
"""Chapter 20, V00-Y99: external causes describe how an injury happened, not a problem."""

LICENSE = (
    "ICD-10-CM is in the public domain (a US government work of the CDC National Center for "
    "Health Statistics, published with CMS). Read from the simple_icd_10_cm package "
    "(https://github.com/StefanoTrv/simple_icd_10_CM), MIT License, (c) 2021-2026 Stefano "
    "Travasci."
)
DESCRIPTION = (
    "ICD-10-CM tabular list, April 1, 2026 release: every valid code (categories, "
    "subcategories and seventh-character extensions) with its title, inclusion terms and "
    "includes notes."
)

_PARENTHESISED = re.compile(r"\s*\([^()]*\)")
_BRACKETED = re.compile(r"\s*\[[^\[\]]*\]")
_LEADING_UNSPECIFIED = re.compile(r"^Unspecified\s+(?=[a-z])")
_KIDNEY = re.compile(r"\b([Kk])idney(?=\s+(?:failure|disease|insufficiency)\b)")
_TRAILING_NOS = re.compile(r"\s+NOS$")
_TRAILING_DEFAULT = re.compile(r",\s*(?:unspecified|unspecified organism|site not specified)$")
_SPACES = re.compile(r"\s+")
_BRACKETS = re.compile(r"\(([^()]*)\)")
_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
_EXCLUDED_ITEM = re.compile(
    rf"(?P<first>{_CODE})(?:\.?-)?"
    rf"(?:[ \t]*-[ \t]*(?P<last>{_CODE})(?:\.?-)?)?"
    r"(?:[ \t]+with[ \t]+(?P<suffix>\.[0-9A-Z]{1,4})-?)?"
)
_ITEM_SPLIT = re.compile(r"[ \t]*(?:,|\band\b)[ \t]*")
EXCLUDES1 = "excludes1"
"""The crosswalk relation of an Excludes1 note (from the code holding it to a code it names)."""
_WORDS = re.compile(r"[a-z]+")

SUBSTANCE_CATEGORIES = (("F10", "F19"), ("T36", "T65"))
"""Mental and behavioural disorders due to psychoactive substance use, and poisoning / toxic
effects: their notes list the substances the category covers."""
CONDITION_WORDS = frozenset(
    [
        "abuse",
        "addiction",
        "asphyxiation",
        "bite",
        "delirium",
        "dependence",
        "disorder",
        "disorders",
        "effect",
        "effects",
        "induced",
        "ingestion",
        "inhalation",
        "intoxication",
        "overdose",
        "poisoning",
        "psychosis",
        "reaction",
        "syndrome",
        "toxic",
        "toxicity",
        "underdosing",
        "use",
        "withdrawal",
    ]
)
"""A note under a substance category that names a condition says so with one of these."""


@cache
def _package() -> ModuleType:
    # Importing the package parses the 10 MB tabular XML (about 1.5 s): do it once, on use.
    import simple_icd_10_cm  # noqa: PLC0415

    module: ModuleType = simple_icd_10_cm
    return module


def _with_dot(code: str) -> str:
    bare = code.replace(".", "")
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def icd10cm_codes() -> list[str]:
    """Every ICD-10-CM code (no chapters or blocks), dotted, in tabular order.

    >>> icd10cm_codes()[:3]
    ['A00', 'A00.0', 'A00.1']
    """
    cm = _package()
    seen: set[str] = set()
    codes: list[str] = []
    for name in cm.get_all_codes(True):
        # A block holding one category shares its name (B10): keep the category once.
        if name in seen or not cm.is_category_or_subcategory(name):
            continue
        seen.add(name)
        codes.append(name)
    return codes


def icd10cm_code_exists(code: str) -> bool:
    """Whether ``code`` is an ICD-10-CM code in its FHIR (dotted) form.

    >>> icd10cm_code_exists("E11.21"), icd10cm_code_exists("E1121"), icd10cm_code_exists("E11.99")
    (True, False, False)
    """
    cm = _package()
    return code == _with_dot(code) and bool(cm.is_category_or_subcategory(code))


def icd10cm_description(code: str) -> str | None:
    """The title of an ICD-10-CM code (``"Essential (primary) hypertension"`` for I10)."""
    if not icd10cm_code_exists(code):
        return None
    return str(_package().get_description(code))


def icd10cm_is_billable(code: str) -> bool:
    """Whether a code is valid for billing (a leaf: E11.9 is, E11 is not)."""
    return icd10cm_code_exists(code) and bool(_package().is_leaf(code))


@dataclass(frozen=True, slots=True)
class Excluded:
    """Codes an Excludes1 note names: ``first`` to ``last`` at their level (one code when
    they are equal), each with ``suffix`` appended when it has one ("E08-E13 with .42" is
    E08.42, E09.42, E10.42, E11.42 and E13.42)."""

    first: str
    last: str
    suffix: str = ""


def excludes1_targets(note: str) -> tuple[Excluded, ...]:
    """The codes an Excludes1 note names in its last bracket of codes, in order.

    An item is a code ("E11.649"), a code and its children ("O24.-", "I69.35-"), a range
    ("E08-E13", "J70.2-J70.4") or a range with a suffix ("E08-E13 with .42"); items are
    separated by commas or "and".  Other items ("I69. with final characters -23", "V01-V09
    with 5th character 9") say more than a code and are left out.  A note without codes
    ("sepsis-code to specified infection") names none.

    >>> excludes1_targets("diabetes mellitus (E08-E13)")
    (Excluded(first='E08', last='E13', suffix=''),)
    >>> [t.first for t in excludes1_targets("diabetes with hypoglycemia (E08.649, E11.649)")]
    ['E08.649', 'E11.649']
    >>> excludes1_targets("hemiplegia ... (I69.35-)")
    (Excluded(first='I69.35', last='I69.35', suffix=''),)
    >>> excludes1_targets("personal history of (PRIND) (Z86.73)")[0].first
    'Z86.73'
    >>> excludes1_targets("sepsis-code to specified infection")
    ()
    """
    for group in reversed(_BRACKETS.findall(note)):
        found: list[Excluded] = []
        for item in _ITEM_SPLIT.split(group.strip()):
            match = _EXCLUDED_ITEM.fullmatch(item)
            if match is not None:
                first = match["first"]
                found.append(Excluded(first, match["last"] or first, match["suffix"] or ""))
        if found:
            return tuple(found)
    return ()


def expand_excluded(target: Excluded, position: dict[str, int], order: list[str]) -> list[str]:
    """The codes ``target`` names, given every code's ``position`` in tabular ``order``: the
    codes from ``first`` to ``last`` at ``first``'s level (its length), each with the
    suffix when the release has that code.  Unknown bounds name nothing.

    >>> order = ["E08", "E08.42", "E09", "E10", "E10.42", "E11", "E11.42"]
    >>> pos = {c: i for i, c in enumerate(order)}
    >>> expand_excluded(Excluded("E08", "E10"), pos, order)
    ['E08', 'E09', 'E10']
    >>> expand_excluded(Excluded("E08", "E11", ".42"), pos, order)
    ['E08.42', 'E10.42', 'E11.42']
    """
    low, high = position.get(target.first), position.get(target.last)
    if low is None or high is None or high < low:
        return []
    level = len(target.first)
    codes = [c for c in order[low : high + 1] if len(c) == level]
    if target.suffix:
        codes = [s for c in codes if (s := c + target.suffix) in position]
    return codes


def term_variants(term: str, *, strip_unspecified: bool = False) -> list[str]:
    """Shorter names ICD-10-CM conventions imply, besides ``term`` itself.

    Parenthesised words are nonessential modifiers and square brackets hold a synonym or an
    explanation, so both may be left out; a trailing "NOS", and in a title a trailing
    ", unspecified" or a leading "Unspecified", mark the default code of what remains.  The
    2026 titles say "kidney failure/disease/insufficiency" where notes (and the alphabetic
    index's "Failure, renal - see Failure, kidney") say "renal": a variant says it that way.

    >>> term_variants("hypertension (arterial) (benign) (essential)")
    ['hypertension']
    >>> term_variants("Stroke NOS")
    ['Stroke']
    >>> term_variants("Pneumonia, unspecified organism", strip_unspecified=True)
    ['Pneumonia']
    >>> term_variants("Sinus [sinusal] tachycardia NOS")
    ['Sinus tachycardia']
    >>> term_variants("Unspecified kidney failure", strip_unspecified=True)
    ['kidney failure', 'renal failure']
    >>> term_variants("Acute kidney failure, unspecified", strip_unspecified=True)
    ['Acute kidney failure', 'Acute renal failure']
    """
    variants: list[str] = []
    current = term
    while True:
        stripped = _BRACKETED.sub("", _PARENTHESISED.sub("", current))
        if stripped == current:
            break
        current = stripped
    current = _TRAILING_NOS.sub("", current)
    if strip_unspecified:
        current = _LEADING_UNSPECIFIED.sub("", _TRAILING_DEFAULT.sub("", current))
    current = _SPACES.sub(" ", current).strip(" ,;")
    if current and current != term.strip():
        variants.append(current)
    renal = _KIDNEY.sub(lambda m: "Renal" if m[1] == "K" else "renal", current)
    if renal != current:
        variants.append(renal)
    return variants


def context_only(
    code: str, term: str, titles: dict[str, frozenset[str]], norm: Callable[[str], str]
) -> bool:
    """Whether an inclusion term (or one of its variants) of ``code`` names a condition only
    in the code's context.

    ``titles`` maps each normalised title and title variant of every code to the 3-character
    categories holding it; ``norm`` normalises.  A term that is the title of a code in another
    category belongs there ("Syphilis NOS" under A52.3 Neurosyphilis is A53.9), except under a
    congenital anomaly (chapter 17), whose inclusion names the form the index gives first
    ("Coloboma of optic disc" is Q14.2; H47.31 is the acquired one).  A note under a
    substance-related category that names no condition is the substance ("PCP" under F16 is
    no hallucinogen disorder).

    >>> titles = {"polyneuropathy": frozenset({"G62"})}
    >>> context_only("A69.22", "Polyneuropathy", titles, str.lower)
    True
    >>> context_only("G62.9", "Polyneuropathy", titles, str.lower)
    False
    >>> context_only("F15", "caffeine", {}, str.lower)
    True
    >>> context_only("F15", "amphetamine-related disorders", {}, str.lower)
    False
    >>> context_only("F11.921", "Opioid-induced delirium", {}, str.lower)
    False
    >>> coloboma = {"coloboma of optic disc": frozenset({"H47"})}
    >>> context_only("Q14.2", "Coloboma of optic disc", coloboma, str.lower)
    False
    """
    category = code[:3]
    if any(low <= category <= high for low, high in SUBSTANCE_CATEGORIES) and not (
        CONDITION_WORDS & set(_WORDS.findall(term.lower()))
    ):
        return True
    if code.startswith("Q"):
        return False
    return bool(titles.get(norm(term), frozenset()) - {category})


def _title_categories(
    records: list[tuple[str, str, str, str, list[str], list[str]]],
    normalize: Callable[[str], str],
) -> dict[str, frozenset[str]]:
    """Normalised title (and title variant) → the 3-character categories it is the title of."""
    found: dict[str, set[str]] = {}
    for code, title, *_ in records:
        for name in (title, *term_variants(title, strip_unspecified=True)):
            found.setdefault(normalize(name), set()).add(code[:3])
    return {name: frozenset(categories) for name, categories in found.items()}


def _place(cm: ModuleType, code: str) -> tuple[str, str]:
    """(chapter number, block) of a code."""
    ancestors: list[str] = cm.get_ancestors(code)
    return ancestors[-1], ancestors[-2]


def _records() -> Iterator[tuple[str, str, str, str, list[str], list[str]]]:
    cm = _package()
    for code in icd10cm_codes():
        chapter, block = _place(cm, code)
        yield (
            code,
            str(cm.get_description(code)),
            chapter,
            block,
            list(cm.get_inclusion_term(code)),
            list(cm.get_includes(code)),
        )


def load_icd10cm(writer: ArtifactWriter) -> None:
    """Add every ICD-10-CM code as a concept with its title, inclusion terms and variants.

    Chapters A00-T88, U and Z are problems (a Z code such as Z87.891 "Personal history of
    nicotine dependence" still describes the patient); V00-Y99 external causes get no entity
    type.  ``specificity`` is the code's length without the dot, so E11.21 (5) outranks E11.
    """
    with writer.source(
        SOURCE,
        version=VERSION,
        license=LICENSE,
        description=f"{DESCRIPTION} Read with simple_icd_10_cm "
        f"{package_version('simple_icd_10_cm')}.",
        release_date=RELEASE_DATE,
    ) as src:
        records = list(_records())
        titles = _title_categories(records, normalize)
        for code, title, chapter, block, inclusion, includes in records:
            entity = None if chapter == EXTERNAL_CAUSES_CHAPTER else EntityType.PROBLEM
            cid = src.concept(
                f"{SOURCE}:{code}",
                title,
                entity,
                semantic_type=f"chapter {chapter} / {block}",
                specificity=len(code.replace(".", "")),
            )
            src.code(cid, ICD10CM, code, title)
            for variant in term_variants(title, strip_unspecified=True):
                src.term(cid, variant, "title-variant")
            for term_type, terms in (("inclusion", inclusion), ("includes", includes)):
                for term in terms:
                    for name in (term, *term_variants(term)):
                        if not context_only(code, name, titles, normalize):
                            src.term(cid, name, term_type)
        for holder, target, note in _excludes1_rows([code for code, *_ in records]):
            src.crosswalk(ICD10CM, holder, ICD10CM, target, EXCLUDES1, note)


def _excludes1_rows(order: list[str]) -> Iterator[tuple[str, str, str]]:
    """(code holding the note, code it names, note) for every Excludes1 note with codes; a
    block's or chapter's note is held by each of its categories."""
    cm = _package()
    position = {code: index for index, code in enumerate(order)}
    categories: dict[str, list[str]] = {}
    for code in order:
        if len(code) == 3:  # a category
            for ancestor in cm.get_ancestors(code):
                categories.setdefault(ancestor, []).append(code)
    holders = [(code, [code]) for code in order]
    holders += [(name, found) for name, found in categories.items()]
    for name, held_by in holders:
        for note in cm.get_excludes1(name):
            targets = [
                code
                for target in excludes1_targets(note)
                for code in expand_excluded(target, position, order)
            ]
            for holder in held_by:
                for code in targets:
                    if code != holder:
                        yield holder, code, note
