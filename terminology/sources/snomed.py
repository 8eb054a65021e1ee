"""SNOMED CT loader: an RF2 Snapshot release (International or US Edition).

SNOMED CT is licensed content: the user points the build at their own release folder (e.g.
``SnomedCT_InternationalRF2_PRODUCTION_20250101T120000Z`` or the US Edition
``SnomedCT_ManagedServiceUS_PRODUCTION_US1000124_20250301T120000Z``).  Files are found by name
anywhere under it:

* ``sct2_Concept_Snapshot_*.txt``, ``sct2_Description_Snapshot-en_*.txt``,
  ``sct2_Relationship_Snapshot_*.txt`` (required, exactly one each: point at one edition);
* ``der2_cRefset_LanguageSnapshot-en_*.txt`` (optional): the US English (else GB English)
  preferred synonym becomes the concept's preferred name; without it, the lowest-id synonym;
* ``der2_iisssccRefset_ExtendedMapSnapshot_*.txt`` (optional): rows of refset 6011000124106, the
  US ICD-10-CM map, become crosswalks ``maps-to`` (group, priority, rule and advice kept in
  ``rule``; rows without a target, e.g. "MAP SOURCE CONCEPT CANNOT BE CLASSIFIED", skipped).
  The International Edition's map to WHO ICD-10 (447562003) is not ICD-10-CM and is not loaded.

Files are tab-separated with a header line, read by column name; only ``active = 1`` rows
count.  Each active concept with a description becomes ``sct:<id>`` with code
``http://snomed.info/sct|<id>``, its active synonyms (typeId 900000000000013009) as terms and
``semantic_type`` = the FSN's semantic tag (``disorder``, ``finding``, ``procedure`` ...).

Entity type follows the top-level hierarchy, computed from the is-a (116680003) relationships:
Clinical finding → problem; Procedure → procedure, except descendants of Laboratory procedure
(108252007) or Evaluation procedure (386053000) → test; Pharmaceutical / biologic product and
Substance → medication, except Body substance (91720002: blood, urine) → none; Observable entity
→ test; every other hierarchy (body structure, organism, qualifier value, situation ...) → none,
and so do the root and the top-level concepts themselves.  ``specificity`` is the depth: the
shortest is-a path to the root (Clinical finding is 1).

Synonyms of the form "HBP - High blood pressure" (SNOMED CT's way of giving an abbreviation)
also add the abbreviation alone, ``term_type`` ``abbreviation``, or ``abbreviation-ambiguous``
when it has three characters or fewer ("DM", "ASA", "HBP" mean other things too).

Memory: the is-a parents (≈ 600 k ints in an International release), one preferred name and a
small tuple per concept; descriptions and relationships are streamed, descriptions twice.

Why not pymedtermino (in the design's package list as a hierarchy navigator): its 0.3.3 release
(2017) ships the RF2 importer only in its sdist, as a script run from its source tree that takes
paths from ``sys.argv``, expects International ``_INT_`` file names (a US Edition's
``_US1000124_`` files are not found) and a separate CORE problem list file, and writes its
SQLite database inside the installed package.  The two facts we need, depth and top-level
hierarchy, are a single pass over the is-a parents, done here.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import AMBIGUOUS_SUFFIX, ICD10CM, SNOMED_CT
from terminology.writer import ArtifactWriter

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "snomed"
LICENSE: Final = (
    "SNOMED CT: used under the user's own licence (SNOMED International Affiliate Licence, or "
    "the UMLS Metathesaurus License for the US Edition); not redistributed with note2fhir."
)

CONCEPT_PATTERN: Final = "sct2_Concept_Snapshot_*.txt"
DESCRIPTION_PATTERN: Final = "sct2_Description_Snapshot-en_*.txt"
RELATIONSHIP_PATTERN: Final = "sct2_Relationship_Snapshot_*.txt"
LANGUAGE_PATTERN: Final = "der2_cRefset_LanguageSnapshot-en_*.txt"
EXTENDED_MAP_PATTERN: Final = "der2_iisssccRefset_ExtendedMapSnapshot_*.txt"

ROOT: Final = 138875005
IS_A: Final = 116680003
FSN: Final = 900000000000003001
SYNONYM: Final = 900000000000013009
US_ENGLISH: Final = 900000000000509007
GB_ENGLISH: Final = 900000000000508004
PREFERRED: Final = 900000000000548007
ICD10CM_MAP_REFSET: Final = 6011000124106

CLINICAL_FINDING: Final = 404684003
PROCEDURE: Final = 71388002
PRODUCT: Final = 373873005
SUBSTANCE: Final = 105590001
OBSERVABLE: Final = 363787002
LABORATORY_PROCEDURE: Final = 108252007
EVALUATION_PROCEDURE: Final = 386053000
BODY_SUBSTANCE: Final = 91720002

TOP_LEVEL_TYPES: Final[dict[int, EntityType]] = {
    CLINICAL_FINDING: EntityType.PROBLEM,
    PROCEDURE: EntityType.PROCEDURE,
    PRODUCT: EntityType.MEDICATION,
    SUBSTANCE: EntityType.MEDICATION,
    OBSERVABLE: EntityType.TEST,
}
"""Entity type of each top-level hierarchy (children of the root); others have none."""

_TEST_BIT, _NOT_MEDICATION_BIT = 1, 2
_MARKERS: Final[dict[int, int]] = {
    LABORATORY_PROCEDURE: _TEST_BIT,
    EVALUATION_PROCEDURE: _TEST_BIT,
    BODY_SUBSTANCE: _NOT_MEDICATION_BIT,
}
"""Sub-hierarchies that change their top-level's entity type (the concept itself included)."""

