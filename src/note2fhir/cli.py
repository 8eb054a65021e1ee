"""The ``note2fhir`` command line: parses arguments and calls the library.

Exit status: 0 when at least one document was processed (failures are reported on stderr and,
with ``--errors``, as OperationOutcomes), 1 when nothing could be processed, 2 for a usage or
configuration error, 3 with ``--strict`` when any document failed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from note2fhir import __version__
from note2fhir.document import ClinicalDocument
from note2fhir.errors import Note2FhirError
from note2fhir.settings import Settings, load_settings

EXIT_NOTHING_PROCESSED = 1
EXIT_CONFIG = 2
EXIT_STRICT = 3


def _fail(message: str, code: int) -> None:
    click.echo(f"note2fhir: error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    config: Path | None = ctx.obj.get("config") if ctx.obj else None
    try:
        settings = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except Note2FhirError as err:
        _fail(err.one_line(), EXIT_CONFIG)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


def _engine(settings: Settings) -> Any:
    from note2fhir.engine import Engine  # noqa: PLC0415 - keeps `--help` fast

    try:
        return Engine(settings)
    except Note2FhirError as err:
        _fail(err.one_line(), EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="note2fhir")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file (.toml or .yaml); also NOTE2FHIR_CONFIG.",
)
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """Turn clinical notes in FHIR resources into coded FHIR R4."""
    ctx.obj = {"config": config}


inputs_argument = click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True)
)
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, allow_dash=True),
    help="Output file (one document: JSON; several: NDJSON), or an existing folder for one "
    "file per document. Default: standard output.",
)
errors_option = click.option(
    "--errors",
    "errors_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write an OperationOutcome per failed document here (NDJSON).",
)
strict_option = click.option(
    "--strict", is_flag=True, help="Exit with status 3 when any document failed."
)


@main.command()
@inputs_argument
@output_option
@click.option(
    "--bundle",
    "bundle_type",
    type=click.Choice(["collection", "transaction", "document"]),
    help="Output Bundle type (default: collection, or the bundle_type setting).",
)
@click.option(
    "--medication-resource",
    "medication_resource",
    type=click.Choice(["MedicationStatement", "MedicationRequest"]),
    help="Resource type of the medications a note lists (default: MedicationStatement, or "
    "the medication_resource setting); MedicationRequest suits US Core consumers.",
)
@errors_option
@strict_option
@click.pass_context
def process(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    output: Path | None,
    bundle_type: str | None,
    medication_resource: str | None,
    errors_path: Path | None,
    strict: bool,
) -> None:
    """Process notes into FHIR Bundles: one Bundle per document.

    INPUTS are FHIR JSON (DocumentReference, DiagnosticReport, Bundle), NDJSON, JSON Lines of
    {"id", "text"}, plain .txt files, folders of them, or - for standard input.
    """
    settings = _settings(ctx, bundle_type=bundle_type, medication_resource=medication_resource)
    engine = _engine(settings)

    def render(doc: ClinicalDocument) -> dict[str, Any]:
        bundle: dict[str, Any] = engine.bundle(doc)
        return bundle

    _run(engine, inputs, output, errors_path, strict, render)


@main.command()
@inputs_argument
@output_option
@errors_option
@strict_option
@click.pass_context
def annotate(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    output: Path | None,
    errors_path: Path | None,
    strict: bool,
) -> None:
    """Write what the pipeline found as JSON Lines (one object per document, offsets into the
    original attachment text)."""
    engine = _engine(_settings(ctx))

    def render(doc: ClinicalDocument) -> dict[str, Any]:
        found: dict[str, Any] = engine.annotations(doc)
        return found

    _run(engine, inputs, output, errors_path, strict, render, always_lines=True)


@main.command()
@inputs_argument
@output_option
@click.option(
    "--mode",
    type=click.Choice(["mask", "surrogate"]),
    help="mask: [NAME], [DATE] ...; surrogate: consistent realistic replacements (needs "
    "deid_secret). Default: the deid stage's configured mode, else mask.",
)
@click.option(
    "--shift-dates", is_flag=True, default=None, help="Move dates by the patient's secret offset."
)
@errors_option
@strict_option
@click.pass_context
def deid(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    output: Path | None,
    mode: str | None,
    shift_dates: bool | None,
    errors_path: Path | None,
    strict: bool,
) -> None:
    """De-identify notes: JSON Lines of {"id", "text", "phi": [{"start", "end", "type"}]},
    "text" de-identified and PHI offsets into the input (original) text."""
    import note2fhir.deid.stage  # noqa: F401, PLC0415 - registers the stage

    settings = _settings(ctx)
    options = dict(settings.stages.get("deid", {}))
    if mode is not None:
        options["mode"] = mode
    if shift_dates:
        options["shift_dates"] = True
    settings = settings.model_copy(update={"pipeline": ["deid"], "stages": {"deid": options}})
    engine = _engine(settings)

    def render(doc: ClinicalDocument) -> dict[str, Any]:
        phi = [
            dict(zip(("start", "end"), doc.original_span(p.start, p.end), strict=True))
            | {"type": p.type}
            for p in doc.phi
        ]
        return {"id": doc.id, "text": doc.text, "phi": phi}

    _run(engine, inputs, output, errors_path, strict, render, always_lines=True)


@main.command()
@click.pass_context
def stages(ctx: click.Context) -> None:
    """List the registered stages, what each requires and assigns, and the configured order."""
    from note2fhir.pipeline import registered_stages  # noqa: PLC0415

    settings = _settings(ctx)
    for name, cls in sorted(registered_stages().items()):
        requires = ", ".join(sorted(cls.requires)) or "-"
        assigns = ", ".join(sorted(cls.assigns)) or "-"
        click.echo(f"{name:<12} requires: {requires:<24} assigns: {assigns}")
    click.echo(f"pipeline: {' -> '.join(settings.pipeline)}")


@main.command()
@click.option("--host", help="Address to bind (default: the service_host setting, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: service_port, 8080).")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes (default: service_workers)."
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP service under gunicorn (the settings of deploy/gunicorn.conf.py).

    Each worker builds the pipeline once. Inbound requests need a bearer token: set
    NOTE2FHIR_API_TOKENS (comma-separated) or NOTE2FHIR_API_JWKS.
    """
    import importlib.util  # noqa: PLC0415
    import os  # noqa: PLC0415

    overrides = {"service_host": host, "service_port": port, "service_workers": workers}
    _settings(ctx, **overrides)  # a bad setting fails here, before gunicorn starts
    if importlib.util.find_spec("gunicorn") is None or importlib.util.find_spec("service") is None:
        _fail(
            "the service needs gunicorn and the service package: pip install note2fhir", EXIT_CONFIG
        )
    env = dict(os.environ)
    config: Path | None = ctx.obj.get("config") if ctx.obj else None
    if config is not None:
        env["NOTE2FHIR_CONFIG"] = str(config.resolve())
    for name, value in overrides.items():
        if value is not None:
            env[f"NOTE2FHIR_{name.upper()}"] = str(value)
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_conf"]
    os.execve(sys.executable, argv, env)  # gunicorn takes over: signals reach it directly


