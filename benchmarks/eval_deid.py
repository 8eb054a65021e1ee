"""De-identification: PHI recall and precision by category, note2fhir beside philter-lite and
Presidio, and ms per note.

Usage::

    python benchmarks/eval_deid.py [--datasets physionet,presidio,synthea] [--limit N]
        [--systems note2fhir,philter-lite,presidio] [--timeout 5] [--save DIR] [--data DIR]

Data (read from ``--data``, never copied):

* ``physionet-deid-dev``: real ICU nursing notes with surrogate PHI; gold from
  ``id-phi.phrase`` (offsets into the note body after its START_OF_RECORD line);
* ``presidio-synth-phi``: generic PII sentences (``synth_dataset_v2.json``); ORGANIZATION,
  TITLE and NRP are not Safe Harbor PHI, nor are most of its AGE spans (under 90): they are
  scored in the ``other``/``ages`` rows only;
* ``synthea-bulk-10``: Synthea notes; gold = every occurrence of a Patient or Practitioner
  name part (given, family; runs of them joined into one span) and the note's date lines.

Metrics (the definitions of the shared ``score_deid.py``, extended):

* span recall: a gold span counts as found when the union of the system's PHI spans (any
  type) covers every non-space character of it;
* token recall: the same for each whitespace-separated token of the gold spans;
* span precision: share of system spans that overlap some gold span (any category);
* token precision: share of the alphanumeric tokens of the text touched by a system span that
  a gold span touches too.

Recall is given per gold category and per group (names, dates, identifiers, locations, ages,
other); precision per group of system types (types are put in groups by their words, e.g.
``PHONE_NUMBER`` → identifiers).  The target is span recall ≥ 0.99 on names, dates and
identifiers with span precision ≥ 0.90.

Systems: ``note2fhir`` runs ``note2fhir deid --mode mask`` (the CLI, the contract) for the
scores and the same stage in-process for the timing; on Synthea ``note2fhir+context`` also
hands it each note's Patient (as an input Bundle would).  The peers are described in
``deid_peers.py`` (the ``eval`` extra).  Each system runs in its own worker process, one note
at a time, timed around the detection call only (single process; start-up reported apart); a
note past ``--timeout`` seconds kills the worker and counts as a timeout with no PHI found.
``--save DIR`` writes each input and system output as JSON Lines, e.g. for
``score_deid.py --gold-text .../id.text --gold-phi .../id-phi.phrase --min-patient 1
--system DIR/physionet.note2fhir.jsonl``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.deid_peers import (
    PEER_CONFIGS,
    PEERS,
    PHILTER_UNTYPED,
    WARMUP_TEXT,
    Detector,
    GuardedWorker,
    NoteResult,
    Span,
    peer_versions,
)
from benchmarks.harness import DEFAULT_DATA, attribution, command_line, markdown_table

GROUPS = ("names", "dates", "identifiers", "locations", "ages", "other")
"""Rows of the grouped tables, in order."""
TARGET_GROUPS = ("names", "dates", "identifiers")
TARGET_RECALL = 0.99
TARGET_PRECISION = 0.90

CATEGORY_GROUP: dict[str, str] = {
    # PhysioNet deid
    "HCPName": "names",
    "PTName": "names",
    "PTNameInitial": "names",
    "RelativeProxyName": "names",
    "Date": "dates",
    "DateYear": "dates",
    "Phone": "identifiers",
    "Location": "locations",
    "Age": "ages",
    "Other": "other",
    # presidio-research synthetic set
    "PERSON": "names",
    "DATE_TIME": "dates",
    "PHONE_NUMBER": "identifiers",
    "EMAIL_ADDRESS": "identifiers",
    "US_SSN": "identifiers",
    "CREDIT_CARD": "identifiers",
    "IBAN_CODE": "identifiers",
    "IP_ADDRESS": "identifiers",
    "US_DRIVER_LICENSE": "identifiers",
    "DOMAIN_NAME": "identifiers",
    "STREET_ADDRESS": "locations",
    "GPE": "locations",
    "ZIP_CODE": "locations",
    "AGE": "ages",
    "ORGANIZATION": "other",
    "TITLE": "other",
    "NRP": "other",
    # Synthea (built here)
    "PatientName": "names",
    "ClinicianName": "names",
}
"""Gold category → group (a category not listed is ``other``)."""

_TYPE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("ages", frozenset({"AGE", "AGES"})),
    ("dates", frozenset({"DATE", "DATES", "DATETIME", "TIME", "YEAR", "DATEYEAR", "HOLIDAY"})),
    (
        "identifiers",
        frozenset(
            {
                "PHONE", "FAX", "EMAIL", "URL", "IP", "SSN", "MRN", "ID", "IDENTIFIER", "NUMBER",
                "ACCOUNT", "LICENSE", "LICENCE", "DEVICE", "PLAN", "VEHICLE", "CARD", "CREDIT",
                "IBAN", "BANK", "PASSPORT", "ITIN", "NPI", "DEA", "DOMAIN", "CRYPTO", "NHS",
                "SECURITY", "CERTIFICATE", "SERIAL", "CONTACT", "TELEPHONE", "VIN",
            }
        ),
    ),
    (
        "locations",
        frozenset(
            {
                "LOCATION", "ADDRESS", "STREET", "CITY", "STATE", "ZIP", "ZIPCODE", "COUNTRY",
                "GPE", "HOSPITAL", "FACILITY", "LOC",
            }
        ),
    ),
    (
        "names",
        frozenset(
            {"NAME", "PERSON", "PATIENT", "DOCTOR", "PROVIDER", "HCP", "RELATIVE", "INITIAL",
             "INITIALS", "PTNAME", "HCPNAME", "STAFF", "USERNAME"}
        ),
    ),
)  # fmt: skip


def type_group(system_type: str) -> str:
    """The group of a system's PHI type, from the words of its name (first rule that fits).

    >>> type_group("PHONE_NUMBER"), type_group("Provider_Address_or_Location"), type_group("NAME")
    ('identifiers', 'locations', 'names')
    """
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", system_type)
    words = frozenset(w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w)
    for group, keys in _TYPE_WORDS:
        if words & keys:
            return group
    return "other"


# ---------------------------------------------------------------- gold data


@dataclass(frozen=True)
class GoldSpan:
    """A gold PHI span: offsets into the note text and its category."""

    start: int
    end: int
    category: str


@dataclass
class GoldDoc:
    """One note with its gold PHI; ``patient`` is its Patient resource where the data has it."""

    id: str
    text: str
    spans: list[GoldSpan]
    patient: dict[str, Any] | None = None


_RECORD = re.compile(
    r"START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD", re.DOTALL
)


def parse_physionet(raw_text: str, phrases: Iterable[str]) -> list[GoldDoc]:
    """Notes and gold of the PhysioNet deid format: ``id.text`` content and the lines of
    ``id-phi.phrase`` (``patient note start end category phrase words...``).

    A note's id is ``<patient>-<note>``; a phrase whose text is not at its offsets is an error.
    """
    docs = {f"{p}-{n}": GoldDoc(f"{p}-{n}", text, []) for p, n, text in _RECORD.findall(raw_text)}
    for line in phrases:
        if not line.strip():
            continue
        patient, note, start, end, category, *words = line.rstrip("\n").split(" ")
        doc = docs.get(f"{patient}-{note}")
        if doc is None:
            continue
        span = GoldSpan(int(start), int(end), category)
        if doc.text[span.start : span.end] != " ".join(words):
            raise ValueError(f"gold phrase not at its offsets in note {doc.id}")
        doc.spans.append(span)
    return list(docs.values())


def read_physionet(folder: Path) -> list[GoldDoc]:
    """The PhysioNet deid notes and gold spans of ``folder`` (``id.text``, ``id-phi.phrase``)."""
    raw = (folder / "id.text").read_text(encoding="utf-8")
    with (folder / "id-phi.phrase").open(encoding="utf-8") as phrases:
        return parse_physionet(raw, phrases)


def parse_presidio(samples: Sequence[dict[str, Any]]) -> list[GoldDoc]:
    """Sentences and spans of presidio-research's synthetic data set (``full_text``, ``spans``
    with ``entity_type``, ``start_position``, ``end_position``)."""
    docs = []
    for i, sample in enumerate(samples):
        spans = [
            GoldSpan(s["start_position"], s["end_position"], s["entity_type"])
            for s in sample["spans"]
        ]
        docs.append(GoldDoc(f"synth-{i}", sample["full_text"], sorted(spans, key=_span_key)))
    return docs


def read_presidio(folder: Path) -> list[GoldDoc]:
    """The presidio-research synthetic PII sentences of ``folder``."""
    with (folder / "synth_dataset_v2.json").open(encoding="utf-8") as f:
        return parse_presidio(json.load(f))


def _span_key(span: GoldSpan) -> tuple[int, int]:
    return span.start, span.end


def resource_names(resource: dict[str, Any]) -> set[str]:
    """Given and family names of a Patient or Practitioner (prefixes like "Dr." left out)."""
    parts: set[str] = set()
    for name in resource.get("name", []):
        parts.update(g for g in name.get("given", []) if g)
        if name.get("family"):
            parts.add(name["family"])
    return parts


_DATE_LINE = re.compile(r"^[ \t]*(\d{4}-\d{2}-\d{2})[ \t]*$", re.MULTILINE)


def synthea_gold(
    doc_id: str, text: str, patient_names: set[str], clinician_names: set[str]
) -> GoldDoc:
    """Gold for one Synthea note: runs of known name parts (joined over single spaces) as
    ``PatientName``/``ClinicianName``, and date lines (``YYYY-MM-DD`` alone) as ``Date``.

    >>> g = synthea_gold("n", "2001-02-03\\nAnn1 Lee2 is seen by Bo3.", {"Ann1", "Lee2"}, {"Bo3"})
    >>> [(g.text[s.start:s.end], s.category) for s in g.spans]
    [('2001-02-03', 'Date'), ('Ann1 Lee2', 'PatientName'), ('Bo3', 'ClinicianName')]
    """
    spans = [GoldSpan(m.start(1), m.end(1), "Date") for m in _DATE_LINE.finditer(text)]
    known = {n: "ClinicianName" for n in clinician_names} | {
        n: "PatientName" for n in patient_names
    }
    if known:
        alternatives = "|".join(re.escape(n) for n in sorted(known, key=len, reverse=True))
        run = re.compile(rf"(?<!\w)(?:{alternatives})(?: (?:{alternatives}))*(?!\w)")
        for m in run.finditer(text):
            first = m.group().split(" ")[0]
            spans.append(GoldSpan(m.start(), m.end(), known[first]))
    return GoldDoc(doc_id, text, sorted(spans, key=_span_key))


def read_synthea(folder: Path) -> list[GoldDoc]:
    """Synthea bulk NDJSON notes (text/plain attachments) with name and date gold; each note
    carries its Patient resource for the with-context run."""

    def ndjson(name: str) -> list[dict[str, Any]]:
        with (folder / f"{name}.000.ndjson").open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    patients = {p["id"]: p for p in ndjson("Patient")}
    patient_names = set().union(*(resource_names(p) for p in patients.values()))
    clinician_names = set().union(*(resource_names(p) for p in ndjson("Practitioner")))
    docs = []
    for ref in ndjson("DocumentReference"):
        for n, content in enumerate(ref.get("content", [])):
            attachment = content.get("attachment", {})
            if "data" not in attachment or not attachment.get("contentType", "").startswith(
                "text/plain"
            ):
                continue
            text = base64.b64decode(attachment["data"]).decode("utf-8")
            gold = synthea_gold(f"{ref['id']}-{n}", text, patient_names, clinician_names)
            subject = ref.get("subject", {}).get("reference", "")
            gold.patient = patients.get(subject.removeprefix("Patient/"))
            docs.append(gold)
    return docs


DATASETS: dict[str, tuple[str, Callable[[Path], list[GoldDoc]], str]] = {
    "physionet": ("physionet-deid-dev", read_physionet, "PhysioNet deid dev (ICU nursing notes)"),
    "presidio": ("presidio-synth-phi", read_presidio, "presidio-research synthetic PII"),
    "synthea": ("synthea-bulk-10", read_synthea, "Synthea bulk-10 notes (names, dates)"),
}
"""Data set key → (folder under --data, reader, title)."""


# ---------------------------------------------------------------- scoring


@dataclass
class Tally:
    """Counts behind one row: recall side (gold) and precision side (system)."""

    gold_spans: int = 0
    gold_found: int = 0
    gold_tokens: int = 0
    gold_tokens_found: int = 0
    sys_spans: int = 0
    sys_hits: int = 0
    sys_tokens: int = 0
    sys_token_hits: int = 0

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def span_recall(self) -> float | None:
        """Found / gold spans (None without gold)."""
        return self.gold_found / self.gold_spans if self.gold_spans else None

    @property
    def token_recall(self) -> float | None:
        """Found / gold tokens (None without gold)."""
        return self.gold_tokens_found / self.gold_tokens if self.gold_tokens else None

    @property
    def span_precision(self) -> float | None:
        """System spans overlapping gold / system spans (None without system spans)."""
        return self.sys_hits / self.sys_spans if self.sys_spans else None

    @property
    def token_precision(self) -> float | None:
        """System tokens also in gold / system tokens (None without system tokens)."""
        return self.sys_token_hits / self.sys_tokens if self.sys_tokens else None


@dataclass
class Scores:
    """Tallies by gold category, gold group, system type and system-type group; ``all`` too."""

    by_category: dict[str, Tally] = field(default_factory=dict)
    by_group: dict[str, Tally] = field(default_factory=dict)
    by_type: dict[str, Tally] = field(default_factory=dict)
    invalid_spans: int = 0

    def row(self, table: dict[str, Tally], key: str) -> Tally:
        """The tally of ``key`` in ``table``, created empty when new."""
        return table.setdefault(key, Tally())


_ALNUM = re.compile(r"[^\W_]+")


def _mask(length: int, spans: Iterable[tuple[int, int]]) -> bytearray:
    covered = bytearray(length)
    for start, end in spans:
        covered[start:end] = b"\x01" * (end - start)
    return covered


def _covered(text: str, covered: bytearray, start: int, end: int) -> bool:
    return all(covered[i] for i in range(start, end) if not text[i].isspace())


def score_document(doc: GoldDoc, spans: Sequence[Span], scores: Scores) -> None:
    """Add one note's counts to ``scores`` (spans outside the text are counted as invalid
    and left out)."""
    valid = [(s, e, t) for s, e, t in spans if 0 <= s < e <= len(doc.text)]
    scores.invalid_spans += len(spans) - len(valid)
    covered = _mask(len(doc.text), ((s, e) for s, e, _ in valid))
    gold_mask = _mask(len(doc.text), ((g.start, g.end) for g in doc.spans))

    for gold in doc.spans:
        tally = Tally(gold_spans=1, gold_found=_covered(doc.text, covered, gold.start, gold.end))
        for token in re.finditer(r"\S+", doc.text[gold.start : gold.end]):
            tally.gold_tokens += 1
            tally.gold_tokens_found += _covered(
                doc.text, covered, gold.start + token.start(), gold.start + token.end()
            )
        group = CATEGORY_GROUP.get(gold.category, "other")
        for table, key in ((scores.by_category, gold.category), (scores.by_group, group)):
            scores.row(table, key).add(tally)
        scores.row(scores.by_group, "all").add(tally)

    tokens = [(m.start(), m.end()) for m in _ALNUM.finditer(doc.text)]
    touched: dict[str, set[int]] = {}  # type / group / "all" -> indexes of tokens touched
    for start, end, phi_type in valid:
        hit = any(gold_mask[start:end])
        group = type_group(phi_type)
        for table, key in ((scores.by_type, phi_type), (scores.by_group, group)):
            row = scores.row(table, key)
            row.sys_spans += 1
            row.sys_hits += hit
        all_row = scores.row(scores.by_group, "all")
        all_row.sys_spans += 1
        all_row.sys_hits += hit
        inside = _tokens_touched(tokens, start, end)
        for key in (f"type:{phi_type}", f"group:{group}", "all"):
            touched.setdefault(key, set()).update(inside)
    for key, indexes in touched.items():
        if key == "all":
            row = scores.row(scores.by_group, "all")
        elif key.startswith("type:"):
            row = scores.row(scores.by_type, key[5:])
        else:
            row = scores.row(scores.by_group, key[6:])
        row.sys_tokens += len(indexes)
        row.sys_token_hits += sum(1 for i in indexes if any(gold_mask[tokens[i][0] : tokens[i][1]]))


def _tokens_touched(tokens: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indexes of the tokens that share a character with ``[start, end)`` (tokens sorted)."""
    lo, hi = 0, len(tokens)
    while lo < hi:  # first token ending after start
        mid = (lo + hi) // 2
        if tokens[mid][1] <= start:
            lo = mid + 1
        else:
            hi = mid
    found = []
    while lo < len(tokens) and tokens[lo][0] < end:
        found.append(lo)
        lo += 1
    return found