COMMIT_EVERY: Final = 50_000
_SEMANTIC_TAG = re.compile(r"\s*\(([^()]+)\)\s*$")
_ABBREVIATION = re.compile(r"([A-Z][A-Za-z0-9]{1,9}) - \S")
_FILE_VERSION = re.compile(r"_([A-Z]{2,}[0-9]*)_(\d{8})\.txt$")


@dataclass(frozen=True, slots=True)
class SnomedRelease:
    """The RF2 Snapshot files of one edition, and its version."""

    concepts: Path
    descriptions: Path
    relationships: Path
    languages: tuple[Path, ...]
    maps: tuple[Path, ...]
    edition: str
    date: str | None

    @property
    def version(self) -> str:
        """``INT 20250101``, ``US1000124 20250301``; ``unknown`` when the names do not say."""
        return f"{self.edition} {self.date}" if self.date else "unknown"

    @property
    def release_date(self) -> str | None:
        """The release date in ISO form."""
        d = self.date
        return f"{d[:4]}-{d[4:6]}-{d[6:]}" if d else None


def find_snomed_release(folder: Path) -> SnomedRelease:
    """Find the Snapshot files under ``folder``; a missing or doubled required file raises."""

    def one(pattern: str) -> Path:
        found = _snapshot_files(folder, pattern)
        if not found:
            raise FileNotFoundError(f"SNOMED CT: no {pattern} under {folder}")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise ValueError(f"SNOMED CT: several {pattern} under {folder} ({names}); use one")
        return found[0]

    concepts = one(CONCEPT_PATTERN)
    match = _FILE_VERSION.search(concepts.name)
    return SnomedRelease(
        concepts=concepts,
        descriptions=one(DESCRIPTION_PATTERN),
        relationships=one(RELATIONSHIP_PATTERN),
        languages=tuple(_snapshot_files(folder, LANGUAGE_PATTERN)),
        maps=tuple(_snapshot_files(folder, EXTENDED_MAP_PATTERN)),
        edition=match.group(1) if match else "unknown",
        date=match.group(2) if match else None,
    )


def _snapshot_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file())


def iter_rf2(path: Path, columns: Sequence[str]) -> Iterator[list[str]]:
    """Stream the active rows of an RF2 file, as the values of ``columns`` (by header name)."""
    with path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        missing = [c for c in (*columns, "active") if c not in header]
        if missing:
            raise ValueError(f"{path.name}: no column {', '.join(missing)} (not an RF2 file?)")
        active = header.index("active")
        wanted = [header.index(c) for c in columns]
        for line_no, line in enumerate(handle, 2):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) != len(header):
                raise ValueError(
                    f"{path.name} line {line_no}: expected {len(header)} tab-separated fields,"
                    f" found {len(parts)}"
                )
            if parts[active] == "1":
                yield [parts[i] for i in wanted]


def abbreviation_of(synonym: str) -> str | None:
    """The abbreviation of an "ABBR - expansion" synonym, else None.

    >>> abbreviation_of("CABG - Coronary artery bypass graft")
    'CABG'
    >>> abbreviation_of("Non-insulin dependent diabetes mellitus") is None
    True
    """
    match = _ABBREVIATION.match(synonym)
    return match.group(1) if match else None


def semantic_tag(fsn: str) -> str | None:
    """The semantic tag of a fully specified name.

    >>> semantic_tag("Hypertensive disorder, systemic arterial (disorder)")
    'disorder'
    >>> semantic_tag("Regime/therapy (regime/therapy)")
    'regime/therapy'
    """
    match = _SEMANTIC_TAG.search(fsn)
    return match.group(1) if match else None


