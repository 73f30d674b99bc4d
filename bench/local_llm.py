"""The bundled local model on the quick start's OOM crash loop: latency and tokens.

Run: ``.venv/bin/python bench/local_llm.py`` (``--runs N``; the model must be installed:
``.venv/bin/punching-fist model install``).

The quick start (``examples/quickstart``) is served in-process exactly as ``make run`` serves
it: ``provider: local`` with no endpoint, so llama-server (Qwen2.5-Coder 1.5B Q4_K_M,
``-t 2``, one slot) starts on the first request; kubectl is the quick start's stand-in with
recorded output. The sample Alertmanager notification is POSTed ``--runs`` times (distinct
fingerprints, so none is deduplicated). The first run is cold (it includes starting
llama-server and loading the model); later runs find it running, with the system prompt
already in its cache. Figures per run, from the run's audit trail and step timestamps:

* **first tool call**: from the alert's 202 until the model's first tool call arrived;
* **investigation**: the agent step's wall time (start to AgentResult);
* **alert → sink**: from the 202 until the stdout sink delivered;
* **tokens**: prompt and completion tokens summed over the step's LLM requests, as
  llama-server counted them (prompt tokens include the part served from its cache).

LLM inference on 2 cores is very sensitive to other load; the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import running_server  # noqa: E402

from punching_fist.cli import load_resources  # noqa: E402
from punching_fist.local_model.cache import LocalModelPaths  # noqa: E402
from punching_fist.local_model.status import require_ready  # noqa: E402

QUICKSTART = ROOT / "examples/quickstart"


def _time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def figures(detail: dict[str, Any], accepted: float) -> dict[str, Any]:
    """One run's numbers from ``GET /api/v1/runs/{id}``."""
    step = next(s for s in detail["steps"] if s["name"] == "investigate")
    llm = [e for e in detail["audit"] if e["kind"] == "llm"]
    tools = [e for e in detail["audit"] if e["kind"] == "tool"]
    first_call = next(e for e in llm if not e["output"].startswith("final_answer("))
    delivered = max(_time(d["completed_at"]) for d in detail["deliveries"])
    result = step["result"] or {}
    return {
        "first_tool_call_s": _time(first_call["created_at"]) - accepted,
        "investigation_s": _time(step["completed_at"]) - _time(step["started_at"]),
        "alert_to_sink_s": delivered - accepted,
        "llm_requests": len(llm),
        "tool_calls": [e["arguments"].get("command") or e["arguments"] for e in tools],
        "prompt_tokens": sum(e["usage"]["input_tokens"] for e in llm),
        "completion_tokens": sum(e["usage"]["output_tokens"] for e in llm),
        "ok": result.get("error_message") is None,
        "root_cause": result.get("root_cause", ""),
    }


async def bench(runs: int) -> list[dict[str, Any]]:
    resources = load_resources(QUICKSTART)
    notification = json.loads((QUICKSTART / "sample-alert.json").read_text())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server(
            resources,
            f"sqlite+aiosqlite:///{tmp}/bench.db",
            tool_path=f"{QUICKSTART / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            kubeconfig=str(QUICKSTART / "recorded/kubeconfig"),
        ) as server:
            for run in range(runs):
                notification["alerts"][0]["fingerprint"] = f"bench-{run}-{time.time_ns()}"
                response = await server.post_alert("/webhook/alerts", notification)
                accepted = time.time()
                response.raise_for_status()
                run_id = response.json()["alerts"][0]["runId"]
                await server.settle(timeout=900)
                detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
                numbers = figures(detail, accepted)
                numbers["run"] = "cold" if run == 0 else "warm"
                results.append(numbers)
                print(json.dumps(numbers), flush=True)
    return results


def report(results: list[dict[str, Any]]) -> None:
    print(f"\nQuick-start OOM investigation, bundled Qwen2.5-Coder 1.5B, {os.cpu_count()} CPUs")
    header = f"{'run':<5} {'1st tool call':>13} {'investigation':>13} {'alert→sink':>10}"
    print(header + f" {'LLM reqs':>8} {'prompt tok':>10} {'compl. tok':>10}  root cause found")
    for r in results:
        print(
            f"{r['run']:<5} {r['first_tool_call_s']:>12.1f}s {r['investigation_s']:>12.1f}s "
            f"{r['alert_to_sink_s']:>9.1f}s {r['llm_requests']:>8} {r['prompt_tokens']:>10} "
            f"{r['completion_tokens']:>10}  {'yes' if r['ok'] else 'NO'}"
        )
    warm = [r for r in results if r["run"] == "warm"]
    if warm:
        print(
            f"warm median: first tool call "
            f"{statistics.median(r['first_tool_call_s'] for r in warm):.1f}s, investigation "
            f"{statistics.median(r['investigation_s'] for r in warm):.1f}s"
        )
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="investigations (the first is cold)")
    args = parser.parse_args()
    require_ready(LocalModelPaths.from_settings())  # fails with the install command if missing
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    report(asyncio.run(bench(args.runs)))


if __name__ == "__main__":
    main()