def score(docs: Sequence[GoldDoc], outputs: Mapping[str, Sequence[Span]]) -> Scores:
    """Score a system's spans (by note id; a missing note has none) against the gold."""
    scores = Scores()
    for doc in docs:
        score_document(doc, outputs.get(doc.id, ()), scores)
    return scores


def judged_figures(scores: Scores) -> dict[str, float]:
    """The overall figures ``score_deid.py`` prints (span/token recall, precision, span F1)."""
    total = scores.by_group.get("all", Tally())
    r = total.span_recall or 0.0
    p = total.span_precision or 0.0
    return {
        "span_recall": r,
        "token_recall": total.token_recall or 0.0,
        "precision": p,
        "f1_span": 2 * p * r / (p + r) if p + r else 0.0,
    }


def meets_target(scores: Scores) -> str:
    """ "yes"/"no" for the target that have gold, and precision)."""
    recalls = [
        scores.by_group[g].span_recall
        for g in TARGET_GROUPS
        if g in scores.by_group and scores.by_group[g].gold_spans
    ]
    precision = scores.by_group.get("all", Tally()).span_precision or 0.0
    ok = all((r or 0.0) >= TARGET_RECALL for r in recalls) and precision >= TARGET_PRECISION
    return "yes" if ok else "no"


# ---------------------------------------------------------------- speed


