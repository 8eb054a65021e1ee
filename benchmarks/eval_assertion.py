"""Assertion on gold spans: negated and uncertain P/R/F1, note2fhir beside negspacy.

Usage::

    python benchmarks/eval_assertion.py [--datasets maccrobat,chia] [--limit N]
        [--pipeline ...] [--no-peer] [--save DIR] [--data DIR]

Every distinct gold entity span (types as in ``eval_entities.py``) is given to note2fhir as a
target, so the ``targets`` stage must be in the pipeline; the entity at exactly that span gives
the flags (none there: both false, counted as missing).  Gold:

* MACCROBAT2020 dev: POLARITY=NEG → negated; POLARITY=UNCERTAIN/MAYBE_POS/MAYBE_NEG and
  MODALITY=UNCERTAIN → uncertain (the dev set has no MODALITY attribute; an attribute on an
  event counts for its trigger);
* Chia (with scope): negated when a ``Has_negation`` relation joins the entity, or a Scope
  containing it, to a Negation cue ("no", "not", "other than", "with the exception of").
  Chia marks no uncertainty.

``--save DIR`` writes the inputs and note2fhir's output as JSON Lines
(``<dataset>.targets.in.jsonl``, ``<dataset>.targets.ours.jsonl``) for the shared scorers.
A span annotated with several types counts once, its flags OR-ed.  The peer is negspacy 1.1.0
(NegEx, ``en_clinical`` termset) on a blank English spaCy pipeline with the same spans in a
span group; it has no uncertainty.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.baseline_peer import NegexPeer
from benchmarks.eval_entities import GoldDoc, read_chia, read_maccrobat, save_jsonl
from benchmarks.harness import (
    OurSystem,
    add_system_args,
    attribution,
    command_line,
    markdown_table,
    prf,
    require_data,
)

FLAGS = ("negated", "uncertain")


@dataclass(frozen=True, slots=True)
class GoldSpan:
    """A distinct gold span of a document and its flags."""

    doc: str
    start: int
    end: int
    negated: bool
    uncertain: bool


def gold_spans(docs: list[GoldDoc]) -> list[GoldSpan]:
    """One span per distinct (document, start, end), flags OR-ed over its entities."""
    spans = []
    for doc in docs:
        merged: dict[tuple[int, int], tuple[bool, bool]] = {}
        for e in doc.entities:
            old = merged.get((e.start, e.end), (False, False))
            merged[(e.start, e.end)] = (old[0] or e.negated, old[1] or e.uncertain)
        spans += [GoldSpan(doc.id, s, e, n, u) for (s, e), (n, u) in sorted(merged.items())]
    return spans


@dataclass(slots=True)
class FlagCounts:
    """Binary decisions on gold spans for one flag."""

    tp: int = 0
    gold: int = 0
    system: int = 0
    agree: int = 0
    total: int = 0

    def add(self, gold: bool, system: bool) -> None:
        """Count one span."""
        self.tp += gold and system
        self.gold += gold
        self.system += system
        self.agree += gold == system
        self.total += 1

    def row(self) -> list[object]:
        """gold+, system+, tp, accuracy, P, R, F1."""
        accuracy = self.agree / self.total if self.total else 0.0
        return [self.gold, self.system, self.tp, accuracy, *prf(self.tp, self.system, self.gold)]


def score_flags(
    spans: list[GoldSpan],
    system: dict[tuple[str, int, int], dict[str, bool]],
    flags: tuple[str, ...],
) -> tuple[dict[str, FlagCounts], int]:
    """Counts per flag, and how many spans the system had no entity for (all flags false)."""
    counts = {flag: FlagCounts() for flag in flags}
    missing = 0
    for span in spans:
        found = system.get((span.doc, span.start, span.end))
        missing += found is None
        for flag, c in counts.items():
            c.add(bool(getattr(span, flag)), bool((found or {}).get(flag)))
    return counts, missing


def ours_flags(
    ours: OurSystem, docs: list[GoldDoc], outputs: list[dict[str, Any]] | None = None
) -> dict[tuple[str, int, int], dict[str, bool]]:
    """note2fhir's assertion flags per (document, start, end) of its entities; the
    ``annotate`` objects are appended to ``outputs`` when it is given."""
    found: dict[tuple[str, int, int], dict[str, bool]] = {}
    for doc in docs:
        output = ours.annotate(doc.record(targets=True))
        if outputs is not None:
            outputs.append(output)
        for ent in output.get("entities", []):
            key = (doc.id, ent["start"], ent["end"])
            flags = found.setdefault(key, dict.fromkeys(FLAGS, False))
            for flag in FLAGS:
                flags[flag] = flags[flag] or bool(ent.get("assertion", {}).get(flag))
    return found


def peer_flags(peer: NegexPeer, docs: list[GoldDoc]) -> dict[tuple[str, int, int], dict[str, bool]]:
    """negspacy's verdict on every gold span."""
    found = {}
    for doc in docs:
        spans = sorted({(e.start, e.end) for e in doc.entities})
        for (start, end), negated in zip(spans, peer.negated(doc.text, spans), strict=True):
            found[(doc.id, start, end)] = {"negated": negated}
    return found