# --- hierarchy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a concept sits: depth below the root, top-level hierarchy, marker bits."""

    depth: int
    top: int | None
    markers: int

    @property
    def entity_type(self) -> EntityType | None:
        """The entity type of a concept placed here (see the module docstring).

        The root and the top-level concepts themselves ("Clinical finding", "Procedure",
        "Substance") have none: they are hierarchy headers, and as names they match the plain
        words "procedure" or "substance" in a note.
        """
        if self.depth <= 1 or self.top is None:
            return None
        entity_type = TOP_LEVEL_TYPES.get(self.top)
        if entity_type is EntityType.PROCEDURE and self.markers & _TEST_BIT:
            return EntityType.TEST
        if entity_type is EntityType.MEDICATION and self.markers & _NOT_MEDICATION_BIT:
            return None
        return entity_type


def place_concepts(parents: dict[int, list[int]], concepts: set[int]) -> dict[int, Placement]:
    """Depth, top-level hierarchy and markers of every concept, from its is-a parents.

    Iterative (no recursion limit) and cycle-safe (a parent still being visited is ignored);
    parents outside ``concepts`` (inactive ones) are ignored.

    >>> places = place_concepts({404684003: [ROOT], 38341003: [404684003]}, {404684003, 38341003})
    >>> places[38341003]
    Placement(depth=2, top=404684003, markers=0)
    """
    placed: dict[int, Placement] = {ROOT: Placement(0, None, 0)}
    visiting: set[int] = set()
    for start in sorted(concepts):
        stack: list[tuple[int, bool]] = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if node in placed:
                continue
            node_parents = [p for p in parents.get(node, ()) if p in concepts or p == ROOT]
            if not expanded:
                visiting.add(node)
                stack.append((node, True))
                stack.extend(
                    (p, False) for p in node_parents if p not in placed and p not in visiting
                )
                continue
            visiting.discard(node)
            above = [placed[p] for p in node_parents if p in placed]
            placed[node] = _place(node, above, node_parents)
    del placed[ROOT]
    return placed


def _place(node: int, above: list[Placement], node_parents: Sequence[int]) -> Placement:
    markers = _MARKERS.get(node, 0)
    for parent in above:
        markers |= parent.markers
    if ROOT in node_parents:
        return Placement(1, node, markers)
    rooted = [p for p in above if p.top is not None]
    if not rooted:
        return Placement(0, None, markers)  # an orphan: its parents are inactive or missing
    nearest = min(rooted, key=lambda p: (p.depth, p.top or 0))
    return Placement(nearest.depth + 1, nearest.top, markers)


# --- loading -----------------------------------------------------------------------------------


def _read_active_concepts(path: Path) -> set[int]:
    return {int(row[0]) for row in iter_rf2(path, ["id"])}


def _read_is_a(path: Path, active: set[int]) -> dict[int, list[int]]:
    parents: dict[int, list[int]] = {}
    for source, destination, type_id in iter_rf2(path, ["sourceId", "destinationId", "typeId"]):
        if int(type_id) != IS_A:
            continue
        child, parent = int(source), int(destination)
        if child in active and parent in active:
            parents.setdefault(child, []).append(parent)
    return parents


def _read_preferred_descriptions(paths: Sequence[Path]) -> set[int]:
    """Ids of the descriptions preferred in US English (GB English when there is no US refset)."""
    by_refset: dict[int, set[int]] = {US_ENGLISH: set(), GB_ENGLISH: set()}
    columns = ["refsetId", "referencedComponentId", "acceptabilityId"]
    for path in paths:
        for refset, description, acceptability in iter_rf2(path, columns):
            chosen = by_refset.get(int(refset))
            if chosen is not None and int(acceptability) == PREFERRED:
                chosen.add(int(description))
    return by_refset[US_ENGLISH] or by_refset[GB_ENGLISH]


class Name(NamedTuple):
    """A concept's chosen name: rank (0 refset-preferred synonym, 1 synonym, 2 FSN), id, text."""

    rank: int
    description: int
    term: str


_DESCRIPTION_COLUMNS: Final = ["id", "conceptId", "typeId", "term"]


def _read_names(
    path: Path, active: set[int], preferred_ids: set[int]
) -> tuple[dict[int, Name], dict[int, str]]:
    """Each active concept's preferred name, and the semantic tag of its FSN."""
    names: dict[int, Name] = {}
    tags: dict[int, str] = {}
    for description_id, concept_id, type_id, term in iter_rf2(path, _DESCRIPTION_COLUMNS):
        concept = int(concept_id)
        if concept not in active or not term.strip():
            continue
        did, kind = int(description_id), int(type_id)
        if kind == FSN:
            tag = semantic_tag(term)
            if tag:
                tags[concept] = sys.intern(tag)
            candidate = Name(2, did, _SEMANTIC_TAG.sub("", term).strip() or term.strip())
        elif kind == SYNONYM:
            candidate = Name(0 if did in preferred_ids else 1, did, term.strip())
        else:
            continue
        current = names.get(concept)
        if current is None or candidate[:2] < current[:2]:
            names[concept] = candidate
    return names, tags