@dataclass
class Timing:
    """Per-note detection times of one system on one data set."""

    seconds: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    load_seconds: float | None = None

    def add(self, result: NoteResult) -> None:
        """Record one note's outcome."""
        if result.status == "ok" and result.seconds is not None:
            self.seconds.append(result.seconds)
        elif result.status == "timeout":
            self.timeouts += 1
        else:
            self.errors[result.error or "error"] += 1


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q ≤ 100) of ``values``.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# ---------------------------------------------------------------- systems


class OursDetector:
    """note2fhir's ``deid`` stage in mask mode, in-process (as ``note2fhir deid`` builds it)."""

    def __init__(self) -> None:
        import note2fhir.deid.stage  # noqa: F401, PLC0415 - registers the stage
        from note2fhir.engine import Engine  # noqa: PLC0415
        from note2fhir.settings import load_settings  # noqa: PLC0415

        settings = load_settings()
        options = dict(settings.stages.get("deid", {})) | {"mode": "mask"}
        settings = settings.model_copy(update={"pipeline": ["deid"], "stages": {"deid": options}})
        self.engine = Engine(settings)

    def detect(self, text: str, patient: dict[str, Any] | None = None) -> list[Span]:
        """PHI spans of ``text`` in original offsets (``patient`` gives the FHIR context)."""
        from note2fhir.fhir.readers import document_from_plain_text  # noqa: PLC0415

        doc = document_from_plain_text(text, doc_id="note", location="eval")
        if patient is not None:
            doc.context.patient = patient
        doc = self.engine.pipeline.run(doc)
        return [(*doc.original_span(p.start, p.end), p.type) for p in doc.phi]


