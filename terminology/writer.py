"""Writing a terminology artifact: every source builder goes through :class:`ArtifactWriter`.

>>> # writer = ArtifactWriter(tmp_folder)
>>> # with writer.source("icd10cm", version="2026", license="public domain",
>>> #                    description="...") as src:
>>> #     cid = src.concept("icd10cm:I10", "Essential (primary) hypertension", EntityType.PROBLEM)
>>> #     src.term(cid, "hypertension", "inclusion"); src.code(cid, ICD10CM, "I10", "...")
>>> # writer.close()  # builds indexes, the simstring index and the manifest
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import bag_of_words, normalize
from note2fhir.terminology.schema import (
    DB_FILE,
    DDL,
    INDEXES,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    SIMSTRING_DB,
    SIMSTRING_DIR,
    SIMSTRING_NGRAM,
)

MAX_TERM_LENGTH = 256
"""Longer 'terms' are definitions or sentences, not names: they are not indexed."""


@dataclass
class SourceCounts:
    """What one source added to the artifact."""

    concepts: int = 0
    terms: int = 0
    codes: int = 0
    crosswalks: int = 0


@dataclass
class SourceWriter:
    """Adds one source's concepts, terms, codes and crosswalks (:meth:`ArtifactWriter.source`)."""

    db: sqlite3.Connection
    name: str
    counts: SourceCounts = field(default_factory=SourceCounts)

    def concept(
        self,
        concept_id: str,
        preferred: str,
        entity_type: EntityType | None,
        *,
        semantic_type: str | None = None,
        specificity: int = 0,
        add_preferred_term: bool = True,
    ) -> int:
        """Add (or find) a concept and return its row id; its preferred name becomes a term."""
        row = self.db.execute(
            "SELECT cid FROM concepts WHERE concept_id = ?", (concept_id,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        cur = self.db.execute(
            "INSERT INTO concepts (concept_id, source, preferred, entity_type, semantic_type,"
            " specificity) VALUES (?, ?, ?, ?, ?, ?)",
            (
                concept_id,
                self.name,
                preferred,
                entity_type.value if entity_type else None,
                semantic_type,
                specificity,
            ),
        )
        self.counts.concepts += 1
        cid = int(cur.lastrowid or 0)
        if add_preferred_term:
            self.term(cid, preferred, "preferred")
        return cid

    def term(self, cid: int, term: str, term_type: str) -> bool:
        """Add a name for concept ``cid``; empty, over-long or repeated names are skipped."""
        norm = normalize(term)
        if not norm or len(term) > MAX_TERM_LENGTH:
            return False
        # The UNIQUE (cid, norm, term_type) constraint drops repeats inside SQLite, so memory
        # stays flat on a full UMLS release (~10M names).
        cur = self.db.execute(
            "INSERT OR IGNORE INTO terms (cid, term, norm, bag, term_type, source)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (cid, term.strip(), norm, bag_of_words(norm), term_type, self.name),
        )
        if cur.rowcount != 1:
            return False
        self.counts.terms += 1
        return True

    def code(self, cid: int, system: str, code: str, display: str) -> None:
        """Attach a code (canonical FHIR system URI) to concept ``cid``."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO codes (cid, system, code, display) VALUES (?, ?, ?, ?)",
            (cid, system, code, display),
        )
        self.counts.codes += cur.rowcount

    def crosswalk(
        self,
        from_system: str,
        from_code: str,
        to_system: str,
        to_code: str,
        relation: str,
        rule: str | None = None,
    ) -> None:
        """Record that ``from`` maps to ``to`` (SNOMED CT → ICD-10-CM, ingredient → drug ...)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO crosswalk (from_system, from_code, to_system, to_code,"
            " relation, source, rule) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (from_system, from_code, to_system, to_code, relation, self.name, rule),
        )
        self.counts.crosswalks += cur.rowcount


class ArtifactWriter:
    """Builds one artifact folder: SQLite tables, indexes, simstring index, manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        db_path = folder / DB_FILE
        if db_path.exists():
            raise FileExistsError(f"{db_path} exists; build into an empty folder")
        self.db = sqlite3.connect(db_path)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.executescript(DDL)
        self.started = time.monotonic()

    @contextmanager
    def source(
        self,
        name: str,
        *,
        version: str,
        license: str,
        description: str,
        release_date: str | None = None,
    ) -> Iterator[SourceWriter]:
        """Write one source inside a transaction and record its provenance and counts."""
        started = time.monotonic()
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.db.execute(
            "INSERT INTO sources (name, version, release_date, license, description, built_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, release_date, license, description, built_at),
        )
        writer = SourceWriter(self.db, name)
        yield writer
        c = writer.counts
        self.db.execute(
            "UPDATE sources SET concepts = ?, terms = ?, codes = ?, crosswalks = ?,"
            " build_seconds = ? WHERE name = ?",
            (c.concepts, c.terms, c.codes, c.crosswalks, time.monotonic() - started, name),
        )
        self.db.commit()

    def close(self, *, artifact_name: str, recipe: str | None = None) -> dict[str, Any]:
        """Create indexes, write the simstring index and manifest; return the manifest.
        ``recipe`` (open builds only) lets a later run tell that the artifact is out of date."""
        self.db.executescript(INDEXES)
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("schema_version", str(SCHEMA_VERSION)),
                ("artifact", artifact_name),
                ("built_at", built_at),
            ],
        )
        self.db.commit()
        self._write_simstring()
        manifest = self.manifest(artifact_name, built_at)
        if recipe is not None:
            manifest["recipe"] = recipe
        self.db.execute("VACUUM")
        self.db.close()
        (self.folder / MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        return manifest

    def manifest(self, artifact_name: str, built_at: str) -> dict[str, Any]:
        """The artifact's provenance: schema, build time, and per source its counts."""
        columns = [
            "name", "version", "release_date", "license", "description", "concepts", "terms",
            "codes", "crosswalks", "built_at", "build_seconds",
        ]  # fmt: skip
        rows = self.db.execute(f"SELECT {', '.join(columns)} FROM sources ORDER BY name")
        return {
            "schema_version": SCHEMA_VERSION,
            "artifact": artifact_name,
            "built_at": built_at,
            "build_seconds": round(time.monotonic() - self.started, 1),
            "sources": [dict(zip(columns, row, strict=True)) for row in rows],
        }

    def _write_simstring(self) -> None:
        from quickumls_simstring import simstring  # noqa: PLC0415 - a compiled extension

        folder = self.folder / SIMSTRING_DIR
        folder.mkdir()
        # Character trigrams with begin/end marks (be=True): without them a one-letter typo in
        # a short term ("hypertenson") falls below a 0.8 cosine.  The reader re-scores with
        # the same padded trigrams (note2fhir.terminology.store.trigram_cosine).
        db = simstring.writer(str(folder / SIMSTRING_DB), SIMSTRING_NGRAM, True, True)
        for (norm,) in self.db.execute("SELECT DISTINCT norm FROM terms ORDER BY norm"):
            db.insert(norm)
        db.close()
