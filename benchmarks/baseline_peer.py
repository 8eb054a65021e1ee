"""The peer baseline: QuickUMLS 1.4.2 + negspacy 1.1.0 over note2fhir's own vocabulary.

Usage::

    python benchmarks/baseline_peer.py build [--workdir DIR]
    python benchmarks/baseline_peer.py annotate IN.jsonl -o OUT.jsonl [--workdir DIR]

The evaluation scripts import :class:`PeerAnnotator` and run it beside note2fhir in the same
process.  Both systems read the same terminology: the artifact note2fhir opens (the open default
unless settings name another) is exported as fake UMLS files, one synthetic CUI per concept:

* ``MRCONSO.RRF``: every term of every typed concept (ISPREF=Y for its preferred terms);
* ``MRSTY.RRF``: one semantic type per CUI, chosen among QuickUMLS's default accepted types and
  mapped back to the same entity type by ``terminology/semantic_types.yaml``: problem → T047,
  medication → T121, test → T059, procedure → T061;

and indexed with ``terminology.sources.umls.build_quickumls_index`` (a QuickUMLS 1.4 index,
unqlite backend, lower-cased).  The index is cached under ``--workdir`` (default
``~/.cache/note2fhir-bench``) in a folder named after the artifact's manifest, so a rebuilt
artifact gets a fresh index.

Offline adaptations (nothing is downloaded):

* QuickUMLS loads ``en_core_web_sm`` unless it runs as a spaCy component; it is built with
  ``spacy_component=True`` (which skips ``spacy.load``) and then given ``spacy.blank("en")``.
  Only ``QuickUMLS.match`` is used: its spaCy component crashes on spaCy 3.8 when matches
  overlap.  A blank pipeline has no part-of-speech tags, so spans starting or ending on an
  English stop word are refused instead of QuickUMLS's ADP/DET/CONJ tests (as the shared
  reference peer does).
* QuickUMLS asks NLTK for its English stop words and would download them; the list is shipped
  here and laid out as an NLTK corpus under the work folder.
* negspacy runs on ``spacy.blank("en")`` + the rule sentencizer, with its ``en_clinical``
  termset, over the entities put in a span group (``doc.ents`` cannot hold overlapping spans).

Matching settings are those of the shared reference peer: Jaccard ≥ 0.8, window 5 tokens,
longest match wins.  The packages are the ``eval`` extra (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_WORKDIR = Path(os.environ.get("NOTE2FHIR_BENCH_DIR", "~/.cache/note2fhir-bench"))
EXPORT_VERSION = 1
"""Bump when the export changes, so cached indexes are rebuilt."""

THRESHOLD = 0.8
WINDOW = 5
SIMILARITY = "jaccard"
OVERLAPPING = "length"

SEMANTIC_TYPES = {"problem": "T047", "medication": "T121", "test": "T059", "procedure": "T061"}
"""Entity type → the TUI written for it (all in QuickUMLS's default accepted types)."""
ENTITY_OF_TUI = {tui: etype for etype, tui in SEMANTIC_TYPES.items()}

ASSERTION_FLAGS = ("negated", "uncertain", "hypothetical", "historical", "family")

# NLTK's English stop-word list (nltk_data corpora/stopwords/english), so QuickUMLS never calls
# nltk.download().
_NLTK_ENGLISH = """
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of at
by for with about against between into through during before after above below to from up down
in out on off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just don
don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn
doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn
needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
"""
NLTK_ENGLISH_STOPWORDS = _NLTK_ENGLISH.split()


# --- export ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One term of one typed concept of the artifact."""

    cid: int
    concept_id: str
    entity_type: str
    term: str
    preferred: bool


def synthetic_cui(cid: int) -> str:
    """The fake CUI of an artifact concept row id: ``C`` and seven digits (``C0000042``)."""
    return f"C{cid:07d}"


def mrconso_line(row: ExportRow) -> str:
    """One MRCONSO.RRF line (18 fields and the trailing ``|``) for a term."""
    text = " ".join(row.term.replace("|", " ").split())
    fields = [synthetic_cui(row.cid), "ENG", "P", "", "", "", "Y" if row.preferred else "N"]
    fields += ["", "", "", "", "NOTE2FHIR", "PT", row.concept_id, text, "0", "N", ""]
    return "|".join(fields) + "|\n"


def write_umls_files(rows: Iterable[ExportRow], umls_dir: Path) -> dict[str, Any]:
    """Write MRCONSO.RRF/MRSTY.RRF (rows grouped by concept, as a release is sorted by CUI)
    and ``concepts.json`` (CUI → concept id and entity type); return counts."""
    umls_dir.mkdir(parents=True, exist_ok=True)
    concepts: dict[str, list[str]] = {}
    terms = 0
    with (
        (umls_dir / "MRCONSO.RRF").open("w", encoding="utf-8", newline="\n") as conso,
        (umls_dir / "MRSTY.RRF").open("w", encoding="utf-8", newline="\n") as sty,
    ):
        for row in rows:
            if not row.term.strip() or row.entity_type not in SEMANTIC_TYPES:
                continue
            cui = synthetic_cui(row.cid)
            if cui not in concepts:
                concepts[cui] = [row.concept_id, row.entity_type]
                tui = SEMANTIC_TYPES[row.entity_type]
                sty.write(f"{cui}|{tui}|||||\n")
            conso.write(mrconso_line(row))
            terms += 1
    (umls_dir / "concepts.json").write_text(json.dumps(concepts), encoding="utf-8")
    by_type: dict[str, int] = {}
    for _, etype in concepts.values():
        by_type[etype] = by_type.get(etype, 0) + 1
    return {"concepts": len(concepts), "terms": terms, "by_type": by_type}


def artifact_rows(folder: Path) -> Iterator[ExportRow]:
    """Every term of every concept with an entity type in the artifact at ``folder``, grouped
    by concept.  Reads the documented SQLite schema read-only."""
    from note2fhir.terminology.schema import DB_FILE  # noqa: PLC0415

    db = sqlite3.connect(f"{(folder / DB_FILE).resolve().as_uri()}?mode=ro", uri=True)
    try:
        query = (
            "SELECT c.cid, c.concept_id, c.entity_type, t.term, t.term_type = 'preferred'"
            " FROM concepts c JOIN terms t ON t.cid = c.cid"
            " WHERE c.entity_type IS NOT NULL ORDER BY c.cid, t.tid"
        )
        for cid, concept_id, etype, term, preferred in db.execute(query):
            yield ExportRow(cid, concept_id, etype, term, bool(preferred))
    finally:
        db.close()


def artifact_folder(artifact: Path | None = None) -> Path:
    """The artifact folder: ``artifact``, else the one note2fhir's settings name (the open
    default is built on first use)."""
    if artifact is not None:
        return artifact
    from note2fhir.settings import load_settings  # noqa: PLC0415
    from note2fhir.terminology.store import default_store  # noqa: PLC0415

    store = default_store(load_settings())
    folder: Path = store.folder
    store.close()
    return folder


def index_folder(workdir: Path, artifact: Path) -> Path:
    """Where the peer index of ``artifact`` lives: named after its manifest's digest."""
    from note2fhir.terminology.schema import MANIFEST_FILE  # noqa: PLC0415

    digest = hashlib.sha256((artifact / MANIFEST_FILE).read_bytes())
    digest.update(f"export-v{EXPORT_VERSION}".encode())
    return workdir.expanduser() / f"quickumls-{artifact.name}-{digest.hexdigest()[:12]}"


def write_stopwords(folder: Path) -> Path:
    """Lay out NLTK's English stop words as an ``nltk_data`` folder; return that folder."""
    nltk_data = folder / "nltk_data"
    corpus = nltk_data / "corpora" / "stopwords"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "english").write_text("\n".join(NLTK_ENGLISH_STOPWORDS) + "\n", encoding="utf-8")
    return nltk_data