class _WithPatient:
    """Adapter: ``detect(text)`` where the worker is sent ``(text, patient)`` pairs."""

    def __init__(self) -> None:
        self.inner = OursDetector()

    def detect(self, text: Any) -> list[Span]:
        note, patient = text
        return self.inner.detect(note, patient)


def note2fhir_command() -> list[str]:
    """The ``note2fhir`` executable beside this Python (else the one on PATH)."""
    beside = Path(sys.executable).with_name("note2fhir")
    return [str(beside)] if beside.exists() else ["note2fhir"]


def run_cli(docs: Sequence[GoldDoc], workdir: Path) -> tuple[dict[str, list[Span]], float, str]:
    """Run ``note2fhir deid --mode mask`` on the notes as JSON Lines; return spans by id, the
    wall time (start-up included) and the command."""
    source, target = workdir / "in.jsonl", workdir / "out.jsonl"
    with source.open("w", encoding="utf-8") as f:
        f.writelines(
            json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n" for d in docs
        )
    command = [*note2fhir_command(), "deid", str(source), "--mode", "mask", "-o", str(target)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):  # 1: no note processed, 3: some failed
        # stderr carries only catalogue messages (never note text)
        raise RuntimeError(f"note2fhir deid failed ({done.returncode}): {done.stderr[-2000:]}")
    spans: dict[str, list[Span]] = {}
    if target.exists():
        with target.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    spans[row["id"]] = [(p["start"], p["end"], p["type"]) for p in row["phi"]]
    return spans, seconds, " ".join(["note2fhir", *command[1:]])


