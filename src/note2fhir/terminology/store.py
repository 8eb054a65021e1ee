"""Reading the terminology artifact: exact, word-order and approximate lookups, crosswalks.

>>> # store = default_store(load_settings())          # builds the open default once if missing
>>> # store.candidates("HTN")[0].codes                # (Coding(ICD10CM, 'I10', ...),)
>>> # store.candidates("HTN")[0].reason               # "exact: abbreviation 'HTN'"

The store opens the artifact's SQLite file (read-only) and its simstring index together, on
first lookup; it holds no other state, so it pickles (as its folder and thresholds) and
reopens in a worker process.
Lookups are serialised by a lock (one SQLite connection, one simstring reader) and cached by
normalised text.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from note2fhir.document import EntityType
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.terminology.candidates import (
    Candidate,
    Coding,
    Concept,
    CrosswalkEntry,
    How,
    resolve_system,
    short_name,
)
from note2fhir.terminology.normalize import bag_of_words, normalize
from note2fhir.terminology.schema import (
    DB_FILE,
    DEFAULT_ARTIFACT,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    SIMSTRING_DB,
    SIMSTRING_DIR,
    SIMSTRING_NGRAM,
    SNOMED_CT,
)

if TYPE_CHECKING:
    from note2fhir.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MIN_SIMILARITY = 0.8
"""Used when a store is opened without settings (``Settings.approximate_min_similarity``)."""
DEFAULT_CANDIDATE_LIMIT = 10
"""Used when a store is opened without settings (``Settings.candidate_limit``)."""
EXACT_SCORE = 1.0
WORDS_SCORE = 0.95
APPROXIMATE_MAX_SCORE = 0.94
"""An approximate match scores its cosine, capped here so it never outranks a word match."""
APPROXIMATE_MIN_CHARS = 4
"""Shorter texts ("HTN", "MI") are only looked up exactly: a trigram of three letters says
little, and abbreviations are curated."""
APPROXIMATE_MAX_STRINGS = 50
"""At most this many similar index strings are turned into candidates per lookup."""
CACHE_SIZE = 4096
CONCEPT_PREFIXES = {SNOMED_CT: "sct"}
"""The concept-id prefix of a system whose prefix is not its short name (``sct:38341003``)."""
SIBLING_LAST_CHARACTERS = "0123456789"
"""The last characters ``siblings`` tries: ICD-10-CM subdivides a code by a final digit."""
OPEN_BUILD_ESTIMATE_S = 40
"""Rough time to build the open default (27-29 s measured on a 2-CPU dev container; slower disks
more), announced before the one-time build."""

TERM_TYPE_RANK = {
    "preferred": 0,
    "abbreviation": 1,
    "curated": 1,
    "synonym": 2,
    "synonym-exact": 2,
    "brand": 2,
    "inclusion": 3,
    "index": 3,
    "includes": 4,
    "synonym-related": 4,
    "title-variant": 5,
    "synonym-narrow": 5,
}
"""Between equal scores, which kind of name is better evidence (lower first)."""

_MARK = "$"  # never in normalised text ([0-9a-z ]), so it can pad trigrams

_CONCEPT_COLUMNS = (
    "c.cid, c.concept_id, c.preferred, c.entity_type, c.semantic_type, c.specificity, c.source"
)
_BY_NORM = (
    f"SELECT {_CONCEPT_COLUMNS}, t.term, t.term_type, t.source, t.norm"
    " FROM terms t JOIN concepts c ON c.cid = t.cid WHERE t.norm = ?"
)
_BY_BAG = (
    f"SELECT {_CONCEPT_COLUMNS}, t.term, t.term_type, t.source, t.norm"
    " FROM terms t JOIN concepts c ON c.cid = t.cid WHERE t.bag = ? AND t.norm != ?"
)
_CODES = "SELECT system, code, display FROM codes WHERE cid = ? ORDER BY system, code"
_NORMS_OF_CONCEPT = (
    "SELECT DISTINCT t.norm FROM terms t JOIN concepts c ON c.cid = t.cid WHERE c.concept_id = ?"
)
RELATED_TERM_TYPE = "synonym-related"
RELATED_MAX_SCORE = 0.8
"""Highest score of a one-word related synonym: below the coding stage's default
``min_score`` (0.85), so such a name never selects a code by itself."""
CURATED_SOURCE = "curated"
ABBREVIATION = "abbreviation"
SAME_MEANING_COSINE = 0.5
"""Lowest trigram cosine between another source's concept name and a curated concept's names
for an abbreviation of both to keep both ("Chronic pulmonary obstruction" / "chronic
obstructive pulmonary disease" 0.72; "Cerebral palsy" / "chest pain" 0.14)."""
_CONCEPT = f"SELECT {_CONCEPT_COLUMNS} FROM concepts c WHERE c.concept_id = ?"
_TITLE = "SELECT preferred FROM concepts WHERE concept_id = ?"
_BY_CODE = (
    f"SELECT {_CONCEPT_COLUMNS}, k.system, k.code FROM codes k JOIN concepts c ON c.cid = k.cid"
    " WHERE k.system = ? AND k.code = ?"
)

Row = tuple[Any, ...]


def trigram_cosine(a: str, b: str) -> float:
    """Cosine of the padded character-trigram multisets of two normalised strings, as the
    simstring index computes it.

    >>> round(trigram_cosine("hypertenson", "hypertension"), 2)
    0.82
    """
    x, y = _trigrams(a), _trigrams(b)
    if not x or not y:
        return 0.0
    common = sum((x & y).values())
    return float(common / (sum(x.values()) * sum(y.values())) ** 0.5)


def _trigrams(text: str) -> Counter[str]:
    n = SIMSTRING_NGRAM
    padded = _MARK * (n - 1) + text + _MARK * (n - 1)
    return Counter(padded[i : i + n] for i in range(len(padded) - n + 1))


class TerminologyStore:
    """One artifact, read-only.  Use :meth:`open` or :func:`default_store`."""

    def __init__(
        self,
        folder: Path,
        *,
        approximate_min_similarity: float = DEFAULT_MIN_SIMILARITY,
        candidate_limit: int = DEFAULT_CANDIDATE_LIMIT,
    ) -> None:
        self.folder = Path(folder)
        self.approximate_min_similarity = approximate_min_similarity
        self.candidate_limit = candidate_limit
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._reader: Any = None
        self._cache: OrderedDict[tuple[Any, ...], tuple[Candidate, ...]] = OrderedDict()
        self._codes: dict[int, tuple[Coding, ...]] = {}
        self._systems: tuple[str, ...] | None = None

    # -- opening, pickling ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        approximate_min_similarity: float = DEFAULT_MIN_SIMILARITY,
        candidate_limit: int = DEFAULT_CANDIDATE_LIMIT,
    ) -> TerminologyStore:
        """Open the artifact in ``folder``; a missing artifact raises TERMINOLOGY_MISSING and
        one of another schema version (or not an artifact at all) TERMINOLOGY_INVALID."""
        store = cls(
            folder,
            approximate_min_similarity=approximate_min_similarity,
            candidate_limit=candidate_limit,
        )
        store._connection()
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> TerminologyStore:
        """Open the configured artifact without building it (see :func:`default_store`)."""
        return cls.open(
            settings.terminology_artifact_path,
            approximate_min_similarity=settings.approximate_min_similarity,
            candidate_limit=settings.candidate_limit,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "approximate_min_similarity": self.approximate_min_similarity,
            "candidate_limit": self.candidate_limit,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["folder"],
            approximate_min_similarity=state["approximate_min_similarity"],
            candidate_limit=state["candidate_limit"],
        )

    def close(self) -> None:
        """Close the database and index (a later lookup reopens them)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> TerminologyStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        db_path = self.folder / DB_FILE
        if not db_path.is_file():
            raise Note2FhirError(ErrorCode.TERMINOLOGY_MISSING, path=str(self.folder))
        db = sqlite3.connect(
            f"{db_path.resolve().as_uri()}?mode=ro",
            uri=True,
            check_same_thread=False,
            cached_statements=64,
        )
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise self._invalid("it is not a terminology database") from None
        if row is None or row[0] != str(SCHEMA_VERSION):
            db.close()
            found = row[0] if row else "unknown"
            raise self._invalid(
                f"schema version {found}, this note2fhir reads {SCHEMA_VERSION}; rebuild it with "
                "`note2fhir terminology build`"
            )
        if not (self.folder / SIMSTRING_DIR / SIMSTRING_DB).is_file():
            db.close()
            raise self._invalid("its approximate-match index is missing")
        # The index is opened with the database, not on first approximate lookup: should the
        # artifact be replaced meanwhile (a rebuild), both handles stay on the same build.
        self._reader = _open_simstring(self.folder / SIMSTRING_DIR / SIMSTRING_DB)
        self._db = db
        return db

    def _invalid(self, reason: str) -> Note2FhirError:
        return Note2FhirError(ErrorCode.TERMINOLOGY_INVALID, path=str(self.folder), reason=reason)

    def _simstring(self) -> Any:
        self._connection()
        return self._reader

    # -- lookups ------------------------------------------------------------------------------

    def exact(
        self,
        text: str,
        *,
        entity_types: Collection[EntityType | str] | None = None,
        systems: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Concepts with a name equal to ``text`` after normalisation (score 1.0), then those
        with the same words in another order (0.95: "diabetes mellitus type 2").

        >>> # store.exact("HTN")[0].reason  ->  "exact: abbreviation 'HTN'"
        """
        norm = normalize(text)
        found = self._cached(("exact", norm), lambda: self._exact(norm))
        return self._select(found, entity_types, systems, limit)

    def approximate(
        self,
        text: str,
        *,
        threshold: float | None = None,
        entity_types: Collection[EntityType | str] | None = None,
        systems: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Concepts with a name whose character-trigram cosine to ``text`` is at least
        ``threshold`` (default: the store's ``approximate_min_similarity``), scored by it.

        >>> # store.approximate("hypertenson")[0].reason
        >>> # "approximate: cosine 0.82 to 'hypertension'"
        """
        norm = normalize(text)
        minimum = self.approximate_min_similarity if threshold is None else threshold
        key = ("approximate", norm, minimum)
        found = self._cached(key, lambda: self._approximate(norm, minimum))
        return self._select(found, entity_types, systems, limit)

    def candidates(
        self,
        text: str,
        *,
        threshold: float | None = None,
        entity_types: Collection[EntityType | str] | None = None,
        systems: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Exact and approximate matches merged by concept (best evidence kept), ranked by
        score, then specificity (E11.21 before E11), then the kind of name that matched."""
        norm = normalize(text)
        minimum = self.approximate_min_similarity if threshold is None else threshold

        def compute() -> tuple[Candidate, ...]:
            return _merge([*self._exact(norm), *self._approximate(norm, minimum)])

        found = self._cached(("candidates", norm, minimum), compute)
        return self._select(found, entity_types, systems, limit)

    def search(
        self,
        text: str,
        *,
        system: str | None = None,
        entity_type: EntityType | str | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Candidates for the CLI: a code ("E11.21", "38341003") first, then names."""
        systems = [resolve_system(system)] if system else None
        entity_types = [entity_type] if entity_type else None
        by_code = _merge(self._by_code(text.strip(), systems))
        coded = {c.concept_id for c in by_code}
        named = [c for c in self.candidates(text, limit=10_000) if c.concept_id not in coded]
        return self._select([*by_code, *named], entity_types, systems, limit)

    # -- concepts, codes, crosswalks -------------------------------------------------------

    def concept(self, concept_id: str) -> Concept | None:
        """Everything about one concept (``icd10cm:I10``), or None."""
        with self._lock:
            db = self._connection()
            row = db.execute(_CONCEPT, (concept_id,)).fetchone()
            if row is None:
                return None
            terms = db.execute(
                "SELECT term, term_type, source FROM terms WHERE cid = ? ORDER BY tid", (row[0],)
            ).fetchall()
            return Concept(
                concept_id=row[1],
                preferred=row[2],
                entity_type=EntityType(row[3]) if row[3] else None,
                semantic_type=row[4],
                specificity=row[5],
                source=row[6],
                codes=self._codes_of_cid(int(row[0])),
                terms=tuple((str(t), str(tt), str(s)) for t, tt, s in terms),
            )

    def title(self, system: str, code: str) -> str | None:
        """The preferred display of the concept of ``system`` (short name or URI) and
        ``code``, or None when the store has no such concept: ``title("icd10cm", "I10")`` is
        "Essential (primary) hypertension"."""
        uri = resolve_system(system)
        concept_id = f"{CONCEPT_PREFIXES.get(uri) or short_name(uri)}:{code}"
        with self._lock:
            row = self._connection().execute(_TITLE, (concept_id,)).fetchone()
        return None if row is None else str(row[0])

    def siblings(self, system: str, code: str) -> list[tuple[str, str]]:
        """``(code, title)`` of each code of the store that is ``code`` with another digit as
        its last character, in digit order: M25.569 "Pain in unspecified knee" has M25.561
        "Pain in right knee" and M25.562 "Pain in left knee"."""
        found: list[tuple[str, str]] = []
        for last in SIBLING_LAST_CHARACTERS:
            other = code[:-1] + last
            if other != code and (title := self.title(system, other)) is not None:
                found.append((other, title))
        return found

    def codes_of(self, concept_id: str) -> list[Coding]:
        """The codes of a concept in every system the artifact links."""
        with self._lock:
            row = self._connection().execute(_CONCEPT, (concept_id,)).fetchone()
            return list(self._codes_of_cid(int(row[0]))) if row else []

    def crosswalk(
        self, system: str, code: str, *, to_system: str | None = None
    ) -> list[CrosswalkEntry]:
        """Codes that ``system|code`` maps to: the source's crosswalk rows (SNOMED CT → ICD-10-CM
        map, RxNorm ingredient ↔ clinical drug) and the other codes of the concepts holding it
        (a UMLS CUI's ICD-10-CM code), optionally only those in ``to_system``."""
        uri = resolve_system(system)
        target = resolve_system(to_system) if to_system else None
        out: dict[tuple[str, str, str], CrosswalkEntry] = {}
        with self._lock:
            db = self._connection()
            rows = db.execute(
                "SELECT to_system, to_code, relation, source, rule FROM crosswalk"
                " WHERE from_system = ? AND from_code = ? ORDER BY to_system, to_code",
                (uri, code),
            ).fetchall()
            for to_sys, to_code, relation, source, rule in rows:
                if target and to_sys != target:
                    continue
                display = db.execute(
                    "SELECT display FROM codes WHERE system = ? AND code = ? LIMIT 1",
                    (to_sys, to_code),
                ).fetchone()
                out.setdefault(
                    (to_sys, to_code, relation),
                    CrosswalkEntry(
                        uri, code, to_sys, to_code, display[0] if display else None,
                        relation, source, rule,
                    ),
                )  # fmt: skip
            same = db.execute(
                "SELECT o.system, o.code, o.display, c.concept_id, c.source FROM codes k"
                " JOIN codes o ON o.cid = k.cid JOIN concepts c ON c.cid = k.cid"
                " WHERE k.system = ? AND k.code = ? ORDER BY o.system, o.code",
                (uri, code),
            ).fetchall()
            for to_sys, to_code, display, concept_id, source in same:
                if (to_sys, to_code) == (uri, code) or (target and to_sys != target):
                    continue
                out.setdefault(
                    (to_sys, to_code, "same-concept"),
                    CrosswalkEntry(
                        uri, code, to_sys, to_code, display, "same-concept", source,
                        concept_id=concept_id,
                    ),
                )  # fmt: skip
        return list(out.values())

    def relation(self, system: str, relation: str) -> list[tuple[str, str, str | None]]:
        """Every crosswalk row of one ``relation`` within ``system``, as (from code, to code,
        rule), in code order: ICD-10-CM's ``excludes1`` rows say R73 "Elevated blood glucose
        level" excludes E11 with the note "diabetes mellitus (E08-E13)"."""
        uri = resolve_system(system)
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT from_code, to_code, rule FROM crosswalk WHERE from_system = ?"
                    " AND to_system = ? AND relation = ? ORDER BY from_code, to_code",
                    (uri, uri, relation),
                )
                .fetchall()
            )
        return [(str(a), str(b), None if c is None else str(c)) for a, b, c in rows]

    def info(self) -> dict[str, Any]:
        """The artifact's provenance (manifest, per-source rows from the database), totals,
        path and size on disk."""
        with self._lock:
            db = self._connection()
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            cur = db.execute(
                "SELECT name, version, release_date, license, description, concepts, terms,"
                " codes, crosswalks, built_at, build_seconds FROM sources ORDER BY rowid"
            )
            columns = [d[0] for d in cur.description]
            sources = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
            totals = {
                table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("concepts", "terms", "codes", "crosswalk")
            }
        manifest: dict[str, Any] = {}
        manifest_path = self.folder / MANIFEST_FILE
        if manifest_path.is_file():
            try:
                loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = None
            manifest = loaded if isinstance(loaded, dict) else {}
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        return {
            "path": str(self.folder),
            "size_bytes": size,
            "schema_version": int(meta.get("schema_version", 0)),
            "artifact": meta.get("artifact"),
            "built_at": meta.get("built_at"),
            "build_seconds": manifest.get("build_seconds"),
            "totals": totals,
            "sources": sources,
        }

    # -- internals ------------------------------------------------------------------------------

    def _cached(
        self, key: tuple[Any, ...], compute: Callable[[], Iterable[Candidate]]
    ) -> tuple[Candidate, ...]:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            value = tuple(compute())
            self._cache[key] = value
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return value

    def _select(
        self,
        found: Iterable[Candidate],
        entity_types: Collection[EntityType | str] | None,
        systems: Collection[str] | None,
        limit: int | None,
    ) -> list[Candidate]:
        kinds, uris = _filters(entity_types, systems)
        out = [
            c
            for c in found
            if (kinds is None or (c.entity_type is not None and c.entity_type.value in kinds))
            and (uris is None or any(k.system in uris for k in c.codes))
        ]
        return out[: self.candidate_limit if limit is None else limit]

    def _exact(self, norm: str) -> list[Candidate]:
        if not norm:
            return []
        with self._lock:
            db = self._connection()
            rows = db.execute(_BY_NORM, (norm,)).fetchall()
            found = [self._candidate(r, "exact", EXACT_SCORE) for r in rows]
            bag = bag_of_words(norm)
            if bag:
                rows = db.execute(_BY_BAG, (bag, norm)).fetchall()
                found += [self._candidate(r, "words", WORDS_SCORE) for r in rows]
            found = self._one_meaning(found, db)
        return list(_merge(found))

    def _one_meaning(self, found: list[Candidate], db: sqlite3.Connection) -> list[Candidate]:
        """An abbreviation the curated synonyms list means what they say: another source's
        abbreviation of the same text is kept only when its concept is named like a curated
        one ("CHF": HPO "Congestive heart failure" stays beside I50.9; "CP": HPO "Cerebral
        palsy" goes when the curated meaning is chest pain)."""
        curated = {
            c.concept_id
            for c in found
            if c.term_source == CURATED_SOURCE and c.term_type.startswith(ABBREVIATION)
        }
        if not curated or len(found) == len(curated):
            return found
        names = [
            str(norm)
            for concept_id in sorted(curated)
            for (norm,) in db.execute(_NORMS_OF_CONCEPT, (concept_id,)).fetchall()
        ]
        return [
            c
            for c in found
            if c.concept_id in curated
            or not c.term_type.startswith(ABBREVIATION)
            or max((trigram_cosine(normalize(c.preferred), n) for n in names), default=0.0)
            >= SAME_MEANING_COSINE
        ]

    def _approximate(self, norm: str, minimum: float) -> list[Candidate]:
        if len(norm) < APPROXIMATE_MIN_CHARS:
            return []
        with self._lock:
            reader = self._simstring()
            reader.threshold = minimum
            similar = [s for s in reader.retrieve(norm) if s != norm]
            scored = sorted(
                ((trigram_cosine(norm, s), s) for s in similar), key=lambda p: (-p[0], p[1])
            )[:APPROXIMATE_MAX_STRINGS]
            db = self._connection()
            found: list[Candidate] = []
            for similarity, string in scored:
                if similarity < minimum:
                    continue
                for row in db.execute(_BY_NORM, (string,)).fetchall():
                    found.append(self._candidate(row, "approximate", similarity))
        return list(_merge(found))

    def _by_code(self, text: str, systems: list[str] | None) -> list[Candidate]:
        if not text or " " in text or len(text) > 40 or not any(ch.isdigit() for ch in text):
            return []
        with self._lock:
            db = self._connection()
            if self._systems is None:
                self._systems = tuple(
                    s for (s,) in db.execute("SELECT DISTINCT system FROM codes").fetchall()
                )
            found: list[Candidate] = []
            for system in systems or self._systems:
                for value in dict.fromkeys((text, text.upper())):
                    for row in db.execute(_BY_CODE, (system, value)).fetchall():
                        cid, concept_id, preferred, entity, semantic, spec, source = row[:7]
                        found.append(
                            Candidate(
                                concept_id=concept_id,
                                preferred=preferred,
                                entity_type=EntityType(entity) if entity else None,
                                codes=self._codes_of_cid(int(cid)),
                                term=value,
                                term_type="code",
                                term_source=source,
                                how="code",
                                score=EXACT_SCORE,
                                reason=f"code: {short_name(system)} {value}",
                                specificity=spec,
                                semantic_type=semantic,
                                source=source,
                            )
                        )
        return found

    def _codes_of_cid(self, cid: int) -> tuple[Coding, ...]:
        codes = self._codes.get(cid)
        if codes is None:
            rows = self._connection().execute(_CODES, (cid,)).fetchall()
            codes = tuple(Coding(s, c, d) for s, c, d in rows)
            if len(self._codes) > CACHE_SIZE * 4:
                self._codes.clear()
            self._codes[cid] = codes
        return codes

    def _candidate(self, row: Row, how: How, score: float) -> Candidate:
        cid, concept_id, preferred, entity, semantic, spec, source, term, term_type, tsrc = row[:10]
        if how == "exact":
            reason = f"exact: {term_type} '{term}'"
        elif how == "words":
            reason = f"same words, other order: {term_type} '{term}'"
        else:
            reason = f"approximate: cosine {score:.2f} to '{term}'"
            score = min(score, APPROXIMATE_MAX_SCORE)
        if term_type == RELATED_TERM_TYPE and len(str(term).split()) == 1:
            # "Dizziness" is a related synonym of HPO Vertigo, "Oncology" of Neoplasm: a
            # suggestion for coders, never a code on its own.  Related names of several words
            # are mostly paraphrases ("Type 2 diabetes mellitus", "third degree heart block").
            score = min(score, RELATED_MAX_SCORE)
        return Candidate(
            concept_id=concept_id,
            preferred=preferred,
            entity_type=EntityType(entity) if entity else None,
            codes=self._codes_of_cid(int(cid)),
            term=term,
            term_type=term_type,
            term_source=tsrc,
            how=how,
            score=score,
            reason=reason,
            specificity=spec,
            semantic_type=semantic,
            source=source,
        )


def _filters(
    entity_types: Collection[EntityType | str] | None, systems: Collection[str] | None
) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    kinds = (
        frozenset(EntityType(k).value for k in entity_types) if entity_types is not None else None
    )
    uris = frozenset(resolve_system(s) for s in systems) if systems is not None else None
    return kinds, uris


def _rank(c: Candidate) -> tuple[float, int, int, str, str]:
    return (-c.score, -c.specificity, TERM_TYPE_RANK.get(c.term_type, 6), c.concept_id, c.term)


def _merge(found: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """One candidate per concept, the best-ranked evidence kept; sorted by rank."""
    best: dict[str, Candidate] = {}
    for cand in found:
        kept = best.get(cand.concept_id)
        if kept is None or _rank(cand) < _rank(kept):
            best[cand.concept_id] = cand
    return tuple(sorted(best.values(), key=_rank))


def default_store(
    settings: Settings,
    *,
    build_if_missing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TerminologyStore:
    """Open the configured artifact; build the open default once when it is missing, and
    again when it is out of date (built by another version of the open sources).

    Only the artifact named ``default`` is built automatically, from the open sources
    installed with note2fhir (nothing is downloaded), under a file lock so concurrent
    processes build it once.  ``progress`` receives one line per step; without it the start
    is announced with a log warning, which Python prints on stderr even unconfigured.
    """
    folder = settings.terminology_artifact_path
    is_default = settings.terminology_artifact == DEFAULT_ARTIFACT
    if (folder / DB_FILE).is_file():
        if is_default and build_if_missing and settings.terminology_auto_rebuild:
            _rebuild_if_stale(folder, settings.terminology_artifact, progress)
        return TerminologyStore.from_settings(settings)
    if not build_if_missing or not is_default:
        raise Note2FhirError(ErrorCode.TERMINOLOGY_MISSING, path=str(folder))
    try:
        from terminology.build import build_if_missing as build  # noqa: PLC0415
    except ImportError:
        raise Note2FhirError(ErrorCode.TERMINOLOGY_MISSING, path=str(folder)) from None

    def announce() -> None:
        _say(
            f"building the open terminology (one time, about {OPEN_BUILD_ESTIMATE_S} s) "
            f"into {folder}",
            progress,
        )

    build(folder, name=settings.terminology_artifact, progress=progress, announce=announce)
    return TerminologyStore.from_settings(settings)


def _open_simstring(path: Path) -> Any:
    """A simstring reader (cosine measure) of the approximate-match index at ``path``."""
    from quickumls_simstring import simstring  # noqa: PLC0415 - compiled, loaded on first use

    reader = simstring.reader(str(path))
    reader.measure = simstring.cosine
    return reader


def _rebuild_if_stale(folder: Path, name: str, progress: Callable[[str], None] | None) -> None:
    """Rebuild the open default when this installation would build it differently (after an
    upgrade); an artifact holding a licensed release is left as it is."""
    try:
        from terminology.build import OPEN_SOURCES, read_manifest, rebuild_if_stale  # noqa: PLC0415
        from terminology.recipe import is_stale_open_build  # noqa: PLC0415
    except ImportError:
        return
    if not is_stale_open_build(read_manifest(folder), OPEN_SOURCES):
        return

    def announce() -> None:
        _say(
            f"the open terminology in {folder} was built by another version; rebuilding it "
            f"(about {OPEN_BUILD_ESTIMATE_S} s)",
            progress,
        )

    try:
        rebuild_if_stale(folder, name=name, progress=progress, announce=announce)
    except (OSError, Note2FhirError) as exc:
        # A read-only image or volume, or a source package that fails: the artifact that is
        # there still opens; a crash loop would help nobody.
        log.warning(
            "the open terminology in %s is out of date but could not be rebuilt (%s); "
            "using it as it is (run `note2fhir terminology build` where it is writable, or set "
            "terminology_auto_rebuild = false)",
            folder,
            type(exc).__name__,
        )


def _say(message: str, progress: Callable[[str], None] | None) -> None:
    """One progress line: to ``progress``, or a log warning (printed on stderr unconfigured)."""
    if progress is not None:
        progress(message)
    else:
        log.warning("%s", message)
