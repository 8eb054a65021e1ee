"""Entity extraction: strict and lenient P/R/F1 by type, note2fhir beside the peer.

Usage::

    python benchmarks/eval_entities.py [--datasets maccrobat,ncbi,chia] [--limit N]
        [--pipeline sections,sentences,...] [--no-peer] [--save DIR] [--data DIR]

Gold (types mapped to note2fhir's; other types are not scored):

* MACCROBAT2020 dev (brat): Disease_disorder, Sign_symptom → problem; Medication → medication;
  Diagnostic_procedure, Lab_value → test; Therapeutic_procedure → procedure;
* NCBI-disease train + devel (PubTator): every disease mention → problem (only problem is
  scored there: the corpus annotates nothing else);
* Chia with scopes (brat): Condition → problem, Drug → medication, Procedure → procedure,
  Measurement → test.  Chia's stated results are ``Value`` entities, which are not mapped, so
  our results (entities with ``role`` ``result``) are left out there; MACCROBAT's
  ``Lab_value`` → test counts them.

A discontinuous span is taken as its outer extent.  Strict: same span and type.  Lenient: a
system entity counts for precision when it overlaps a gold entity of its type, a gold entity
counts for recall when a system entity of its type overlaps it (the definitions of the shared
``score_brat.py``).  Micro figures pool the scored types.  The note2fhir pipeline is the
configured one (``NOTE2FHIR_PIPELINE``) unless ``--pipeline`` names another; the peer is
``baseline_peer.py`` over the same terminology.  ``--save DIR`` writes the inputs and both
systems' output as JSON Lines (``<dataset>.in.jsonl``, ``<dataset>.ours.jsonl``,
``<dataset>.peer.jsonl``) for the shared scorers.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    OurSystem,
    add_system_args,
    attribution,
    command_line,
    load_peer,
    markdown_table,
    prf,
    require_data,
)

MACCROBAT_TYPES = {
    "Disease_disorder": "problem",
    "Sign_symptom": "problem",
    "Medication": "medication",
    "Diagnostic_procedure": "test",
    "Lab_value": "test",
    "Therapeutic_procedure": "procedure",
}
CHIA_TYPES = {
    "Condition": "problem",
    "Drug": "medication",
    "Procedure": "procedure",
    "Measurement": "test",
}
ALL_TYPES = ("medication", "problem", "procedure", "test")

NEGATED_ATTRIBUTES = frozenset({("POLARITY", "NEG")})
UNCERTAIN_ATTRIBUTES = frozenset(
    {
        ("POLARITY", "UNCERTAIN"),
        ("POLARITY", "MAYBE_POS"),
        ("POLARITY", "MAYBE_NEG"),
        ("MODALITY", "UNCERTAIN"),
    }
)
"""MACCROBAT attributes read as negated / uncertain (as the shared make_brat_input.py)."""

_NUMBER = re.compile(r"\d+")


# --- gold --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class GoldEntity:
    """A gold mention mapped to a note2fhir type, with its assertion flags."""

    start: int
    end: int
    type: str
    negated: bool = False
    uncertain: bool = False


@dataclass(slots=True)
class GoldDoc:
    """One gold document: id, text (offsets index it) and mapped entities."""

    id: str
    text: str
    entities: list[GoldEntity]

    def record(self, *, targets: bool = False) -> dict[str, Any]:
        """The ``{"id","text"[,"targets"]}`` input record of this document."""
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if targets:
            spans = sorted({(e.start, e.end) for e in self.entities})
            out["targets"] = [{"start": s, "end": e} for s, e in spans]
        return out


@dataclass(slots=True)
class Brat:
    """The parsed lines of one brat ``.ann`` file."""

    spans: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    """T id → (label, outer start, outer end)."""
    triggers: dict[str, str] = field(default_factory=dict)
    """E id → its trigger's T id."""
    attributes: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    """T or E id → {(name, value)}; a binary attribute has the value ``true``."""
    relations: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, Arg1 id, Arg2 id)."""

    def attributes_of(self, tid: str) -> set[tuple[str, str]]:
        """Attributes of a text-bound annotation and of the events it triggers."""
        found = set(self.attributes.get(tid, ()))
        for eid, trigger in self.triggers.items():
            if trigger == tid:
                found |= self.attributes.get(eid, set())
        return found


def parse_ann(content: str) -> Brat:
    """Parse brat standoff: T (discontinuous ``s1 e1;s2 e2`` → outer extent), E, A, R lines.

    >>> parse_ann("T1\\tSign_symptom 0 5;9 14\\tfever chill").spans
    {'T1': ('Sign_symptom', 0, 14)}
    """
    brat = Brat()
    for line in content.splitlines():
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0]:
            continue
        kind, body = fields[0][0], fields[1].split()
        if kind == "T" and len(body) >= 3:
            numbers = [int(n) for n in _NUMBER.findall(" ".join(body[1:]))]
            if numbers:
                brat.spans[fields[0]] = (body[0], min(numbers), max(numbers))
        elif kind == "E" and body:
            _, _, trigger = body[0].partition(":")
            brat.triggers[fields[0]] = trigger
        elif kind == "A" and len(body) >= 2:
            value = body[2] if len(body) >= 3 else "true"
            brat.attributes.setdefault(body[1], set()).add((body[0], value))
        elif kind == "R" and len(body) >= 3:
            args = dict(part.split(":", 1) for part in body[1:] if ":" in part)
            if "Arg1" in args and "Arg2" in args:
                brat.relations.append((body[0], args["Arg1"], args["Arg2"]))
    return brat


def read_text(path: Path) -> str:
    """A brat ``.txt`` exactly as stored: brat offsets count every character, ``\\r``
    included (Chia's files have CRLF line ends)."""
    return path.read_bytes().decode("utf-8")


def brat_paths(folder: Path) -> list[Path]:
    """The ``.txt`` files with an ``.ann`` beside them, sorted by name (PMIDs numerically)."""
    paths = [p for p in folder.glob("*.txt") if p.with_suffix(".ann").is_file()]
    return sorted(
        paths,
        key=lambda p: (not p.stem.isdigit(), int(p.stem or 0) if p.stem.isdigit() else 0, p.stem),
    )


def maccrobat_entities(brat: Brat) -> list[GoldEntity]:
    """Mapped MACCROBAT entities, one per (span, type), flags merged."""
    merged: dict[tuple[int, int, str], tuple[bool, bool]] = {}
    for tid, (label, start, end) in brat.spans.items():
        etype = MACCROBAT_TYPES.get(label)
        if etype is None:
            continue
        attrs = brat.attributes_of(tid)
        old = merged.get((start, end, etype), (False, False))
        merged[(start, end, etype)] = (
            old[0] or bool(attrs & NEGATED_ATTRIBUTES),
            old[1] or bool(attrs & UNCERTAIN_ATTRIBUTES),
        )
    return sorted(GoldEntity(*key, *flags) for key, flags in merged.items())


def chia_entities(brat: Brat) -> list[GoldEntity]:
    """Mapped Chia entities, one per (span, type); negated when a ``Has_negation`` relation
    links it, or a Scope that contains it, to a Negation cue."""
    negated_ids: set[str] = set()
    negated_scopes: list[tuple[int, int]] = []
    for rtype, arg1, arg2 in brat.relations:
        if rtype != "Has_negation":
            continue
        for target, cue in ((arg1, arg2), (arg2, arg1)):
            if brat.spans.get(cue, ("",))[0] != "Negation" or target not in brat.spans:
                continue
            label, start, end = brat.spans[target]
            if label == "Scope":
                negated_scopes.append((start, end))
            else:
                negated_ids.add(target)
    merged: dict[tuple[int, int, str], bool] = {}
    for tid, (label, start, end) in brat.spans.items():
        etype = CHIA_TYPES.get(label)
        if etype is None:
            continue
        negated = tid in negated_ids or any(s <= start and end <= e for s, e in negated_scopes)
        merged[(start, end, etype)] = merged.get((start, end, etype), False) or negated
    return sorted(GoldEntity(s, e, t, negated=n) for (s, e, t), n in merged.items())


def read_maccrobat(folder: Path, limit: int | None = None) -> list[GoldDoc]:
    """MACCROBAT documents (sorted by PMID) with mapped entities and POLARITY flags."""
    docs = []
    for path in brat_paths(folder)[:limit]:
        brat = parse_ann(path.with_suffix(".ann").read_text(encoding="utf-8"))
        docs.append(GoldDoc(path.stem, read_text(path), maccrobat_entities(brat)))
    return docs


def read_chia(folder: Path, limit: int | None = None) -> list[GoldDoc]:
    """Chia documents (one per trial and inclusion/exclusion list) with mapped entities."""
    docs = []
    for path in brat_paths(folder)[:limit]:
        brat = parse_ann(path.with_suffix(".ann").read_text(encoding="utf-8"))
        docs.append(GoldDoc(path.stem, read_text(path), chia_entities(brat)))
    return docs


def parse_pubtator(content: str) -> list[GoldDoc]:
    """PubTator documents: text = title + ' ' + abstract; every mention → problem.  A PMID
    seen twice (8528200 in NCBI train) is kept once.

    >>> doc = parse_pubtator("1|t|Flu.\\n1|a|No cough.\\n1\\t0\\t3\\tFlu\\tDisease\\tD1\\n")[0]
    >>> doc.text, doc.entities[0].end
    ('Flu. No cough.', 3)
    """
    docs: dict[str, GoldDoc] = {}
    for block in re.split(r"\n[ \t]*\n", content):
        lines = [line for line in block.splitlines() if line.strip()]
        title = next((x.split("|t|", 1) for x in lines if "|t|" in x), None)
        abstract = next((x.split("|a|", 1)[1] for x in lines if "|a|" in x), "")
        if title is None or title[0] in docs:
            continue
        text = f"{title[1]} {abstract}"
        spans = set()
        for line in lines:
            parts = line.split("\t")
            if len(parts) >= 4 and parts[1].isdigit() and parts[2].isdigit():
                spans.add(GoldEntity(int(parts[1]), int(parts[2]), "problem"))
        docs[title[0]] = GoldDoc(title[0], text, sorted(spans))
    return list(docs.values())


def read_ncbi(folder: Path, splits: Sequence[str], limit: int | None = None) -> list[GoldDoc]:
    """NCBI-disease documents of the named splits (``train``, ``devel``), ids ``split:PMID``."""
    docs: list[GoldDoc] = []
    for split in splits:
        for path in sorted((folder / "original-data" / split).glob("*.txt")):
            for doc in parse_pubtator(path.read_text(encoding="utf-8")):
                doc.id = f"{split}:{doc.id}"
                docs.append(doc)
    return docs[:limit]


# --- scoring -----------------------------------------------------------------------------------

Span = tuple[int, int, str]


@dataclass(slots=True)
class EntityCounts:
    """Counts behind strict and lenient P/R/F1 of one type (or all of them)."""

    gold: int = 0
    system: int = 0
    strict_tp: int = 0
    system_overlapping: int = 0
    gold_overlapped: int = 0

    def add(self, other: EntityCounts) -> None:
        """Pool another type's counts into these."""
        self.gold += other.gold
        self.system += other.system
        self.strict_tp += other.strict_tp
        self.system_overlapping += other.system_overlapping
        self.gold_overlapped += other.gold_overlapped

    def strict(self) -> tuple[float, float, float]:
        """Strict precision, recall, F1."""
        return prf(self.strict_tp, self.system, self.gold)

    def lenient(self) -> tuple[float, float, float]:
        """Lenient precision, recall, F1 (overlap, same type)."""
        p = self.system_overlapping / self.system if self.system else 0.0
        r = self.gold_overlapped / self.gold if self.gold else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score_entities(
    gold: dict[str, set[Span]], system: dict[str, set[Span]], types: Iterable[str]
) -> dict[str, EntityCounts]:
    """Counts per type and ``micro`` over ``types``; a document missing on one side counts as
    empty there.  Entities of other types are ignored."""
    result = {t: EntityCounts() for t in types}
    for doc in gold.keys() | system.keys():
        for etype, counts in result.items():
            g = {x for x in gold.get(doc, ()) if x[2] == etype}
            s = {x for x in system.get(doc, ()) if x[2] == etype}
            counts.gold += len(g)
            counts.system += len(s)
            counts.strict_tp += len(g & s)
            counts.system_overlapping += sum(any(_overlaps(x, y) for y in g) for x in s)
            counts.gold_overlapped += sum(any(_overlaps(x, y) for y in s) for x in g)
    micro = EntityCounts()
    for counts in result.values():
        micro.add(counts)
    result["micro"] = micro
    return result


def score_rows(system_name: str, counts: dict[str, EntityCounts]) -> list[list[object]]:
    """Table rows (system, type, gold, system, strict P/R/F1, lenient P/R/F1)."""
    return [
        [system_name, etype, c.gold, c.system, *c.strict(), *c.lenient()]
        for etype, c in counts.items()
    ]


SCORE_HEADERS = [
    "system", "type", "gold", "found", "strict P", "strict R", "strict F1",
    "lenient P", "lenient R", "lenient F1",
]  # fmt: skip


def spans_of(output: dict[str, Any], *, results: bool = True) -> set[Span]:
    """(start, end, type) of every entity of an ``annotate`` object; ``results=False`` leaves
    out stated results (``role`` ``result``) for corpora whose gold has no type for them."""
    return {
        (e["start"], e["end"], e["type"])
        for e in output.get("entities", [])
        if results or e.get("role", "mention") != "result"
    }


# --- running -----------------------------------------------------------------------------------


@dataclass
class Dataset:
    """One gold corpus to score on."""

    key: str
    title: str
    folder: Path
    docs: list[GoldDoc]
    types: tuple[str, ...]
    results: bool = True
    """Whether the gold annotates stated results as tests (MACCROBAT's Lab_value)."""


def load_datasets(data: Path, keys: Sequence[str], limit: int | None) -> list[Dataset]:
    """The named corpora, each cut to its first ``limit`` documents."""
    found = []
    for key in keys:
        if key == "maccrobat":
            folder = data / "maccrobat2020-dev"
            require_data(folder)
            docs = read_maccrobat(folder / "MACCROBAT2020", limit)
            found.append(Dataset(key, "MACCROBAT2020 dev", folder, docs, ALL_TYPES))
        elif key == "ncbi":
            folder = data / "ncbi-disease"
            require_data(folder)
            docs = read_ncbi(folder, ("train", "devel"), limit)
            found.append(Dataset(key, "NCBI-disease train+devel", folder, docs, ("problem",)))
        elif key == "chia":
            folder = data / "chia"
            require_data(folder)
            docs = read_chia(folder / "chia_with_scope", limit)
            # Chia's results are "Value" entities, a type the mapping leaves out.
            found.append(Dataset(key, "Chia (with scope)", folder, docs, ALL_TYPES, False))
        else:
            raise SystemExit(f"unknown dataset {key!r} (maccrobat, ncbi, chia)")
    return found


def run_ours(
    ours: OurSystem, docs: list[GoldDoc], *, targets: bool = False
) -> tuple[dict[str, dict[str, Any]], float]:
    """note2fhir's ``annotate`` object per document id, and the seconds it took."""
    started = time.perf_counter()
    outputs = {doc.id: ours.annotate(doc.record(targets=targets)) for doc in docs}
    return outputs, time.perf_counter() - started


def run_peer(
    peer: Any, docs: list[GoldDoc], *, targets: bool = False
) -> tuple[dict[str, dict[str, Any]], float]:
    """The peer's contract-shaped object per document id, and the seconds it took."""
    started = time.perf_counter()
    outputs = {doc.id: peer.annotate(doc.record(targets=targets)) for doc in docs}
    return outputs, time.perf_counter() - started


def save_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write JSON Lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    """Score note2fhir and the peer on each corpus; print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="maccrobat,ncbi,chia")
    parser.add_argument("--limit", type=int, help="first N documents of each corpus")
    add_system_args(parser, peer="QuickUMLS")
    parser.add_argument("--save", type=Path, help="write inputs and outputs as JSON Lines here")
    args = parser.parse_args()

    datasets = load_datasets(args.data, args.datasets.split(","), args.limit)
    ours = OurSystem.from_args(args)
    peer = load_peer(args.workdir, not args.no_peer)
    print("# Entity extraction\n")
    print(f"command: `{command_line()}`\n")
    print(f"note2fhir pipeline: {' -> '.join(ours.stages)}")
    if peer is not None:
        info = peer.info
        print(
            "peer: QuickUMLS + negspacy over the same vocabulary "
            f"({info['concepts']} concepts, {info['terms']} terms)"
        )
    summary: list[list[object]] = []
    for ds in datasets:
        n_gold = sum(len(d.entities) for d in ds.docs)
        print(f"\n## {ds.title}: {len(ds.docs)} documents, {n_gold} gold entities\n")
        gold = {d.id: {(e.start, e.end, e.type) for e in d.entities} for d in ds.docs}
        systems: list[tuple[str, dict[str, dict[str, Any]], float]] = []
        out, seconds = run_ours(ours, ds.docs)
        systems.append(("note2fhir", out, seconds))
        if peer is not None:
            out, seconds = run_peer(peer, ds.docs)
            systems.append(("peer", out, seconds))
        rows: list[list[object]] = []
        for name, outputs, seconds in systems:
            spans = {k: spans_of(v, results=ds.results) for k, v in outputs.items()}
            counts = score_entities(gold, spans, ds.types)
            rows += score_rows(name, counts)
            micro = counts["micro"]
            summary.append([ds.title, name, *micro.strict()[2:], *micro.lenient(), seconds])
            if args.save:
                save_jsonl(
                    args.save / f"{ds.key}.{'ours' if name == 'note2fhir' else 'peer'}.jsonl",
                    outputs.values(),
                )
        if args.save:
            save_jsonl(args.save / f"{ds.key}.in.jsonl", (d.record() for d in ds.docs))
        print(markdown_table(SCORE_HEADERS, rows))
    print("\n## Summary (micro over the scored types)\n")
    print(
        markdown_table(
            ["data set", "system", "strict F1", "lenient P", "lenient R", "lenient F1", "seconds"],
            summary,
        )
    )
    if ours.failures:
        print(f"\nnote2fhir failed on {ours.failures} documents (scored as empty)")
    print("\n## Data\n")
    for ds in datasets:
        print(attribution(ds.folder, ds.title))


if __name__ == "__main__":
    main()