@dataclass
class SystemRun:
    """One system's output and timing on one data set."""

    name: str
    outputs: dict[str, list[Span]]
    timing: Timing
    note: str = ""


def run_worker(
    name: str, factory: Callable[[], Detector], docs: Sequence[GoldDoc], timeout: float,
    with_patient: bool = False,
) -> SystemRun:  # fmt: skip
    """Run a system over the notes in a guarded worker, one note at a time."""
    timing = Timing()
    outputs: dict[str, list[Span]] = {}
    warmup: Any = (WARMUP_TEXT, None) if with_patient else WARMUP_TEXT
    with GuardedWorker(factory, timeout, warmup) as worker:
        for doc in docs:
            payload: Any = (doc.text, doc.patient) if with_patient else doc.text
            result = worker.detect(payload)
            timing.add(result)
            outputs[doc.id] = result.spans
        timing.load_seconds = worker.load_seconds
    return SystemRun(name, outputs, timing)


def only_typed(run: SystemRun) -> SystemRun:
    """philter-lite's typed PHI alone (what its PHI filters named, not all it redacts)."""
    outputs = {k: [s for s in v if s[2] != PHILTER_UNTYPED] for k, v in run.outputs.items()}
    return SystemRun(f"{run.name} (typed only)", outputs, run.timing, "same run")


