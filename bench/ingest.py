"""Intake benchmark: durable alerts/s and latency, beside a no-op endpoint and Alertmanager.

Run: ``.venv/bin/python bench/ingest.py`` (needs ``wrk``; ``--postgres`` adds PostgreSQL).
Load comes from ``wrk`` (C, separate process) over loopback, so the client is not the limit.
Each target gets the same load: POSTs of Alertmanager notifications rotating over
``--fingerprints`` fingerprints (Alertmanager's repeats). The storm then sends 10,000
notifications over 1,000 fingerprints and checks that exactly 1,000 runs started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.postgres import running_postgres  # noqa: E402
from tests.support.payloads import alert, notification  # noqa: E402
from tests.support.server import free_port  # noqa: E402

LUA = ROOT / "bench" / "load.lua"


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def process(
    argv: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        wait_ready(ready_url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk(url: str, *, seconds: int, connections: int, fingerprints: int, fmt: str) -> dict[str, Any]:
    env = {**os.environ, "PF_FINGERPRINTS": str(fingerprints), "PF_FORMAT": fmt}
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    ok = result["requests"] - result["non2xx"]
    result["accepted_per_s"] = ok / (result["duration_us"] / 1e6)
    return result


def serve_argv(resources: Path, db: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "punching_fist.cli",
        "serve",
        "--resources",
        str(resources),
        "--db",
        db,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def alertmanager_argv(tmp: Path, port: int) -> list[str]:
    config = tmp / "am.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    return [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={tmp / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


async def storm(url: str, *, notifications: int, fingerprints: int, concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def send(n: int) -> None:
            payload = notification(alert("StormAlert", fingerprint=f"storm-{n % fingerprints}"))
            async with limit:
                response = await client.post(url, json=payload)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(send(n) for n in range(notifications)))
        return time.perf_counter() - started


def count_runs(base: str, workflow: str) -> int:
    body = httpx.get(f"{base}/api/v1/runs", params={"workflow": workflow, "limit": 1}).json()
    return int(body["total"])


def report(name: str, result: dict[str, Any], baseline: float | None) -> None:
    ratio = f"{result['accepted_per_s'] / baseline:5.2f}x no-op" if baseline else ""
    print(
        f"{name:<48} {result['accepted_per_s']:>9,.0f}/s  p50 {result['p50_us'] / 1000:6.2f} ms"
        f"  p99 {result['p99_us'] / 1000:6.2f} ms  non-2xx {result['non2xx']}  {ratio}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--fingerprints", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    load = {
        "seconds": args.seconds,
        "connections": args.connections,
        "fingerprints": args.fingerprints,
    }
    print(
        f"load: wrk 1 thread, {args.connections} connections, {args.seconds}s per target, "
        f"{args.fingerprints} rotating fingerprints",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pf-bench-") as name, ExitStack() as stack:
        tmp = Path(name)
        port = free_port()
        noop_argv = [sys.executable, str(ROOT / "bench" / "noop_server.py"), "--port", str(port)]
        with process(noop_argv, f"http://127.0.0.1:{port}/healthz", tmp / "noop.log"):
            noop = wrk(f"http://127.0.0.1:{port}/webhook/alerts", fmt="webhook", **load)
        report("no-op endpoint (same HTTP stack)", noop, None)
        baseline = noop["accepted_per_s"]

        # Alertmanager as it runs (Go, every core), then held to one core (GOMAXPROCS=1),
        # the share of the machine one Python event loop gets.
        for label, env in (("", {}), (", one core", {"GOMAXPROCS": "1"})):
            port = free_port()
            with process(
                alertmanager_argv(tmp, port),
                f"http://127.0.0.1:{port}/-/ready",
                tmp / "am.log",
                env=env,
            ):
                am = wrk(f"http://127.0.0.1:{port}/api/v2/alerts", fmt="alertmanager", **load)
            report(f"Alertmanager POST /api/v2/alerts{label}", am, baseline)

        databases = [("SQLite (WAL, synchronous=FULL)", f"sqlite:///{tmp / 'bench.db'}")]
        if args.postgres:
            databases.append(("PostgreSQL 15", stack.enter_context(running_postgres()).async_url))
        for label, db in databases:
            measure_punching_fist(label, db, tmp, load, baseline)


def measure_punching_fist(
    label: str, db: str, tmp: Path, load: dict[str, Any], baseline: float
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    resources = ROOT / "bench" / "resources"
    with process(serve_argv(resources, db, port), f"{base}/readyz", tmp / "serve.log"):
        result = wrk(f"{base}/webhook/alerts", fmt="webhook", **load)
        report(f"punching-fist, {label}", result, baseline)
        before = count_runs(base, "bench-triage")
        print(f"{'':<48} runs started: {before} (expected {load['fingerprints']})", flush=True)
        elapsed = asyncio.run(
            storm(
                f"{base}/webhook/alerts", notifications=10_000, fingerprints=1_000, concurrency=64
            )
        )
        new_runs = count_runs(base, "bench-triage") - before
        print(
            f"{'':<48} storm: 10,000 notifications over 1,000 fingerprints in {elapsed:.1f}s "
            f"({10_000 / elapsed:,.0f}/s from a Python client) -> {new_runs} new runs "
            "(expected 1,000)",
            flush=True,
        )
        if new_runs != 1_000:
            raise SystemExit(f"storm started {new_runs} runs, expected exactly 1,000")


if __name__ == "__main__":
    main()
