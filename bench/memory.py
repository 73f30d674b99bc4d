"""Memory with the bundled model: the first and the second occurrence of the same incident.

Run: ``.venv/bin/python bench/memory.py`` (``--scenario NAME``, ``--json PATH``). About two
minutes on two cores: two investigations by the bundled model, one reuse.

One recorded incident of ``bench/eval_scenarios`` (answered by the eval's kubectl stand-in)
is alerted three times, each alert a new fingerprint, each run investigating
(``investigate: perAlert``, so no alert joins the first one's incident run), on one
database:

1. **first**: memory empty, cache on (``spec.cache.ttl: 15m``): a full investigation;
2. **second, cache**: the same alert again within the TTL, the same evidence: the first
   result is reused (``cachedFrom``) without an LLM request;
3. **second, memory only**: the server restarted on the same database with the cache off
   (``ttl: "0"``): the first investigation reaches the first message as a similar incident.

For each: seconds from the POST to the run's end, LLM requests and tokens (the ``llm``
audit events), kubectl calls, whether the answer is graded correct (``eval.grade``), and
what memory did (``cachedFrom``, ``similar_incidents``, ``pastCauseHeld``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `bench.eval` and `tests.support.server`, as a script

from bench.eval import (  # noqa: E402
    KUBECONFIG,
    PIPELINE,
    WEBHOOK,
    Scenario,
    StandIn,
    load_scenarios,
    notification_for,
    outcome_of,
)

OPERATOR_CONFIG = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: config}
spec:
  cache: {ttl: "%s"}
"""


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    name: str
    seconds: float
    llm_calls: int
    tokens: int
    kubectl_calls: int
    passed: bool
    reason: str
    cached_from: str | None
    similar: int
    past_cause_held: bool | None
    root_cause: str


def resources_text(ttl: str) -> str:
    return PIPELINE % {"webhook": WEBHOOK, "timeout": 20, "endpoint": ""} + OPERATOR_CONFIG % ttl


async def occur(server: Any, scenario: Scenario, number: int, name: str) -> Occurrence:
    started = time.perf_counter()
    response = await server.post_alert(WEBHOOK, notification_for(scenario, number))
    response.raise_for_status()
    run_id = response.json()["alerts"][0]["runId"]
    await server.settle(timeout=900)
    seconds = time.perf_counter() - started
    detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
    outcome = outcome_of(scenario, number, seconds, detail)
    step = next(s for s in detail["steps"] if s["name"] == "investigate")
    result = step.get("result") or {}
    return Occurrence(
        name=name,
        seconds=round(seconds, 1),
        llm_calls=outcome.llm_calls,
        tokens=outcome.tokens,
        kubectl_calls=outcome.kubectl_calls,
        passed=outcome.passed,
        reason=outcome.reason,
        cached_from=result.get("cachedFrom"),
        similar=len(result.get("similar_incidents") or []),
        past_cause_held=result.get("pastCauseHeld"),
        root_cause=outcome.root_cause,
    )


async def measure(scenario: Scenario, workdir: Path) -> list[Occurrence]:
    from tests.support.server import resources_from_yaml, running_server

    from punching_fist.local_model.cache import LocalModelPaths
    from punching_fist.local_model.installer import install

    status = await install(LocalModelPaths.from_settings())
    if not status.ready:
        raise SystemExit(f"the bundled model is not ready: {status}")
    stand_in = StandIn(workdir)
    stand_in.use(scenario)
    database = f"sqlite+aiosqlite:///{workdir / 'memory.db'}"
    settings: dict[str, Any] = {
        "tool_path": f"{workdir}:/usr/local/bin:/usr/bin:/bin",
        "kubeconfig": str(KUBECONFIG),
    }
    found: list[Occurrence] = []

    async def run(server: Any, number: int, name: str) -> None:
        found.append(await occur(server, scenario, number, name))
        print(line(found[-1]), flush=True)

    cache_on = resources_from_yaml(resources_text("15m"))
    async with running_server(cache_on, database, **settings) as server:
        await run(server, 1, "first (memory empty)")
        await run(server, 2, "second, within the cache TTL")
    cache_off = resources_from_yaml(resources_text("0"))
    async with running_server(cache_off, database, **settings) as server:
        await run(server, 3, "second, cache off (memory only)")
    return found


def line(o: Occurrence) -> str:
    memory = f"cachedFrom {o.cached_from}" if o.cached_from else f"{o.similar} similar"
    held = "" if o.past_cause_held is None else f", pastCauseHeld {o.past_cause_held}"
    verdict = "PASS" if o.passed else "FAIL"
    return (
        f"{verdict} {o.name}: {o.seconds:.1f} s, {o.llm_calls} LLM requests,"
        f" {o.tokens:,} tokens, {o.kubectl_calls} kubectl calls; {memory}{held}; {o.reason}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", default="crashloop-missing-env")
    parser.add_argument("--json", type=Path, help="write the occurrences here")
    args = parser.parse_args(argv)
    [scenario] = load_scenarios([args.scenario])
    from punching_fist.observability.logging import configure_logging

    configure_logging(level="error", json_output=not sys.stderr.isatty())
    print(f"scenario {scenario.name} with the bundled model", flush=True)
    with tempfile.TemporaryDirectory(prefix="pf-memory-") as workdir:
        occurrences = asyncio.run(measure(scenario, Path(workdir)))
    print(f"{len(occurrences)} occurrences of {scenario.name}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in occurrences], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