# ---------------------------------------------------------------- report


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def summary_rows(
    dataset: str, runs: Sequence[SystemRun], docs: Sequence[GoldDoc]
) -> list[list[object]]:
    """One row per system: overall figures, target-group recalls, target check."""
    rows: list[list[object]] = []
    for run in runs:
        scores = score(docs, run.outputs)
        total = scores.by_group.get("all", Tally())
        groups = [scores.by_group.get(g, Tally()).span_recall for g in TARGET_GROUPS]
        rows.append([
            dataset, run.name, total.gold_spans, _cell(total.span_recall),
            _cell(total.token_recall), *(_cell(r) for r in groups), total.sys_spans,
            _cell(total.span_precision), _cell(total.token_precision), meets_target(scores),
        ])  # fmt: skip
    return rows


def group_table(runs: Sequence[SystemRun], docs: Sequence[GoldDoc]) -> str:
    """Rows per group and system: recall (gold) and precision (system types in the group)."""
    rows: list[list[object]] = []
    for run in runs:
        scores = score(docs, run.outputs)
        for group in (*GROUPS, "all"):
            t = scores.by_group.get(group)
            if t is None:
                continue
            rows.append([
                run.name, group, t.gold_spans, _cell(t.span_recall), _cell(t.token_recall),
                t.sys_spans, _cell(t.span_precision), _cell(t.token_precision),
            ])  # fmt: skip
    headers = ["system", "group", "gold spans", "span R", "token R", "system spans",
               "span P", "token P"]  # fmt: skip
    return markdown_table(headers, rows)


