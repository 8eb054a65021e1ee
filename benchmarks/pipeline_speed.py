"""Throughput on one core: note2fhir's pipeline beside the QuickUMLS + negspacy peer.

Usage::

    python benchmarks/pipeline_speed.py [--limit N] [--warmup W] [--corpora physionet,synthea]
        [--pipeline ...] [--no-peer] [--cpu K] [--data DIR]

Corpora: the PhysioNet ICU nursing notes (``physionet-deid-dev/id.text``: records between
``START_OF_RECORD=<patient>||||<note>||||`` and ``||||END_OF_RECORD``) and the Synthea notes
(``synthea-bulk-10`` DocumentReferences, decoded text).  Each takes its first ``--limit`` notes
(default 400).

Every (system, corpus) runs in a fresh child process pinned to one CPU (``--cpu``, default
the last), so start-up time and peak memory are its own.  The child times building the system
(``init s``: settings, pipeline, terminology / QuickUMLS index and spaCy), runs ``--warmup``
notes untimed, then times every note one by one:

* ``note2fhir annotate``: plain text → ClinicalDocument → the configured pipeline (what
  ``note2fhir annotate`` does, without JSON output);
* ``note2fhir process``: the same plus the FHIR Bundle (what ``note2fhir process`` does);
* ``peer``: QuickUMLS matches + negspacy over them (the peer's ``annotate``).

notes/s is notes divided by the summed per-note time (one core); peak RSS is the child's
``VmHWM``.  The speed-up compares ``note2fhir annotate`` with the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    add_system_args,
    attribution,
    command_line,
    import_stage_modules,
    markdown_table,
    parse_pipeline,
)

START = "START_OF_RECORD="
END = "||||END_OF_RECORD"


def parse_physionet(content: str) -> list[tuple[str, str]]:
    """``(patient-note id, note body)`` of each record of a PhysioNet deid ``.text`` file; the
    body starts after the START_OF_RECORD line.

    >>> parse_physionet("START_OF_RECORD=1||||2||||\\nPT C/O SOB.\\n||||END_OF_RECORD\\n")
    [('1-2', 'PT C/O SOB.\\n')]
    """
    notes: list[tuple[str, str]] = []
    position = 0
    while True:
        start = content.find(START, position)
        if start < 0:
            return notes
        line_end = content.find("\n", start)
        end = content.find(END, start)
        if line_end < 0 or end < 0:
            return notes
        header = content[start + len(START) : line_end].split("||||")
        note_id = "-".join(part for part in header[:2] if part)
        notes.append((note_id, content[line_end + 1 : end]))
        position = end + len(END)


def load_corpus(data: Path, name: str, limit: int) -> list[str]:
    """The first ``limit`` note texts of a corpus."""
    if name == "physionet":
        path = data / "physionet-deid-dev" / "id.text"
        if not path.is_file():
            raise SystemExit(f"data not found: {path}")
        return [text for _, text in parse_physionet(path.read_text(encoding="utf-8"))][:limit]
    if name == "synthea":
        from benchmarks.eval_synthea import note_text, read_ndjson  # noqa: PLC0415

        folder = data / "synthea-bulk-10"
        if not folder.is_dir():
            raise SystemExit(f"data not found: {folder}")
        texts = []
        for doc in read_ndjson(folder, "DocumentReference"):
            text = note_text(doc)
            if text:
                texts.append(text)
            if len(texts) >= limit:
                break
        return texts
    raise SystemExit(f"unknown corpus {name!r} (physionet, synthea)")


# --- the child ---------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def time_each(fn: Any, texts: list[str]) -> list[float]:
    """Milliseconds per call of ``fn`` on each text."""
    out = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(times_ms: list[float]) -> dict[str, float]:
    """Median, p99, mean ms and notes per second."""
    ordered = sorted(times_ms)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    total_s = sum(ordered) / 1000
    return {
        "median_ms": statistics.median(ordered),
        "p99_ms": p99,
        "mean_ms": statistics.fmean(ordered),
        "notes_per_s": len(ordered) / total_s if total_s else 0.0,
    }


def worker(args: argparse.Namespace) -> None:
    """Measure one system on one corpus; print one JSON line."""
    texts = load_corpus(args.data, args.corpus, args.limit)
    result: dict[str, Any] = {
        "notes": len(texts),
        "chars": sum(map(len, texts)) / max(len(texts), 1),
    }
    started = time.perf_counter()
    if args.worker == "ours":
        from note2fhir.engine import Engine  # noqa: PLC0415
        from note2fhir.fhir.readers import document_from_plain_text  # noqa: PLC0415
        from note2fhir.settings import load_settings  # noqa: PLC0415

        import_stage_modules(args.stage_module)
        pipeline = parse_pipeline(args.pipeline)
        settings = load_settings(pipeline=pipeline) if pipeline else load_settings()
        engine = Engine(settings)
        result["init_s"] = time.perf_counter() - started
        result["stages"] = engine.pipeline.names

        def annotate(text: str) -> Any:
            doc = document_from_plain_text(text, doc_id="bench", location="bench")
            return engine.annotations(engine.pipeline.run(doc))

        def process(text: str) -> Any:
            doc = document_from_plain_text(text, doc_id="bench", location="bench")
            return engine.bundle(engine.pipeline.run(doc))

        modes = {"note2fhir annotate": annotate, "note2fhir process": process}
    else:
        from benchmarks.baseline_peer import PeerAnnotator  # noqa: PLC0415

        peer = PeerAnnotator.create(args.workdir)
        result["init_s"] = time.perf_counter() - started

        def peer_annotate(text: str) -> Any:
            return peer.annotate({"id": "bench", "text": text})

        modes = {"peer": peer_annotate}
    result["rss_after_init_mib"] = peak_rss_mib()
    result["modes"] = {}
    for mode, fn in modes.items():
        time_each(fn, texts[: args.warmup])
        result["modes"][mode] = summary(time_each(fn, texts))
    if args.worker == "ours":
        result["stage_ms"] = stage_means(engine, texts)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def stage_means(engine: Any, texts: list[str]) -> dict[str, float]:
    """Mean ms per note of each stage, of the ``annotate`` JSON and of the FHIR Bundle."""
    from note2fhir.fhir.readers import document_from_plain_text  # noqa: PLC0415

    totals: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        totals[name] = totals.get(name, 0.0) + (time.perf_counter() - started) * 1000
        return out

    for text in texts:
        doc = timed("reader", document_from_plain_text, text, doc_id="bench", location="bench")
        for stage in engine.pipeline.stages:
            timed(f"stage {stage.name}", stage.process, doc)
            doc.layers |= stage.assigns
        timed("annotate JSON", engine.annotations, doc)
        timed("FHIR Bundle", engine.bundle, doc)
    return {name: total / max(len(texts), 1) for name, total in totals.items()}


def run_child(args: argparse.Namespace, system: str, corpus: str) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter pinned to ``args.cpu``."""
    command = [
        sys.executable, "-m", "benchmarks.pipeline_speed", "--worker", system, "--corpus", corpus,
        "--limit", str(args.limit), "--warmup", str(args.warmup), "--data", str(args.data),
        "--workdir", str(args.workdir),
    ]  # fmt: skip
    if args.pipeline:
        command += ["--pipeline", args.pipeline]
    for module in args.stage_module:
        command += ["--stage-module", module]
    cpu = args.cpu

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, check=False, preexec_fn=pin
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{system} on {corpus} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Measure every system on every corpus; print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="physionet,synthea")
    parser.add_argument("--limit", type=int, default=400, help="notes per corpus")
    parser.add_argument("--warmup", type=int, default=20, help="untimed notes first")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    add_system_args(parser)
    parser.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data = args.data.resolve()
    if args.worker:
        worker(args)
        return

    if not args.no_peer:  # build the peer index outside the timed children
        from benchmarks.baseline_peer import build  # noqa: PLC0415

        build(args.workdir)
    print("# Pipeline speed (one core)\n")
    print(f"command: `{command_line()}`\n")
    print(f"CPU pinned: {args.cpu} of {os.cpu_count()}; Python {sys.version.split()[0]}")
    rows: list[list[object]] = []
    ratios: list[list[object]] = []
    stages: list[str] = []
    stage_ms: dict[str, dict[str, float]] = {}
    for corpus in args.corpora.split(","):
        results = {"ours": run_child(args, "ours", corpus)}
        if not args.no_peer:
            results["peer"] = run_child(args, "peer", corpus)
        stages = results["ours"].get("stages", stages)
        stage_ms[corpus] = results["ours"]["stage_ms"]
        for result in results.values():
            for mode, s in result["modes"].items():
                rows.append([corpus, mode, result["notes"], round(result["chars"]),
                             result["init_s"], s["median_ms"], s["p99_ms"], s["mean_ms"],
                             s["notes_per_s"], result["peak_rss_mib"]])  # fmt: skip
        if "peer" in results:
            ours_rate = results["ours"]["modes"]["note2fhir annotate"]["notes_per_s"]
            peer_rate = results["peer"]["modes"]["peer"]["notes_per_s"]
            ratios.append(
                [corpus, ours_rate, peer_rate, ours_rate / peer_rate if peer_rate else 0.0]
            )
    print(f"note2fhir pipeline: {' -> '.join(stages)}\n")
    breakdown = [[corpus, *[f"{v:.2f}" for v in ms.values()]] for corpus, ms in stage_ms.items()]
    print(markdown_table(
        ["corpus", "system", "notes", "chars/note", "init s", "median ms", "p99 ms", "mean ms",
         "notes/s", "peak RSS MiB"],
        rows,
    ))  # fmt: skip
    if stage_ms:
        print("\n## note2fhir: mean ms per note by step (a separate pass)\n")
        steps = list(next(iter(stage_ms.values())))
        print(markdown_table(["corpus", *steps], breakdown))
    if ratios:
        print("\n## Speed-up (note2fhir annotate vs peer, notes/s on one core)\n")
        print(markdown_table(["corpus", "note2fhir", "peer", "speed-up ×"], ratios))
    print("\n## Data\n")
    titles = {"physionet": ("physionet-deid-dev", "PhysioNet deid nursing notes"),
              "synthea": ("synthea-bulk-10", "Synthea bulk FHIR sample")}  # fmt: skip
    for corpus in args.corpora.split(","):
        folder, title = titles[corpus]
        print(attribution(args.data / folder, title))


if __name__ == "__main__":
    main()
