"""Prometheus metrics: requests, latency, documents, entities, failures and hook gauges.

Labels are bounded and never PHI: the route template (``/fhir/DocumentReference/$process``,
never the raw path), the method, the status, the entity type, the resource type and the
catalogue error code.  Under gunicorn the config sets ``PROMETHEUS_MULTIPROC_DIR`` before
this module is imported, so every worker's counts add up in one scrape; gauges from
:attr:`ServiceState.gauges` (queue depth) are read at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from note2fhir.document import ClinicalDocument
from note2fhir.errors import Note2FhirError
from service.state import get_state

bp = Blueprint("metrics", __name__)

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})

REQUESTS = Counter(
    "note2fhir_http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "note2fhir_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DOCUMENTS = Counter(
    "note2fhir_documents_processed_total",
    "Documents (attachments) processed into a Bundle, by source resource type.",
    ["resource_type"],
)
ENTITIES = Counter(
    "note2fhir_entities_total", "Entities found in processed documents, by type.", ["type"]
)
FAILURES = Counter(
    "note2fhir_document_failures_total",
    "Documents and requests that failed, by catalogue error code.",
    ["code"],
)

JOBS = Counter(
    "note2fhir_writeback_jobs_total",
    "Write-back queue jobs by kind and outcome (done, retry, dead-letter).",
    ["kind", "outcome"],
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one finished request and its latency."""
    method = method if method in _METHODS else "OTHER"
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def record_document(doc: ClinicalDocument) -> None:
    """Count a processed document and its entities by type."""
    DOCUMENTS.labels(doc.source.resource_type).inc()
    counts: dict[str, int] = {}
    for entity in doc.entities:
        counts[entity.type.value] = counts.get(entity.type.value, 0) + 1
    for entity_type, n in counts.items():
        ENTITIES.labels(entity_type).inc(n)


def record_failure(err: Note2FhirError) -> None:
    """Count a failure by its catalogue code."""
    FAILURES.labels(err.code.name).inc()


def record_job(kind: str, outcome: str) -> None:
    """Count a write-back job outcome (the queue worker's ``on_outcome`` hook)."""
    JOBS.labels(kind, outcome).inc()


class _HookGauges(Collector):
    """The state's gauges, read when scraped."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge per hook; a hook that fails is left out of this scrape."""
        for name, (help_text, read) in sorted(self._gauges.items()):
            try:
                value = float(read())
            except Exception:
                continue
            yield GaugeMetricFamily(name, help_text, value=value)


def exposition(gauges: dict[str, tuple[str, Callable[[], float]]]) -> bytes:
    """The text exposition of this process's (or, under gunicorn, every worker's) metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(_HookGauges(gauges))
    return body + generate_latest(extra)


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(exposition(get_state().gauges), content_type=CONTENT_TYPE_LATEST)