def category_table(runs: Sequence[SystemRun], docs: Sequence[GoldDoc]) -> str:
    """Recall per gold category: span / token recall of each system."""
    all_scores = [score(docs, run.outputs) for run in runs]
    categories = sorted({c for s in all_scores for c in s.by_category})
    rows: list[list[object]] = []
    for category in categories:
        gold = all_scores[0].by_category[category] if all_scores else Tally()
        row: list[object] = [category, CATEGORY_GROUP.get(category, "other"), gold.gold_spans]
        for s in all_scores:
            t = s.by_category.get(category, Tally())
            row.append(f"{_cell(t.span_recall)} / {_cell(t.token_recall)}")
        rows.append(row)
    headers = ["gold category", "group", "spans", *(f"{r.name} span/token R" for r in runs)]
    return markdown_table(headers, rows)


def type_table(runs: Sequence[SystemRun], docs: Sequence[GoldDoc]) -> str:
    """Precision per system type."""
    rows: list[list[object]] = []
    for run in runs:
        scores = score(docs, run.outputs)
        for phi_type, t in sorted(scores.by_type.items()):
            rows.append([
                run.name, phi_type, type_group(phi_type), t.sys_spans, _cell(t.span_precision),
                t.sys_tokens, _cell(t.token_precision),
            ])  # fmt: skip
    headers = ["system", "type", "group", "spans", "span P", "tokens", "token P"]
    return markdown_table(headers, rows)


def speed_rows(dataset: str, runs: Sequence[SystemRun]) -> list[list[object]]:
    """ms per note: median, p99, mean, max; timeouts, errors, start-up."""
    rows: list[list[object]] = []
    for run in runs:
        if run.note == "same run":
            continue
        t = run.timing
        ms = [s * 1000 for s in t.seconds]
        stats: list[object] = (
            [f"{statistics.median(ms):.2f}", f"{percentile(ms, 99):.2f}",
             f"{statistics.fmean(ms):.2f}", f"{max(ms):.1f}"]
            if ms else ["—"] * 4
        )  # fmt: skip
        errors = ", ".join(f"{k} {v}" for k, v in sorted(t.errors.items())) or "0"
        load = "—" if t.load_seconds is None else f"{t.load_seconds:.1f}"
        rows.append([dataset, run.name, len(ms), *stats, t.timeouts, errors, load])
    return rows


