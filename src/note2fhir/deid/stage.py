"""The ``deid`` stage: find PHI, replace it, and rewrite the working text with an offset map.

It runs first (the pipeline refuses a text-rewriting stage after span stages), so every later
stage reads de-identified text while every span still maps to the ORIGINAL text.  ``doc.phi``
holds one span per replacement in the NEW working text; the offset map sends each to the whole
original PHI span, so the ``annotate`` output lists PHI in original offsets.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from note2fhir.deid.detect import DeidTimeoutError, Detection, Detector
from note2fhir.deid.lexicons import (
    load_lexicons,
    load_rules,
    terminology_eponyms,
    terminology_words,
)
from note2fhir.deid.patient import patient_values
from note2fhir.deid.transform import Replacer, apply, date_offset_days
from note2fhir.document import ClinicalDocument, PhiSpan
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.pipeline import Stage, register_stage
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

_EPHEMERAL: list[bytes] = []
_EPHEMERAL_LOCK = threading.Lock()


class DeidOptions(BaseModel):
    """Options of the ``deid`` stage (``[stages.deid]`` in the settings file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["mask", "surrogate"] = Field(
        "mask", description="mask: '[NAME]', '[DATE]' ...; surrogate: realistic replacements."
    )
    shift_dates: bool = Field(
        False,
        description="Move every date by the patient's secret offset (kept format); surrogate "
        "mode always shifts dates.",
    )
    shift_min_days: int = Field(-365, description="Smallest date offset in days.")
    shift_max_days: int = Field(365, description="Largest date offset in days.")
    max_ms_per_note: int = Field(
        5000, gt=0, description="Time budget per note; a note over it fails (DEID_TIMEOUT)."
    )
    protect_terminology: bool = Field(
        True,
        description="Protect the single-word drug/problem/test terms of the terminology "
        "artifact (when it is present) from the name and place dictionaries, and its "
        "eponyms ('Gaucher disease', 'Glasgow coma scale') from the name rules.",
    )
    deidentify_title: bool = Field(True, description="Also de-identify the document title.")
    patient_memory: bool = Field(
        False,
        description="Remember the names and places a context rule found in a patient's note "
        "('Dr. Rakusin') and find them in that patient's later notes of this process, even "
        "without a cue; only for documents with a subject or Patient (never across patients). "
        "Off by default: with it, a note's output depends on which notes the process saw "
        "before, so re-processing is no longer idempotent.",
    )
    memory_patients: int = Field(
        4096, ge=0, description="Patients remembered at most (least recently seen dropped)."
    )

    @model_validator(mode="after")
    def _range(self) -> DeidOptions:
        if self.shift_min_days > self.shift_max_days:
            raise ValueError("shift_min_days must not exceed shift_max_days")
        return self


@register_stage
class DeidStage(Stage):
    """Detect HIPAA Safe Harbor identifiers and replace them (mask, surrogate, date shift)."""

    name = "deid"
    assigns = frozenset({"text", "phi"})
    Options = DeidOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        assert isinstance(options, DeidOptions)
        self.opts: DeidOptions = options
        self.secret = _secret(options, settings)
        self._memory = PatientMemory(options.memory_patients)

    @cached_property
    def detector(self) -> Detector:
        """The detector, built on first use (dictionaries load once per process)."""
        protected: frozenset[str] = frozenset()
        eponyms: frozenset[str] = frozenset()
        if self.opts.protect_terminology:
            from note2fhir.terminology.schema import DB_FILE  # noqa: PLC0415

            db = self.settings.terminology_artifact_path / DB_FILE
            if db.is_file():
                protected = terminology_words(db)
                not_next = frozenset(w.lower() for w in load_rules().not_eponym_next)
                eponyms = terminology_eponyms(db, load_lexicons(), not_next)
            else:
                log.info("de-identification: no terminology artifact; packaged protected list only")
        return Detector(load_rules(), load_lexicons(), protected, eponyms)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("detector", None)
        return state

    def process(self, doc: ClinicalDocument) -> None:
        """Rewrite ``doc.text`` de-identified and assign ``doc.phi`` (and the title)."""
        budget_s = self.opts.max_ms_per_note / 1000
        started = time.monotonic()
        known = patient_values(doc.context.patient)
        key = patient_key(doc)
        remember = self.opts.patient_memory and not key.startswith("document:")
        if remember:
            known += self._memory.words(key)
        detections = self._detect(doc, doc.text, budget_s, known)
        if remember:
            self._memory.add(key, self.detector.memorable(doc.text, detections))
        replacer = self._replacer(doc)
        new_text, omap, spans = apply(doc.text, detections, replacer)
        doc.rewrite(new_text, omap)
        doc.phi = [PhiSpan(start, end, phi_type) for start, end, phi_type in spans]
        if self.opts.deidentify_title and doc.context.title:
            left = max(budget_s - (time.monotonic() - started), 0.001)
            title = doc.context.title
            found = self._detect(doc, title, left, known)
            doc.context.title = apply(title, found, replacer)[0]
        log.debug(
            "deid: document %s: %d PHI spans in %.1f ms",
            doc.source.location or doc.source.resource_id,
            len(spans),
            (time.monotonic() - started) * 1000,
        )

    def _detect(
        self, doc: ClinicalDocument, text: str, budget_s: float, known: list[tuple[str, str]]
    ) -> list[Detection]:
        try:
            return self.detector.detect(text, budget_s=budget_s, known=known)
        except DeidTimeoutError:
            raise Note2FhirError(
                ErrorCode.DEID_TIMEOUT,
                location=doc.source.location,
                limit=self.opts.max_ms_per_note,
            ) from None

    def _replacer(self, doc: ClinicalDocument) -> Replacer:
        key = patient_key(doc)
        offset = 0
        if self.secret is not None:
            offset = date_offset_days(
                self.secret, key, self.opts.shift_min_days, self.opts.shift_max_days
            )
        return Replacer.build(
            mode=self.opts.mode,
            shift_dates=self.opts.shift_dates,
            secret=self.secret or b"",
            patient_key=key,
            offset_days=offset,
            lex=load_lexicons(),
        )


class PatientMemory:
    """Words of names and places found with a cue in a patient's notes, by patient key,
    for the least recently seen ``max_patients`` patients (thread-safe; in memory only,
    never logged)."""

    MAX_WORDS = 256
    """Words kept per patient."""

    def __init__(self, max_patients: int) -> None:
        self.max_patients = max_patients
        self._words: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, int]:
        return {"max_patients": self.max_patients}  # what was remembered never travels

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["max_patients"])  # type: ignore[misc]

    def words(self, key: str) -> list[tuple[str, str]]:
        """The (word, type) pairs remembered for ``key``."""
        with self._lock:
            found = self._words.get(key)
            if found is None:
                return []
            self._words.move_to_end(key)
            return list(found.items())

    def add(self, key: str, pairs: list[tuple[str, str]]) -> None:
        """Remember more (word, type) pairs for ``key``."""
        if not pairs or self.max_patients == 0:
            return
        with self._lock:
            known = self._words.setdefault(key, {})
            self._words.move_to_end(key)
            for word, phi_type in pairs:
                if len(known) >= self.MAX_WORDS:
                    break
                known.setdefault(word, phi_type)
            while len(self._words) > self.max_patients:
                self._words.popitem(last=False)


