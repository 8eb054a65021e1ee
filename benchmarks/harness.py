"""What the evaluation scripts share: the data folder, the exact command, Markdown tables,
P/R/F1, note2fhir run through its library API, and the optional peer.

Not run directly.  The scripts read the team's evaluation data from ``--data`` (default:
``NOTE2FHIR_EVAL_DATA``, else ``shared/data`` beside the repository) and never copy it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("NOTE2FHIR_EVAL_DATA", REPO_ROOT.parent / "shared" / "data"))


def command_line() -> str:
    """The command this script was run with, environment that changes results included."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    env = [
        f"{name}={shlex.quote(os.environ[name])}"
        for name in ("NOTE2FHIR_PIPELINE", "NOTE2FHIR_CONFIG", "NOTE2FHIR_TERMINOLOGY_ARTIFACT")
        if os.environ.get(name)
    ]
    return " ".join([*env, "python", shlex.join([shown, *sys.argv[1:]])])


def fmt(value: object) -> str:
    """A table cell: floats to three places, the rest as they are."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with aligned columns."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    return "\n".join(lines)


def prf(tp: int, n_system: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 where a denominator is 0."""
    p = tp / n_system if n_system else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def source_field(folder: Path, name: str) -> str:
    """One ``name: value`` field of a data set's SOURCE.txt ('' when absent)."""
    path = folder / "SOURCE.txt"
    if not path.is_file():
        return ""
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def attribution(folder: Path, title: str) -> str:
    """A Markdown bullet crediting a data set from its SOURCE.txt (origin, licence)."""
    origin = source_field(folder, "original") or source_field(folder, "repository")
    licence = source_field(folder, "license")
    return f"- {title}: {origin}; licence: {licence} (read from {folder.name}/SOURCE.txt)"


def require_data(folder: Path) -> None:
    """Exit with a clear message when a data folder is missing."""
    if not folder.exists():
        sys.exit(f"data not found: {folder} (give --data or set NOTE2FHIR_EVAL_DATA)")


def add_system_args(parser: argparse.ArgumentParser, *, peer: str = "QuickUMLS") -> None:
    """The options every script shares: which note2fhir pipeline, the peer, the data."""
    from benchmarks.baseline_peer import DEFAULT_WORKDIR  # noqa: PLC0415

    parser.add_argument("--pipeline", help="note2fhir stages, comma-separated (default: the "
                        "settings' pipeline, NOTE2FHIR_PIPELINE)")  # fmt: skip
    parser.add_argument(
        "--stage-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first (registers stages not yet built in); repeatable",
    )
    parser.add_argument("--no-peer", action="store_true", help=f"skip the {peer} peer")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="peer index cache")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="evaluation data folder")


def import_stage_modules(modules: Sequence[str]) -> None:
    """Import modules whose import registers stages."""
    for module in modules:
        importlib.import_module(module)


def parse_pipeline(value: str | None) -> list[str] | None:
    """``sections,sentences,targets`` → a list; None keeps the settings' pipeline."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass
class OurSystem:
    """note2fhir built once from its settings, run on ``{"id","text","targets"}`` records."""

    engine: Any
    failures: int = 0

    @classmethod
    def create(cls, pipeline: list[str] | None = None, modules: Sequence[str] = ()) -> OurSystem:
        """The engine of the configured pipeline (``pipeline`` overrides the settings), after
        importing the stage ``modules``."""
        from note2fhir.engine import Engine  # noqa: PLC0415
        from note2fhir.settings import load_settings  # noqa: PLC0415

        import_stage_modules(modules)
        settings = load_settings(pipeline=pipeline) if pipeline else load_settings()
        return cls(Engine(settings))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OurSystem:
        """The engine that the options of :func:`add_system_args` name."""
        return cls.create(parse_pipeline(args.pipeline), args.stage_module)

    @property
    def stages(self) -> list[str]:
        """The stage names of the pipeline, in order."""
        return list(self.engine.pipeline.names)

    def document(self, record: dict[str, Any]) -> Any:
        """The processed :class:`ClinicalDocument` of a record, or None when it failed."""
        from note2fhir.errors import Note2FhirError  # noqa: PLC0415
        from note2fhir.fhir.readers import document_from_text_record  # noqa: PLC0415

        doc = document_from_text_record(record, location=f"record {record.get('id')}")
        if isinstance(doc, Note2FhirError):
            self.failures += 1
            return None
        try:
            return self.engine.pipeline.run(doc)
        except Note2FhirError:
            self.failures += 1
            return None

    def annotate(self, record: dict[str, Any]) -> dict[str, Any]:
        """The ``annotate`` contract object of a record (no entities when it failed)."""
        doc = self.document(record)
        if doc is None:
            return {"id": record["id"], "entities": []}
        found: dict[str, Any] = self.engine.annotations(doc)
        return found


def load_peer(workdir: Path, enabled: bool) -> Any:
    """The peer annotator, or None when disabled or its packages (the ``eval`` extra) are
    missing (said on stderr)."""
    if not enabled:
        return None
    try:
        from benchmarks.baseline_peer import PeerAnnotator  # noqa: PLC0415

        return PeerAnnotator.create(workdir)
    except ImportError as exc:
        print(f"peer skipped: {exc} (install the 'eval' extra)", file=sys.stderr)
        return None
