"""FHIR Bundle building on one core: the builders, and the Bundle's validation both ways.

Usage::

    python benchmarks/bundle_speed.py [--limit N] [--rounds R] [--corpora physionet,synthea]
        [--cpu K] [--data DIR]

The pipeline runs once over the first ``--limit`` notes of each corpus (untimed; the corpora
are those of ``pipeline_speed.py``).  Then, ``--rounds`` times over those documents, in turn:

* ``build``: ``build_bundle`` as shipped (builders, then validation element by element);
* ``whole``: the Bundle validated in one ``model_validate`` call (how it was validated before);
* ``by element``: ``validation.validate_elements`` alone, its cache emptied first each round.

Each column is the fastest round's mean CPU ms per note (this process's CPU time, and the
fastest round: the least disturbed on a shared machine).  ``build - by element + whole`` is
what building cost with the one-call validation.  ``hits %``: validated elements taken from
the cache in the last round.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.harness import DEFAULT_DATA, command_line, markdown_table
from benchmarks.pipeline_speed import load_corpus

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))


def mean_ms(fn: Callable[[Any], Any], items: list[Any]) -> float:
    """Mean CPU milliseconds of ``fn`` over ``items`` (CPU time: the machine is shared)."""
    started = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - started) * 1000 / max(len(items), 1)


def measure(texts: list[str], rounds: int) -> list[float]:
    """``[build, whole, by element, hits %]`` for one corpus."""
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415

    from note2fhir import __version__  # noqa: PLC0415
    from note2fhir.engine import Engine  # noqa: PLC0415
    from note2fhir.fhir.build import build_bundle, validation  # noqa: PLC0415
    from note2fhir.fhir.readers import document_from_plain_text  # noqa: PLC0415
    from note2fhir.settings import load_settings  # noqa: PLC0415

    engine = Engine(load_settings())
    docs = [
        engine.pipeline.run(document_from_plain_text(text, doc_id=f"n{i}", location="bench"))
        for i, text in enumerate(texts)
    ]

    def build(doc: Any) -> dict[str, Any]:
        return build_bundle(
            doc,
            bundle_type=engine.settings.bundle_type,
            settings=engine.settings,
            now=NOW,
            tool_version=__version__,
            terminology_version=engine.terminology_version,
        )

    bundles = [build(doc) for doc in docs]
    bundle_model = get_fhir_model_class("Bundle")
    best = [float("inf")] * 3
    for _ in range(rounds):
        validation._cached_element.cache_clear()
        times = [
            mean_ms(build, docs),
            mean_ms(bundle_model.model_validate, bundles),
        ]
        validation._cached_element.cache_clear()
        times.append(mean_ms(validation.validate_elements, bundles))
        best = [min(b, t) for b, t in zip(best, times, strict=True)]
    info = validation._cached_element.cache_info()
    return [*best, 100 * info.hits / max(info.hits + info.misses, 1)]


def main() -> None:
    """Measure each corpus; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="physionet,synthea")
    parser.add_argument("--limit", type=int, default=300, help="notes per corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="evaluation data folder")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    print("# FHIR Bundle building (one core)\n")
    print(f"command: `{command_line()}`\n")
    print(f"CPU pinned: {args.cpu} of {os.cpu_count()}; Python {sys.version.split()[0]}\n")
    rows: list[list[object]] = []
    for corpus in args.corpora.split(","):
        texts = load_corpus(args.data, corpus, args.limit)
        build, whole, by_element, hits = measure(texts, args.rounds)
        rows.append([corpus, len(texts), build, whole, by_element, build - by_element + whole,
                     hits])  # fmt: skip
    print(markdown_table(
        ["corpus", "notes", "build ms", "whole ms", "by element ms", "build before ms",
         "hits %"],
        rows,
    ))  # fmt: skip


if __name__ == "__main__":
    main()