@main.group()
def terminology() -> None:
    """Build, inspect and search the local terminology store.

    The library reads one artifact, <terminology_dir>/<terminology_artifact> (by default
    under the user data dir; NOTE2FHIR_TERMINOLOGY_DIR overrides).  The open default is built
    automatically on first use; `build` makes it again, or with licensed releases added.
    """


def _progress(message: str) -> None:
    click.echo(f"note2fhir: {message}", err=True)


@terminology.command("build")
@click.option("--umls", type=click.Path(path_type=Path), help="UMLS release folder (META).")
@click.option("--snomed", type=click.Path(path_type=Path), help="SNOMED CT RF2 release folder.")
@click.option("--rxnorm", type=click.Path(path_type=Path), help="RxNorm full release folder.")
@click.option(
    "--loinc", type=click.Path(path_type=Path), help="LOINC table (Loinc.csv) or release folder."
)
@click.option(
    "--quickumls-index",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write a QuickUMLS index of the --umls release here (an empty folder); needs "
    "the 'quickumls' extra (unqlite).",
)
@click.option(
    "--name",
    help="Artifact name (default: the terminology_artifact setting, 'default'); the library "
    "reads the one named by that setting.",
)
@click.pass_context
def terminology_build(
    ctx: click.Context,
    umls: Path | None,
    snomed: Path | None,
    rxnorm: Path | None,
    loinc: Path | None,
    quickumls_index: Path | None,
    name: str | None,
) -> None:
    """Build the terminology artifact: the open sources, plus any licensed releases given.

    Without options this is the open default (ICD-10-CM, ICD-10-PCS, HPO, drug names and the
    curated clinical synonyms), made from packages installed with note2fhir; nothing is
    downloaded.  An existing artifact is replaced only once the new one is complete.
    """
    from terminology.build import build_artifact  # noqa: PLC0415 - keeps `--help` fast

    settings = _settings(ctx)
    artifact = name or settings.terminology_artifact
    if "/" in artifact or artifact.startswith("."):
        _fail(f"--name {artifact!r} must be a plain folder name", EXIT_CONFIG)
    target = settings.terminology_path / artifact
    try:
        manifest = build_artifact(
            target,
            name=artifact,
            umls=umls,
            snomed=snomed,
            rxnorm=rxnorm,
            loinc=loinc,
            progress=_progress,
        )
    except Note2FhirError as err:
        _fail(err.one_line(), EXIT_CONFIG)
    for source in manifest["sources"]:
        click.echo(
            f"{source['name']:<10} {source['version']:<34} {source['concepts']:>9,} concepts "
            f"{source['terms']:>9,} terms"
        )
    click.echo(f"artifact: {target}")
    if quickumls_index is not None:
        _build_quickumls_index(umls, quickumls_index)


