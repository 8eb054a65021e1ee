"""Peer de-identification systems for ``eval_deid.py``, run offline, each in a guarded worker.

The peers (the ``eval`` extra: ``pip install -e '.[eval]'``):

``philter-lite``
    UCSF Philter's rules (philter-lite's ``philter_delta.toml``).  Philter tags every note with
    NLTK's POS tagger, whose data cannot be downloaded here, so it runs in a configuration with
    no POS-dependent filter: the two name blacklists restricted to proper nouns (``NNP``) and
    the four context filters that take their context from the first-name blacklist are
    dropped, the ``CD`` matcher (keeps numbers) becomes a regex for digit-only tokens, and the
    tagging step is replaced by philter's own tokenisation with empty tags (no remaining filter
    reads a tag).  Philter is a whitelist
    system: it redacts every word that no "safe" filter kept, so its output here is that
    redacted text (typed by the PHI filter that matched it, else ``UNTYPED``), as its asterisk
    writer would blank it out.
``presidio``
    presidio-analyzer's default recognizers on a blank English spaCy pipeline (no statistical
    model, so no PERSON/LOCATION NER: regex, checksum and context recognizers only), with
    tldextract's bundled public-suffix snapshot instead of a download.

Every system runs in a child process that answers one note at a time and times it there
(``time.perf_counter`` around the detection call only), so a runaway pattern is ended by
killing the child after the per-note timeout; the note counts as a timeout and a fresh child
takes over.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import re
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Span = tuple[int, int, str]
"""A detected PHI span: start, end (offsets into the note text) and the system's type."""

PHILTER_UNTYPED = "UNTYPED"
"""Type given to text philter-lite redacts without any of its typed PHI filters matching it."""


class Detector(Protocol):
    """What a system does in its worker: PHI spans of one note."""

    def detect(self, text: str) -> list[Span]:
        """PHI spans of ``text``."""
        ...


# ---------------------------------------------------------------- philter-lite


PHILTER_CONFIG = "philter_delta.toml"


CD_KEYWORD = "offline.cd_token"
"""Where ``CD_TOKEN`` sits in the regex database handed to philter's filter loader."""
CD_TOKEN = r"(?<![A-Za-z0-9])[0-9]+(?![A-Za-z0-9])"
"""Stands in for philter's ``CD`` (cardinal number) POS matcher: a token of digits only.

philter splits tokens at every non-alphanumeric character, and NLTK tags a digits-only token
``CD``; so a safe regex filter at the matcher's place keeps the same numbers."""