def build_index(rows: Iterable[ExportRow], folder: Path) -> dict[str, Any]:
    """Write the fake UMLS files, the QuickUMLS index and the stop words into an empty or
    absent ``folder``; ``build.json`` (written last) marks it complete.  Returns its content."""
    from terminology.sources.umls import build_quickumls_index  # noqa: PLC0415

    started = time.perf_counter()
    counts = write_umls_files(rows, folder / "umls")
    exported = time.perf_counter() - started
    build_quickumls_index(folder / "umls", folder / "quickumls", languages=("ENG",))
    write_stopwords(folder)
    info = {
        "export_seconds": round(exported, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
        **counts,
    }
    (folder / "build.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def build(workdir: Path = DEFAULT_WORKDIR, artifact: Path | None = None) -> Path:
    """Export the artifact and build its peer index (once; cached); return the index folder."""
    source = artifact_folder(artifact)
    folder = index_folder(workdir, source)
    if not (folder / "build.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        build_index(artifact_rows(source), folder)
    return folder


# --- annotation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerEntity:
    """One QuickUMLS match: its span, entity type, concept and similarity."""

    start: int
    end: int
    type: str
    concept_id: str
    similarity: float


class NegexPeer:
    """negspacy's NegEx (``en_clinical`` termset) on ``spacy.blank("en")`` + sentencizer."""

    def __init__(self) -> None:
        import spacy  # noqa: PLC0415
        from negspacy.negation import Negex  # noqa: F401, PLC0415  (registers "negex")
        from negspacy.termsets import termset  # noqa: PLC0415

        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("sentencizer")
        self.nlp.add_pipe(
            "negex",
            config={
                "neg_termset": termset("en_clinical").get_patterns(),  # type: ignore[no-untyped-call]
                "span_keys": ["sc"],
            },
        )

    def negated(self, text: str, spans: list[tuple[int, int]]) -> list[bool]:
        """negspacy's verdict for each span, given to it as a span group (spans may overlap;
        a span covering no token is False).  Spans are widened to token boundaries."""
        doc = self.nlp.make_doc(text)
        kept, where = [], []
        for i, (start, end) in enumerate(spans):
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is not None and len(span):
                kept.append(span)
                where.append(i)
        doc.spans["sc"] = kept
        for _, component in self.nlp.pipeline:
            doc = component(doc)
        flags = [False] * len(spans)
        for i, span in zip(where, doc.spans["sc"], strict=True):
            flags[i] = bool(span._.negex)
        return flags


class PeerAnnotator:
    """QuickUMLS best matches plus negspacy negation, on blank English spaCy pipelines."""

    def __init__(self, folder: Path) -> None:
        """Load the peer from an index folder made by :func:`build_index`."""
        import nltk  # noqa: PLC0415

        self.info: dict[str, Any] = json.loads((folder / "build.json").read_text("utf-8"))
        nltk_data = str(write_stopwords(folder))
        if nltk_data not in nltk.data.path:
            nltk.data.path.insert(0, nltk_data)
        self.concepts: dict[str, list[str]] = json.loads(
            (folder / "umls" / "concepts.json").read_text("utf-8")
        )
        self.matcher = _blank_quickumls(folder / "quickumls")
        self.negex = NegexPeer()

    @classmethod
    def create(cls, workdir: Path = DEFAULT_WORKDIR, artifact: Path | None = None) -> PeerAnnotator:
        """The peer over ``artifact`` (default: note2fhir's configured one), index cached in
        ``workdir``."""
        return cls(build(workdir, artifact))

    def entities(self, text: str) -> list[PeerEntity]:
        """QuickUMLS's best non-overlapping matches, typed by their best candidate."""
        found: list[PeerEntity] = []
        for group in self.matcher.match(text, best_match=True, ignore_syntax=False):
            best = group[0]
            concept_id, etype = self.concepts[best["cui"]]
            found.append(
                PeerEntity(best["start"], best["end"], etype, concept_id, best["similarity"])
            )
        return sorted(_drop_overlaps(found), key=lambda e: (e.start, e.end))

    def annotate(self, record: dict[str, Any]) -> dict[str, Any]:
        """A contract-shaped object (``id``, ``entities``) for one ``{"id","text","targets"}``
        record; target spans become (problem) entities when QuickUMLS found nothing there."""
        text = record["text"]
        entities: list[dict[str, Any]] = [
            {"start": e.start, "end": e.end, "type": e.type, "concept_id": e.concept_id}
            for e in self.entities(text)
        ]
        have = {(e["start"], e["end"]) for e in entities}
        for target in record.get("targets") or []:
            span = (target["start"], target["end"])
            if span not in have:
                have.add(span)
                entities.append({"start": span[0], "end": span[1], "type": "problem"})
        entities.sort(key=lambda e: (e["start"], e["end"]))
        flags = self.negex.negated(text, [(e["start"], e["end"]) for e in entities])
        for ent, negated in zip(entities, flags, strict=True):
            ent["text"] = text[ent["start"] : ent["end"]]
            ent["assertion"] = dict.fromkeys(ASSERTION_FLAGS, False) | {"negated": negated}
        return {"id": record["id"], "entities": entities}


def _drop_overlaps(found: list[PeerEntity]) -> list[PeerEntity]:
    """Keep the longest of overlapping matches (QuickUMLS's selection keeps some overlaps)."""
    kept: list[PeerEntity] = []
    for ent in sorted(found, key=lambda e: (e.start - e.end, e.start)):
        if all(ent.end <= k.start or ent.start >= k.end for k in kept):
            kept.append(ent)
    return kept


def _blank_quickumls(index: Path) -> Any:
    """A QuickUMLS matcher on ``spacy.blank("en")`` (no downloaded model)."""
    import spacy  # noqa: PLC0415
    from quickumls import QuickUMLS  # noqa: PLC0415

    class BlankQuickUMLS(QuickUMLS):  # type: ignore[misc]
        # Without POS tags the ADP/DET/CONJ tests never fire; stop words stand in for them.
        def _is_stop_term(self, tok: Any) -> bool:
            return bool(tok.lower_ in self._stopwords)

        def _is_valid_token(self, tok: Any) -> bool:
            return bool(super()._is_valid_token(tok)) and not self._is_stop_term(tok)

    matcher = BlankQuickUMLS(
        str(index),
        threshold=THRESHOLD,
        window=WINDOW,
        similarity_name=SIMILARITY,
        overlapping_criteria=OVERLAPPING,
        accepted_semtypes=set(ENTITY_OF_TUI),
        spacy_component=True,  # skips spacy.load("en_core_web_sm")
    )
    matcher.nlp = spacy.blank("en")
    return matcher


# --- command line ------------------------------------------------------------------------------


def main() -> None:
    """Build the peer index, or annotate JSON Lines records with the peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--artifact", type=Path, help="terminology artifact folder to export")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="export the vocabulary and build the QuickUMLS index")
    annotate = sub.add_parser("annotate", help="annotate {id, text, targets} JSON Lines")
    annotate.add_argument("input", type=Path)
    annotate.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    print(f"command: python benchmarks/baseline_peer.py {' '.join(sys.argv[1:])}", file=sys.stderr)
    if args.command == "build":
        folder = build(args.workdir, args.artifact)
        print(f"index: {folder}")
        print((folder / "build.json").read_text("utf-8"))
        return
    peer = PeerAnnotator.create(args.workdir, args.artifact)
    with (
        args.input.open(encoding="utf-8") as source,
        args.output.open("w", encoding="utf-8") as out,
    ):
        for line in source:
            if line.strip():
                out.write(json.dumps(peer.annotate(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