def save_run(
    folder: Path, dataset: str, docs: Sequence[GoldDoc], runs: Sequence[SystemRun]
) -> None:
    """Write the input and each system's output as JSON Lines (the ``deid`` contract)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{dataset}.in.jsonl").open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n")
    for run in runs:
        name = re.sub(r"[^A-Za-z0-9+.-]+", "-", run.name).strip("-")
        with (folder / f"{dataset}.{name}.jsonl").open("w", encoding="utf-8") as f:
            for d in docs:
                phi = [{"start": s, "end": e, "type": t} for s, e, t in run.outputs.get(d.id, [])]
                f.write(json.dumps({"id": d.id, "phi": phi}) + "\n")


def run_dataset(
    key: str, docs: Sequence[GoldDoc], systems: Sequence[str], timeout: float, notes: list[str]
) -> list[SystemRun]:
    """Every selected system on one data set."""
    runs: list[SystemRun] = []
    for name in systems:
        started = time.perf_counter()
        if name == "note2fhir":
            with tempfile.TemporaryDirectory(prefix="eval-deid-") as tmp:
                outputs, cli_seconds, command = run_cli(docs, Path(tmp))
            timed = run_worker(name, OursDetector, docs, timeout)
            same = sum(
                sorted(outputs.get(d.id, [])) == sorted(timed.outputs.get(d.id, [])) for d in docs
            )
            notes.append(
                f"{key}: scores from `{command}` ({cli_seconds:.1f} s wall, start-up included, "
                f"{len(outputs)}/{len(docs)} notes out); in-process timing run agrees on "
                f"{same}/{len(docs)} notes"
            )
            runs.append(SystemRun(name, outputs, timed.timing))
            if key == "synthea":
                runs.append(run_worker("note2fhir+context", _WithPatient, docs, timeout, True))
        else:
            run = run_worker(name, PEERS[name], docs, timeout)
            runs.append(run)
            if name == "philter-lite":
                runs.append(only_typed(run))
        print(f"# {key}: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="physionet,presidio,synthea")
    parser.add_argument("--systems", default="note2fhir,philter-lite,presidio")
    parser.add_argument("--limit", type=int, help="first N notes of each data set")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per note")
    parser.add_argument("--by-type", action="store_true", help="also precision per system type")
    parser.add_argument("--save", type=Path, help="write inputs and outputs as JSON Lines here")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [d for d in datasets if d not in DATASETS] + [
        s for s in systems if s != "note2fhir" and s not in PEERS
    ]
    if unknown:
        parser.error(f"unknown data set or system: {', '.join(unknown)}")

    print(f"Command: `{command_line()}`\n")
    print(
        f"Run {date.today().isoformat()} on {platform.node() or 'host'} "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}); "
        + ", ".join(f"{k} {v}" for k, v in peer_versions().items())
        + "\n"
    )
    summary: list[list[object]] = []
    speed: list[list[object]] = []
    notes: list[str] = []
    sources: list[str] = []
    for key in datasets:
        folder_name, reader, title = DATASETS[key]
        folder = args.data / folder_name
        if not folder.is_dir():
            notes.append(f"{key}: skipped, {folder} not found")
            continue
        docs = reader(folder)[: args.limit] if args.limit else reader(folder)
        sources.append(attribution(folder, title))
        runs = run_dataset(key, docs, systems, args.timeout, notes)
        summary += summary_rows(key, runs, docs)
        speed += speed_rows(key, runs)
        print(f"## {title}: {len(docs)} notes, {sum(len(d.spans) for d in docs)} gold spans\n")
        print(group_table(runs, docs) + "\n")
        print(category_table(runs, docs) + "\n")
        if args.by_type:
            print(type_table(runs, docs) + "\n")
        if args.save:
            save_run(args.save, key, docs, runs)

    print("## Summary\n")
    print(
        markdown_table(
            [
                "data",
                "system",
                "gold spans",
                "span R",
                "token R",
                "names R",
                "dates R",
                "identifiers R",
                "system spans",
                "span P",
                "token P",
                f"target (R≥{TARGET_RECALL} names/dates/ids, P≥{TARGET_PRECISION})",
            ],
            summary,
        )
        + "\n"
    )
    print("## Speed (ms per note, one process, detection only)\n")
    print(
        markdown_table(
            [
                "data",
                "system",
                "notes timed",
                "median",
                "p99",
                "mean",
                "max",
                "timeouts",
                "errors",
                "start-up s",
            ],
            speed,
        )
        + "\n"
    )
    print("Notes:\n")
    for line in [*notes, *(f"{k}: {v}" for k, v in PEER_CONFIGS.items()), *sources]:
        print(f"- {line}" if not line.startswith("- ") else line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
