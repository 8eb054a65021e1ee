"""Load benchmark of the HTTP service: throughput, p50/p99 latency and RSS per worker.

Starts ``note2fhir serve`` on a free 127.0.0.1 port for each worker count, sends
``POST /fhir/DocumentReference/$process`` with the sample note from several client threads
for a fixed time, and prints a Markdown table.  Traffic never leaves the loopback interface
and every run is bounded in time.

    python benchmarks/service_load.py --workers 1 2 --seconds 20 --concurrency 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import requests

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "progress-note.docref.json"
TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(workers: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        NOTE2FHIR_API_TOKENS=TOKEN,
        NOTE2FHIR_SERVICE_HOST="127.0.0.1",
        NOTE2FHIR_SERVICE_PORT=str(port),
        NOTE2FHIR_SERVICE_WORKERS=str(workers),
        NOTE2FHIR_LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="n2f-bench-metrics-"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "note2fhir.cli", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"the service did not become ready; see {log}")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _memory_mib(pid: int) -> tuple[float, float]:
    """RSS and PSS (shared pages split between the processes sharing them) in MiB."""
    rss = pss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("Pss:"):
            pss = int(line.split()[1]) / 1024
    return rss, pss


def _load(url: str, body: bytes, seconds: float, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        session = requests.Session()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=60)
            elapsed = time.perf_counter() - start
            with lock:
                if response.status_code == 200:
                    latencies.append(elapsed)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def run(workers: int, seconds: float, concurrency: int, body: bytes) -> dict[str, float]:
    """One measured run at ``workers`` gunicorn workers."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process = _start(workers, port, Path(tmp) / "service.log")
        try:
            url = f"http://127.0.0.1:{port}/fhir/DocumentReference/$process"
            _load(url, body, min(3.0, seconds), concurrency)  # warm-up
            latencies, errors = _load(url, body, seconds, concurrency)
            memory = [_memory_mib(pid) for pid in _children(process.pid)]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    latencies.sort()
    return {
        "workers": workers,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "rss_mib": statistics.mean(m[0] for m in memory),
        "pss_mib": statistics.mean(m[1] for m in memory),
    }


def main() -> None:
    """Parse arguments, run each worker count, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    args = parser.parse_args()
    body = json.dumps(json.loads(SAMPLE.read_text("utf-8"))).encode()
    rows = [run(w, args.seconds, args.concurrency, body) for w in args.workers]
    print(
        f"service load, {date.today()}, {platform.node()} ({os.cpu_count()} CPUs), "
        f"{args.concurrency} client threads, {args.seconds:.0f} s per run, sample note "
        f"({len(body)} bytes)"
    )
    print()
    print("| workers | requests | errors | req/s | p50 ms | p99 ms | RSS/worker MiB | PSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['requests']} | {r['errors']} | {r['rps']:.1f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rss_mib']:.0f} | {r['pss_mib']:.0f} |"
        )
    print()
    print("command: python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