def patient_key(doc: ClinicalDocument) -> str:
    """What surrogates and date shifts are consistent over: the subject reference or
    identifier, the Patient's id, or else the document itself."""
    subject = doc.context.subject or {}
    if subject.get("reference"):
        return str(subject["reference"])
    ident = subject.get("identifier") or {}
    if ident.get("value"):
        return f"{ident.get('system', '')}|{ident['value']}"
    if doc.context.patient and doc.context.patient.get("id"):
        return f"Patient/{doc.context.patient['id']}"
    return f"document:{doc.id}"


def _secret(options: DeidOptions, settings: Settings) -> bytes | None:
    """The keyed-hash secret; required for surrogates and date shifting."""
    needs = options.mode == "surrogate" or options.shift_dates
    if settings.deid_secret is not None:
        value = settings.deid_secret.get_secret_value().encode("utf-8")
        if len(value) < 16:
            raise Note2FhirError(
                ErrorCode.PIPELINE_INVALID, reason="deid_secret must be at least 16 characters"
            )
        return value
    if not needs:
        return None
    if not settings.deid_allow_ephemeral_secret:
        raise Note2FhirError(ErrorCode.DEID_SECRET_MISSING)
    with _EPHEMERAL_LOCK:
        if not _EPHEMERAL:
            _EPHEMERAL.append(secrets.token_bytes(32))
            log.warning(
                "deid: no deid_secret set; using a random per-process secret "
                "(surrogates and date shifts differ between runs; development only)"
            )
        return _EPHEMERAL[0]