def _build_quickumls_index(umls: Path | None, out_dir: Path) -> None:
    from terminology.sources.umls import build_quickumls_index  # noqa: PLC0415

    if umls is None:
        _fail("--quickumls-index needs --umls", EXIT_CONFIG)
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        _fail(f"--quickumls-index {out_dir} must be an empty folder", EXIT_CONFIG)
    _progress(f"building the QuickUMLS index in {out_dir}")
    try:
        build_quickumls_index(umls, out_dir)
    except (OSError, ValueError, ImportError) as err:
        _fail(f"QuickUMLS index: {type(err).__name__}: {err}", EXIT_CONFIG)
    click.echo(f"QuickUMLS index: {out_dir}")


@terminology.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print the provenance as JSON.")
@click.pass_context
def terminology_info(ctx: click.Context, as_json: bool) -> None:
    """Show the artifact: path, size, and per source its version, release date, licence,
    counts and build time."""
    from note2fhir.terminology.store import TerminologyStore  # noqa: PLC0415

    settings = _settings(ctx)
    try:
        info = TerminologyStore.from_settings(settings).info()
    except Note2FhirError as err:
        _fail(err.one_line(), EXIT_CONFIG)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    totals = info["totals"]
    click.echo(f"artifact: {info['path']} ({info['size_bytes'] / 2**20:.1f} MiB)")
    click.echo(
        f"schema {info['schema_version']}, built {info['built_at']}"
        + (f" in {info['build_seconds']} s" if info["build_seconds"] is not None else "")
    )
    click.echo(
        f"{totals['concepts']:,} concepts, {totals['terms']:,} terms, {totals['codes']:,} "
        f"codes, {totals['crosswalk']:,} crosswalk rows"
    )
    for src in info["sources"]:
        click.echo("")
        click.echo(f"{src['name']}: {src['version']} (released {src['release_date'] or '-'})")
        click.echo(
            f"  {src['concepts']:,} concepts, {src['terms']:,} terms, {src['codes']:,} codes, "
            f"{src['crosswalks']:,} crosswalks; built {src['built_at']} in "
            f"{src['build_seconds']:.1f} s"
        )
        click.echo(f"  licence: {src['license']}")