def philter_offline_filters(
    filters: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Remove what reads POS tags from a philter config; return the kept filters and the titles
    of those dropped.

    A ``pos_matcher`` that keeps cardinal numbers becomes the regex ``CD_TOKEN`` (no tagger
    needed); other ``pos_matcher`` filters, ``set`` filters restricted to some parts of speech
    and ``regex_context`` filters whose context is a dropped filter are dropped.
    """
    dropped = {
        f["title"]
        for f in filters
        if (f["type"] == "pos_matcher" and f.get("pos") != ["CD"])
        or (f["type"] == "set" and f.get("pos"))
    }
    dropped |= {
        f["title"]
        for f in filters
        if f["type"] == "regex_context" and f.get("context_filter") in dropped
    }
    kept = []
    for f in filters:
        if f["title"] in dropped:
            continue
        if f["type"] == "pos_matcher":
            kept.append(
                {k: v for k, v in f.items() if k != "pos"}
                | {"type": "regex", "keyword": CD_KEYWORD}
            )
        else:
            kept.append(f)
    return kept, sorted(dropped)


def redacted_spans(
    text: str, kept: list[tuple[int, int]], typed: list[Span], untyped: str = PHILTER_UNTYPED
) -> list[Span]:
    """The words a whitelist de-identifier blanks out: characters outside every kept range that
    are letters or digits, grouped into maximal runs; each run takes the type of the typed span
    it overlaps most, else ``untyped``.  Runs separated by punctuation alone are one span.

    >>> redacted_spans("Seen by Dr Smith on 7/22.", [(0, 7), (17, 19)], [(11, 16, "Name")])
    [(8, 10, 'UNTYPED'), (11, 16, 'Name'), (20, 24, 'UNTYPED')]
    """
    keep = bytearray(len(text))
    for start, end in kept:
        keep[start:end] = b"\x01" * (end - start)
    runs: list[Span] = []
    for m in re.finditer(r"[A-Za-z0-9]+", text):
        # philter's asterisk writer blanks every letter or digit outside the kept ranges
        begin: int | None = None
        for i in range(m.start(), m.end() + 1):
            inside = i < m.end() and not keep[i]
            if inside and begin is None:
                begin = i
            elif not inside and begin is not None:
                runs.append((begin, i, untyped))
                begin = None
    merged: list[Span] = []
    for run in runs:
        # "7/22" or "1987-11-19" blanked to "*/**": one span, as the reader sees it
        if merged and _only_punctuation(text[merged[-1][1] : run[0]]):
            merged[-1] = (merged[-1][0], run[1], untyped)
        else:
            merged.append(run)
    result: list[Span] = []
    for start, end, _ in merged:
        best, best_overlap = untyped, 0
        for t_start, t_end, t_type in typed:
            overlap = min(end, t_end) - max(start, t_start)
            if overlap > best_overlap:
                best, best_overlap = t_type, overlap
        result.append((start, end, best))
    return result


def _only_punctuation(gap: str) -> bool:
    """True for a non-empty gap of punctuation only (no letter, digit or space)."""
    return bool(gap) and not any(c.isalnum() or c.isspace() for c in gap)


class PhilterPeer:
    """philter-lite with its default rules minus the POS-dependent filters (see module doc)."""

    def __init__(self) -> None:
        import tomllib  # noqa: PLC0415
        from importlib.resources import files  # noqa: PLC0415

        import philter_lite  # noqa: PLC0415
        from philter_lite import philter  # noqa: PLC0415
        from philter_lite.filters import filter_db  # noqa: PLC0415

        config = files("philter_lite").joinpath("configs", PHILTER_CONFIG)
        filters = tomllib.loads(config.read_text("utf-8"))["filters"]
        kept, self.dropped = philter_offline_filters(filters)
        regex_db = {**filter_db.regex_db, "offline": {"cd_token": CD_TOKEN}}
        load = philter_lite.filter_from_dict
        self.filters = [load(f, regex_db=regex_db) for f in kept]  # type: ignore[no-untyped-call]
        # Tagging is philter's first step for every note and needs NLTK data; with no filter
        # left that reads a tag, the tokens alone do (the same list the tagger would label).
        clean = philter._get_clean
        philter._get_pos = lambda text: [(w, "") for w in clean(text)]  # type: ignore[no-untyped-call]
        self._detect = philter_lite.detect_phi

    def detect(self, text: str) -> list[Span]:
        """Everything philter-lite would blank out of ``text``, typed where a PHI filter hit."""
        include_map, _, tracker = self._detect(text, patterns=self.filters)
        typed = [(p.start, p.stop, p.phi_type) for p in tracker.phi]
        return redacted_spans(text, list(include_map.filecoords()), typed)


# ---------------------------------------------------------------- Presidio


class PresidioPeer:
    """presidio-analyzer's default recognizers on a blank spaCy English pipeline."""

    def __init__(self, score_threshold: float = 0.0) -> None:
        import spacy  # noqa: PLC0415
        import tldextract  # noqa: PLC0415
        from presidio_analyzer import AnalyzerEngine  # noqa: PLC0415
        from presidio_analyzer.nlp_engine import SpacyNlpEngine  # noqa: PLC0415

        # The e-mail/URL recognizers call tldextract, which would fetch the suffix list.
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="presidio-blank-en-")
        model = Path(self._tmp.name) / "blank-en"
        # A path, not a package name, so Presidio never tries to download a model.
        spacy.blank("en").to_disk(model)
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(model)}])
        engine.load()
        self.analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
        self.score_threshold = score_threshold

    def detect(self, text: str) -> list[Span]:
        """Presidio's results on ``text`` (duplicates of one span and type merged)."""
        results = self.analyzer.analyze(text, language="en", score_threshold=self.score_threshold)
        return sorted({(r.start, r.end, r.entity_type) for r in results})