def negex_peer() -> NegexPeer | None:
    """negspacy, or None (said on stderr) when the ``eval`` extra is not installed."""
    try:
        return NegexPeer()
    except ImportError as exc:
        print(f"peer skipped: {exc} (install the 'eval' extra)", file=sys.stderr)
        return None


HEADERS = ["system", "flag", "gold+", "system+", "tp", "accuracy", "P", "R", "F1"]


def main() -> None:
    """Score assertion flags on gold spans; print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="maccrobat,chia")
    parser.add_argument("--limit", type=int, help="first N documents of each corpus")
    parser.add_argument("--save", type=Path, help="write inputs and note2fhir's output here")
    add_system_args(parser, peer="negspacy")
    args = parser.parse_args()

    ours = OurSystem.from_args(args)
    peer = None if args.no_peer else negex_peer()
    print("# Assertion on gold spans\n")
    print(f"command: `{command_line()}`\n")
    print(f"note2fhir pipeline: {' -> '.join(ours.stages)}")
    if "targets" not in ours.stages:
        print("\nWARNING: no 'targets' stage: gold spans cannot become entities")
    if peer is not None:
        print("peer: negspacy (en_clinical termset) on spacy.blank('en') + sentencizer")
    summary: list[list[object]] = []
    credits = []
    for key in args.datasets.split(","):
        flags: tuple[str, ...]
        if key == "maccrobat":
            folder, title, flags = args.data / "maccrobat2020-dev", "MACCROBAT2020 dev", FLAGS
            require_data(folder)
            docs = read_maccrobat(folder / "MACCROBAT2020", args.limit)
        elif key == "chia":
            folder, title, flags = args.data / "chia", "Chia (with scope)", ("negated",)
            require_data(folder)
            docs = read_chia(folder / "chia_with_scope", args.limit)
        else:
            raise SystemExit(f"unknown dataset {key!r} (maccrobat, chia)")
        credits.append(attribution(folder, title))
        spans = gold_spans(docs)
        print(f"\n## {title}: {len(docs)} documents, {len(spans)} gold spans\n")
        rows: list[list[object]] = []
        started = time.perf_counter()
        outputs: list[dict[str, Any]] = []
        counts, missing = score_flags(spans, ours_flags(ours, docs, outputs), flags)
        if args.save:
            records = (d.record(targets=True) for d in docs)
            save_jsonl(args.save / f"{key}.targets.in.jsonl", records)
            save_jsonl(args.save / f"{key}.targets.ours.jsonl", outputs)
        seconds = time.perf_counter() - started
        rows += [["note2fhir", flag, *c.row()] for flag, c in counts.items()]
        summary += [
            [title, "note2fhir", flag, *c.row()[-3:], missing, seconds]
            for flag, c in counts.items()
        ]
        if peer is not None:
            started = time.perf_counter()
            counts, missing = score_flags(spans, peer_flags(peer, docs), ("negated",))
            seconds = time.perf_counter() - started
            rows += [["peer", flag, *c.row()] for flag, c in counts.items()]
            summary += [
                [title, "peer", flag, *c.row()[-3:], missing, seconds] for flag, c in counts.items()
            ]
        print(markdown_table(HEADERS, rows))
    print("\n## Summary\n")
    print(
        markdown_table(
            ["data set", "system", "flag", "P", "R", "F1", "missing spans", "seconds"], summary
        )
    )
    if ours.failures:
        print(f"\nnote2fhir failed on {ours.failures} documents (their spans count as missing)")
    print("\n## Data\n")
    print("\n".join(credits))


if __name__ == "__main__":
    main()