@terminology.command("search")
@click.argument("text")
@click.option("--system", help="Only codes of this system: icd10cm, snomed, rxnorm, ... or a URI.")
@click.option(
    "--type",
    "entity_type",
    type=click.Choice(["problem", "medication", "test", "procedure"]),
    help="Only concepts of this entity type.",
)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the candidates as JSON.")
@click.pass_context
def terminology_search(
    ctx: click.Context,
    text: str,
    system: str | None,
    entity_type: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Ranked code candidates for TEXT (a term, an abbreviation or a code), with the score and
    the reason for it."""
    from note2fhir.terminology.candidates import resolve_system, short_name  # noqa: PLC0415
    from note2fhir.terminology.store import default_store  # noqa: PLC0415

    settings = _settings(ctx)
    try:
        uri = resolve_system(system) if system else None
    except ValueError as err:
        _fail(str(err), EXIT_CONFIG)
    try:
        store = default_store(settings, progress=_progress)
        found = store.search(text, system=uri, entity_type=entity_type, limit=limit)
    except Note2FhirError as err:
        _fail(err.one_line(), EXIT_CONFIG)
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no candidates", err=True)
        return
    for rank, cand in enumerate(found, 1):
        shown = [c for c in cand.codes if uri is None or c.system == uri] or list(cand.codes)
        codes = ", ".join(f"{short_name(c.system)} {c.code}" for c in shown[:3]) or "-"
        flag = "  [ambiguous]" if cand.ambiguous else ""
        click.echo(
            f"{rank:>2}. {cand.score:.2f}  {codes:<24} {cand.preferred}  "
            f"({cand.entity_type or '-'}; {cand.reason}){flag}"
        )


def _run(
    engine: Any,
    inputs: tuple[Path, ...],
    output: Path | None,
    errors_path: Path | None,
    strict: bool,
    render: Callable[[ClinicalDocument], dict[str, Any]],
    *,
    always_lines: bool = False,
) -> None:
    failures: list[Note2FhirError] = []
    processed = 0

    def results() -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocal processed
        from tqdm import tqdm  # noqa: PLC0415 - keeps `--help` fast

        items = engine.run(engine.read_paths(list(inputs)))
        # A progress bar for people at a terminal; none in pipes, logs and CI.
        for item in tqdm(items, unit="doc", disable=not sys.stderr.isatty(), leave=False):
            if isinstance(item, Note2FhirError):
                failures.append(item)
                click.echo(f"note2fhir: error: {item.one_line()}", err=True)
                continue
            try:
                rendered = render(item)
            except Note2FhirError as err:
                err.at(item.source.location)
                failures.append(err)
                click.echo(f"note2fhir: error: {err.one_line()}", err=True)
                continue
            processed += 1
            yield item.id, rendered

    with _Writer(output, always_lines=always_lines) as writer:
        for doc_id, rendered in results():
            writer.write(doc_id, rendered)
    if errors_path is not None:
        with _open_for_writing(errors_path, shown=errors_path) as handle:
            for err in failures:
                handle.write(json.dumps(err.to_operation_outcome(), ensure_ascii=False) + "\n")
    if failures or processed == 0:
        click.echo(
            f"note2fhir: {processed} document(s) processed, {len(failures)} failed", err=True
        )
    if processed == 0:
        sys.exit(EXIT_NOTHING_PROCESSED)
    if strict and failures:
        sys.exit(EXIT_STRICT)


def _open_for_writing(path: Path, *, shown: Path) -> IO[str]:
    """Open ``path`` for writing, creating its folder ("-o out/bundle.json" on a fresh
    clone); a path that cannot be written is a one-line error, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(
            f"cannot write {shown}: {exc.strerror or type(exc).__name__}"
        ) from None


class _Writer:
    """Writes results as they come: JSON for a single document, NDJSON for several, or a file
    per document into a folder.  A file output is written to a temporary name and renamed, so
    a crash never leaves half a file under the requested name."""

    def __init__(self, output: Path | None, *, always_lines: bool) -> None:
        self.output = output
        self.always_lines = always_lines
        self.folder = output if output is not None and output.is_dir() else None
        self._pending: dict[str, Any] | None = None
        self._count = 0
        self._handle: IO[str] | None = None
        self._tmp: Path | None = None
        self._used_names: set[str] = set()

    def __enter__(self) -> _Writer:
        if self.folder is None:
            if self.output is None or str(self.output) == "-":
                self._handle = sys.stdout
            else:
                self._tmp = self.output.with_name(self.output.name + ".partial")
                self._handle = _open_for_writing(self._tmp, shown=self.output)
        return self

    def write(self, doc_id: str, obj: dict[str, Any]) -> None:
        """Write one document's result."""
        self._count += 1
        if self.folder is not None:
            name = _safe_name(doc_id, self._used_names)
            path = self.folder / f"{name}.json"
            path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", "utf-8")
            return
        lines = self.always_lines or (
            self.output is not None and self.output.suffix in {".ndjson", ".jsonl"}
        )
        if lines:
            self._line(obj)
        elif self._count == 1:
            self._pending = obj  # one document so far: pretty JSON unless another comes
        else:
            if self._pending is not None:
                self._line(self._pending)
                self._pending = None
            self._line(obj)

    def _line(self, obj: dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._handle is None:
            return
        if self._pending is not None:
            self._handle.write(json.dumps(self._pending, indent=2, ensure_ascii=False) + "\n")
        self._handle.flush()
        if self._tmp is not None and self.output is not None:
            self._handle.close()
            if exc_type is None:
                self._tmp.replace(self.output)
            else:
                self._tmp.unlink(missing_ok=True)


def _safe_name(doc_id: str, used: set[str]) -> str:
    base = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in doc_id)[:120] or "doc"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name


if __name__ == "__main__":  # pragma: no cover
    main()