PEERS: dict[str, Callable[[], Detector]] = {
    "philter-lite": PhilterPeer,
    "presidio": PresidioPeer,
}
"""Peer name -> constructor (called inside the worker)."""

PEER_CONFIGS: dict[str, str] = {
    "philter-lite": (
        "philter-lite philter_delta.toml without its POS-dependent filters (the NNP first/last "
        "name blacklists and the 4 context filters built on them dropped; the CD matcher "
        "replaced by a digits-only regex); NLTK tagging replaced by philter's tokenisation; "
        "output = every word it blanks out (as its asterisk writer); '(typed only)' = the "
        "spans its PHI filters typed"
    ),
    "presidio": (
        "presidio-analyzer default recognizers, blank spaCy 'en' pipeline (no NER model), "
        "score threshold 0"
    ),
}
"""One line per peer: the configuration that was run (printed under the tables)."""


def peer_versions() -> dict[str, str]:
    """Installed versions of the peers' packages ("missing" where not installed)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    found = {}
    for name in ("philter-lite", "presidio-analyzer", "spacy", "nltk"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


# ---------------------------------------------------------------- guarded worker


@dataclass
class NoteResult:
    """One note's outcome: spans and detection time, or a timeout, or an error's type name."""

    spans: list[Span]
    seconds: float | None
    status: str = "ok"  # "ok" | "timeout" | "error"
    error: str = ""


WARMUP_TEXT = "Seen by Dr. John Smith at 555-123-4567 on 3/4/2020 (MRN 1234567)."
"""A note each worker processes once before timing starts (lazy loading is start-up)."""


def _serve(
    factory: Callable[[], Detector], warmup: Any, conn: multiprocessing.connection.Connection
) -> None:
    """Worker loop: build the system, then answer (spans, seconds) per text until None."""
    try:
        started = time.perf_counter()
        system = factory()
        system.detect(warmup)
        conn.send(("ready", time.perf_counter() - started))
    except Exception as err:  # reported to the parent, which decides
        conn.send(("failed", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
        return
    while True:
        text = conn.recv()
        if text is None:
            return
        try:
            started = time.perf_counter()
            spans = system.detect(text)
            conn.send(("ok", spans, time.perf_counter() - started))
        except Exception as err:
            # only the exception type goes back: peers' messages may quote note text
            conn.send(("error", type(err).__name__))


class GuardedWorker:
    """A system in a child process, one note at a time, with a per-note timeout.

    A note that runs past ``timeout`` seconds kills the child; the next note starts a new one
    (its start-up, and the ``warmup`` note it runs first, are not counted in any note's time).
    """

    def __init__(
        self, factory: Callable[[], Detector], timeout: float, warmup: Any = WARMUP_TEXT
    ) -> None:
        self.factory = factory
        self.warmup = warmup
        self.timeout = timeout
        self.load_seconds: float | None = None
        self.restarts = 0
        self._ctx = multiprocessing.get_context("fork")
        self._proc: Any = None
        self._conn: multiprocessing.connection.Connection | None = None

    def _start(self) -> multiprocessing.connection.Connection:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_serve, args=(self.factory, self.warmup, child), daemon=True
        )
        self._proc.start()
        child.close()
        message = parent.recv()
        if message[0] != "ready":
            self._stop()
            raise RuntimeError(f"system did not start: {message[1]}")
        if self.load_seconds is None:
            self.load_seconds = float(message[1])
        self._conn = parent
        return parent

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        self._proc, self._conn = None, None

    def detect(self, text: str) -> NoteResult:
        """Spans of one note, or a timeout/error result."""
        conn = self._conn or self._start()
        conn.send(text)
        if not conn.poll(self.timeout):
            self._stop()
            self.restarts += 1
            return NoteResult([], None, "timeout")
        message = conn.recv()
        if message[0] == "ok":
            return NoteResult([(s, e, t) for s, e, t in message[1]], float(message[2]))
        return NoteResult([], None, "error", str(message[1]))

    def close(self) -> None:
        """End the child process."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        self._stop()

    def __enter__(self) -> GuardedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