def _read_icd10cm_map(
    paths: Sequence[Path], loaded: set[int]
) -> dict[tuple[int, str], list[tuple[int, int, str, str]]]:
    columns = [
        "refsetId", "referencedComponentId", "mapGroup", "mapPriority", "mapRule", "mapAdvice",
        "mapTarget",
    ]  # fmt: skip
    rows: dict[tuple[int, str], list[tuple[int, int, str, str]]] = {}
    for path in paths:
        for refset, concept_id, group, priority, rule, advice, mapped in iter_rf2(path, columns):
            target = mapped.strip()
            if int(refset) != ICD10CM_MAP_REFSET or not target or int(concept_id) not in loaded:
                continue
            entry = (int(group or 0), int(priority or 0), rule.strip(), advice.strip())
            rows.setdefault((int(concept_id), target), []).append(entry)
    return rows


def map_rule(entries: Sequence[tuple[int, int, str, str]]) -> str:
    """One ``rule`` text for the map rows of one concept → target, in group/priority order.

    >>> map_rule([(1, 1, "TRUE", "ALWAYS I10")])
    'group 1 priority 1: TRUE; advice: ALWAYS I10'
    """
    return " || ".join(
        f"group {group} priority {priority}: {rule or 'TRUE'}; advice: {advice}"
        for group, priority, rule, advice in sorted(entries)
    )


def load_snomed(writer: ArtifactWriter, folder: Path) -> None:
    """Load a SNOMED CT RF2 Snapshot into the artifact as source ``snomed``.

    Example: 38341003 becomes ``sct:38341003`` "Hypertensive disorder" (problem, tag
    ``disorder``, depth under Clinical finding), with a crosswalk to ICD-10-CM I10 when the US
    Edition's map refset is present.  Missing Concept, Description or Relationship snapshot files
    raise :class:`FileNotFoundError` naming the pattern.
    """
    release = find_snomed_release(folder)
    active = _read_active_concepts(release.concepts)
    log.info("SNOMED CT: %d active concepts", len(active))
    parents = _read_is_a(release.relationships, active)
    places = place_concepts(parents, active)
    del parents
    preferred_ids = _read_preferred_descriptions(release.languages)
    names, tags = _read_names(release.descriptions, active, preferred_ids)
    del preferred_ids
    with writer.source(
        SOURCE_NAME,
        version=release.version,
        license=LICENSE,
        description=(
            f"SNOMED CT {release.edition} edition, RF2 Snapshot {release.date or 'unknown'}"
            f"{'; US ICD-10-CM map' if release.maps else ''}"
        ),
        release_date=release.release_date,
    ) as src:
        cids: dict[int, int] = {}
        for n, concept in enumerate(sorted(names), 1):
            name, place = names[concept], places.get(concept, Placement(0, None, 0))
            cid = src.concept(
                f"sct:{concept}",
                name.term,
                place.entity_type,
                semantic_type=tags.get(concept),
                specificity=place.depth,
            )
            src.code(cid, SNOMED_CT, str(concept), name.term)
            cids[concept] = cid
            if n % COMMIT_EVERY == 0:
                src.db.commit()
        skipped = len(active) - len(cids)
        if skipped:
            log.warning("SNOMED CT: %d active concepts without a description skipped", skipped)
        for description_id, concept_id, type_id, term in iter_rf2(
            release.descriptions, _DESCRIPTION_COLUMNS
        ):
            if int(type_id) != SYNONYM:
                continue
            concept = int(concept_id)
            chosen = names.get(concept)
            if chosen is None or int(description_id) == chosen.description:
                continue
            if normalize(term) != normalize(chosen.term):
                src.term(cids[concept], term, "synonym")
            abbreviation = abbreviation_of(term)
            if abbreviation is not None:
                kind = "abbreviation" + (AMBIGUOUS_SUFFIX if len(abbreviation) <= 3 else "")
                src.term(cids[concept], abbreviation, kind)
        for (concept, target), entries in sorted(
            _read_icd10cm_map(release.maps, set(cids)).items()
        ):
            src.crosswalk(SNOMED_CT, str(concept), ICD10CM, target, "maps-to", map_rule(entries))
