"""Benchmark the terminology store: build time and size per source, lookup latency, memory.

Usage::

    python benchmarks/terminology_bench.py [--workdir DIR] [--synthetic-umls-rows N]

Builds the open default artifact (and, with ``--synthetic-umls-rows``, an artifact from a
synthetic MRCONSO release of that many rows made by ``make_synthetic_umls.py``) into a work
folder, then measures exact and approximate lookups on a fixed list of clinical phrases in a
fresh process (so resident memory is the store's alone).  Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = [
    "hypertension", "htn", "type 2 diabetes mellitus", "diabetes mellitus type 2", "chf",
    "congestive heart failure", "copd", "pneumonia", "chest pain", "shortness of breath",
    "atrial fibrillation", "acute kidney injury", "urinary tract infection", "sepsis",
    "metformin", "lisinopril", "furosemide", "aspirin", "atorvastatin", "metoprolol",
    "appendectomy", "cholecystectomy", "seizure", "migraine", "hypothyroidism", "anemia",
    "hyperlipidemia", "obesity", "depression", "asthma",
]  # fmt: skip
MISSPELLED = [
    "hypertenson", "diabetis mellitus", "pnuemonia", "atrial fibrilation", "hypothyroidsm",
    "congestive hart failure", "metfromin", "lisinoprill", "astma", "migrane",
]  # fmt: skip


def folder_size(path: Path) -> int:
    """Bytes of every file below ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(target: Path, **sources: Path | None) -> tuple[dict[str, object], float]:
    """Build an artifact; return its manifest and the wall time."""
    from terminology.build import build_artifact  # noqa: PLC0415

    started = time.perf_counter()
    manifest = build_artifact(target, name=target.name, **sources)
    return manifest, time.perf_counter() - started


def measure_lookups(folder: Path, repeats: int) -> dict[str, float]:
    """Run in a child process: open the store, time lookups, report max RSS."""
    code = f"""
import json, statistics, time
from pathlib import Path
from note2fhir.terminology.store import TerminologyStore
def peak_rss_mib():
    # VmHWM belongs to this process image (ru_maxrss would include the parent's, on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
store = TerminologyStore.open(Path({str(folder)!r}))
def timed(fn, items):
    out = []
    for _ in range({repeats}):
        for q in items:
            store._cache.clear()  # time the lookup, not the store's result cache
            t = time.perf_counter(); fn(q); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.99) - 1]
store.exact("warm up")
ex = timed(store.exact, {QUERIES!r})
ap = timed(store.approximate, {MISSPELLED!r})
found = sum(bool(store.approximate(q)) for q in {MISSPELLED!r})
print(json.dumps({{"exact_median_ms": ex[0], "exact_p99_ms": ex[1],
                   "approx_median_ms": ap[0], "approx_p99_ms": ap[1],
                   "approx_found": found, "rss_mib": peak_rss_mib()}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""

    def cell(v: object) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    """Build, measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    parser.add_argument("--synthetic-umls-rows", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="n2f-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"command: python benchmarks/terminology_bench.py {' '.join(sys.argv[1:])}")
    print(f"work folder: {work}\n")

    artifacts: list[tuple[str, Path, dict[str, object], float]] = []
    target = work / "open-default"
    shutil.rmtree(target, ignore_errors=True)
    manifest, seconds = build(target)
    artifacts.append(("open default", target, manifest, seconds))

    if args.synthetic_umls_rows:
        meta = work / "synthetic-umls"
        shutil.rmtree(meta, ignore_errors=True)
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("make_synthetic_umls.py")),
             str(meta), "--rows", str(args.synthetic_umls_rows)],
            check=True,
        )  # fmt: skip
        target = work / "synthetic-umls-artifact"
        shutil.rmtree(target, ignore_errors=True)
        manifest, seconds = build(target, umls=meta)
        artifacts.append(
            (f"synthetic UMLS ({args.synthetic_umls_rows:,} rows)", target, manifest, seconds)
        )

    rows: list[list[object]] = []
    for label, _, manifest, _ in artifacts:
        for src in manifest["sources"]:  # type: ignore[attr-defined]
            rows.append([label, src["name"], src["concepts"], src["terms"], src["codes"],
                         src["crosswalks"], float(src["build_seconds"])])  # fmt: skip
    print("## Build per source\n")
    print(
        table(["artifact", "source", "concepts", "terms", "codes", "crosswalks", "build s"], rows)
    )

    rows = []
    for label, folder, _, seconds in artifacts:
        stats = measure_lookups(folder, args.repeats)
        rows.append([
            label, seconds, folder_size(folder) / 2**20, stats["exact_median_ms"],
            stats["exact_p99_ms"], stats["approx_median_ms"], stats["approx_p99_ms"],
            f"{int(stats['approx_found'])}/{len(MISSPELLED)}", stats["rss_mib"],
        ])  # fmt: skip
    print("\n## Artifact and lookups\n")
    print(table(
        ["artifact", "build s", "size MiB", "exact median ms", "exact p99 ms",
         "approx median ms", "approx p99 ms", "misspellings found", "peak RSS MiB"],
        rows,
    ))  # fmt: skip
    print(f"\nmax RSS of this (building) process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
