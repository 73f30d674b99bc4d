"""Investigation quality of the bundled local model: recorded incidents, graded answers.

Run: ``.venv/bin/python bench/eval.py`` (``--runs N``, ``--only NAME[,NAME]``,
``--json PATH``, ``--verbose``). About a minute per investigation on two cores.

Each scenario (``bench/eval_scenarios/NAME.yaml``) is one incident: an Alertmanager
notification (webhook format 4, kube-prometheus labels), the kubectl output a cluster with
that incident would print (answered by ``bench/eval_kubectl.py``, a kubectl stand-in put on
the agent tools' PATH), and what a correct answer must contain:

* ``expect: diagnosis`` (the default): every regex in ``facts`` matches the result's
  ``root_cause + " " + summary`` (case-insensitive), and the result is not marked
  ``inconclusive``;
* ``expect: healthy``: the same, where the facts say "nothing is wrong" (a heartbeat alert);
* ``expect: inconclusive``: the evidence does not show the cause; the result's
  ``inconclusive`` must be true.

One server runs the whole eval in this process (``tests.support.server.running_server``),
so llama-server starts once; scenarios run one at a time. The workflow is the quick start's
shape: a webhook Source, one ``agent`` step (``provider: local`` without an endpoint, the
bundled Qwen2.5-Coder 1.5B; ``tools: [kubectl]``; ``maxIterations: 6``) with a generic goal,
and a stdout Sink. Each investigation is timed from the POST to the run's end; tokens are
the ``llm`` audit events' input + output, kubectl calls the ``tool`` audit events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "bench" / "eval_scenarios"
STAND_IN = ROOT / "bench" / "eval_kubectl.py"
KUBECONFIG = ROOT / "examples" / "quickstart" / "recorded" / "kubeconfig"
WEBHOOK = "/webhook/alerts"

Expect = Literal["diagnosis", "healthy", "inconclusive"]


# --- the scenario format -------------------------------------------------------------------


class RecordedOutput(BaseModel):
    """A recorded kubectl answer that is not plain stdout with exit code 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stdout: str = ""
    stderr: str = ""
    exit: int = Field(default=0, ge=0, le=255)


class Scenario(BaseModel):
    """One recorded incident and what a correct investigation concludes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][-a-z0-9]*$")
    title: str
    expect: Expect = "diagnosis"
    facts: list[str] = Field(default_factory=list)
    """Regexes (case-insensitive) that must all match ``root_cause + " " + summary``."""
    namespace: str | None = None
    """Where recording keys without ``-n`` live (kubectl itself defaults to ``default``)."""
    labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Labels of objects without a recorded ``describe`` (``NAMESPACE/NAME``, or ``NAME``)."""
    notification: dict[str, Any]
    """The Alertmanager webhook body, as Alertmanager would POST it."""
    kubectl: dict[str, str | RecordedOutput]
    """Recorded answers keyed by kubectl command (``describe pod web-0``)."""

    @field_validator("facts")
    @classmethod
    def _facts_compile(cls, facts: list[str]) -> list[str]:
        for fact in facts:
            try:
                re.compile(fact, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"fact {fact!r} is not a valid regex: {exc}") from exc
        return facts

    @field_validator("notification")
    @classmethod
    def _one_alertmanager_alert(cls, notification: dict[str, Any]) -> dict[str, Any]:
        # Imported here so the stand-in's tests can load scenarios without the server stack.
        from punching_fist.sources.alertmanager import AlertmanagerNotification

        parsed = AlertmanagerNotification.model_validate(notification)
        if parsed.version != "4" or len(parsed.alerts) != 1:
            raise ValueError("a scenario's notification is format 4 with exactly one alert")
        if parsed.alerts[0].status != "firing":
            raise ValueError("a scenario's alert is firing")
        return notification

    @model_validator(mode="after")
    def _gradable(self) -> Scenario:
        if self.expect != "inconclusive" and not self.facts:
            raise ValueError(f"expect: {self.expect} needs at least one fact to check")
        return self

    @property
    def alert_labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.notification["alerts"][0]["labels"]
        return labels

    def for_stand_in(self) -> dict[str, Any]:
        """What ``eval_kubectl.py`` reads (as JSON, so it needs nothing beyond the stdlib)."""
        return {
            "namespace": self.namespace,
            "labels": self.labels,
            "kubectl": {
                key: value if isinstance(value, str) else value.model_dump()
                for key, value in self.kubectl.items()
            },
        }


def load_scenario(path: Path) -> Scenario:
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    if scenario.name != path.stem:
        raise ValueError(f"{path}: name {scenario.name!r} differs from the file name")
    return scenario


def load_scenarios(only: Sequence[str] = (), directory: Path = SCENARIOS) -> list[Scenario]:
    """Every scenario, by name; ``only`` picks some (an unknown name is an error)."""
    scenarios = [load_scenario(path) for path in sorted(directory.glob("*.yaml"))]
    if only:
        unknown = set(only) - {s.name for s in scenarios}
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s.name in only]
    return scenarios


# --- grading -------------------------------------------------------------------------------


def grade(scenario: Scenario, result: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether the agent step's ``result`` is a correct answer, and why (one line)."""
    if not result:
        return False, "no result"
    if result.get("error_message"):
        return False, f"investigation incomplete: {result['error_message']}"
    inconclusive = result.get("inconclusive")
    if scenario.expect == "inconclusive":
        if inconclusive is True:
            return True, "marked inconclusive"
        if inconclusive is None:
            return False, "the result has no `inconclusive` field"
        return False, "not marked inconclusive (it named a cause)"
    if inconclusive is True:
        return False, "marked inconclusive, but the evidence shows the cause"
    text = f"{result.get('root_cause') or ''} {result.get('summary') or ''}"
    missing = [fact for fact in scenario.facts if not re.search(fact, text, re.IGNORECASE)]
    if missing:
        return False, "missing " + ", ".join(f"/{fact}/" for fact in missing)
    return True, f"{len(scenario.facts)}/{len(scenario.facts)} facts"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One investigation of one scenario, graded."""

    scenario: str
    run: int
    passed: bool
    reason: str
    seconds: float
    status: str
    llm_calls: int
    tokens: int
    kubectl_calls: int
    root_cause: str = ""
    summary: str = ""
    inconclusive: bool | None = None
    commands: list[str] = field(default_factory=list)


def outcome_of(scenario: Scenario, run: int, seconds: float, detail: dict[str, Any]) -> Outcome:
    steps: list[dict[str, Any]] = detail.get("steps", [])
    step: dict[str, Any] = next((s for s in steps if s.get("name") == "investigate"), {})
    result = step.get("result") if isinstance(step.get("result"), dict) else None
    passed, reason = grade(scenario, result)
    audit = detail.get("audit", [])
    llm = [e for e in audit if e.get("kind") == "llm"]
    tools = [e for e in audit if e.get("kind") == "tool"]
    tokens = sum(
        int((e.get("usage") or {}).get("input_tokens", 0))
        + int((e.get("usage") or {}).get("output_tokens", 0))
        for e in llm
    )
    return Outcome(
        scenario=scenario.name,
        run=run,
        passed=passed,
        reason=reason if step else f"no investigate step (run {detail.get('status')})",
        seconds=seconds,
        status=str(detail.get("status")),
        llm_calls=len(llm),
        tokens=tokens,
        kubectl_calls=len(tools),
        root_cause=str((result or {}).get("root_cause") or ""),
        summary=str((result or {}).get("summary") or ""),
        inconclusive=(result or {}).get("inconclusive"),
        commands=[_command(e) for e in tools],
    )


def _command(event: dict[str, Any]) -> str:
    arguments = event.get("arguments")
    if isinstance(arguments, dict) and "command" in arguments:
        return str(arguments["command"])
    return json.dumps(arguments)


# --- running -------------------------------------------------------------------------------

# Every scenario run is one investigation of its own alert (perAlert: no incident joins two).
PIPELINE = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alertmanager}
spec:
  type: webhook
  config: {path: "%(webhook)s"}
  triggerWorkflow: eval-triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: eval-triage}
spec:
  investigate: perAlert
  runtime:
    llmConfig: {provider: local%(endpoint)s}
  steps:
    - name: investigate
      type: agent
      goal: >-
        Alert {{ .source.data.alert.alertname }}: {{ .source.data.alert.summary }}
        Find the root cause.
      tools: ["kubectl"]
      maxIterations: 6
      timeoutMinutes: %(timeout)s
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
"""

# ... and from nothing: no result is reused (cache off) and no past scenario is recalled
# (knowledge off); bench/memory.py measures what memory changes.
RESOURCES = (
    PIPELINE
    + """---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: eval}
spec:
  cache: {ttl: "0"}
  knowledge: {enabled: false}
"""
)


class StandIn:
    """The ``kubectl`` on the tools' PATH: a wrapper that answers from one scenario.

    The server is started once with this directory on its tool path; before each scenario
    the wrapper is replaced (atomically) to point at that scenario's recordings.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.wrapper = directory / "kubectl"

    def use(self, scenario: Scenario) -> None:
        recordings = self.directory / f"{scenario.name}.json"
        recordings.write_text(json.dumps(scenario.for_stand_in()))
        argv = " ".join(shlex.quote(str(part)) for part in (sys.executable, STAND_IN, recordings))
        script = f'#!/bin/sh\nexec {argv} "$@"\n'
        staged = self.directory / "kubectl.new"
        staged.write_text(script)
        staged.chmod(0o755)
        os.replace(staged, self.wrapper)


def notification_for(scenario: Scenario, run: int) -> dict[str, Any]:
    """The scenario's notification with a fingerprint of its own, so no run is a repeat."""
    notification: dict[str, Any] = json.loads(json.dumps(scenario.notification))
    alert = notification["alerts"][0]
    alert["fingerprint"] = f"{alert.get('fingerprint') or scenario.name}-{run}"
    return notification


async def investigate(server: Any, scenario: Scenario, run: int) -> Outcome:
    started = time.perf_counter()
    response = await server.post_alert(WEBHOOK, notification_for(scenario, run))
    response.raise_for_status()
    run_id = response.json()["alerts"][0].get("runId")
    if run_id is None:
        raise RuntimeError(f"{scenario.name}: the alert started no run: {response.text}")
    await server.settle(timeout=900)
    seconds = time.perf_counter() - started
    detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
    return outcome_of(scenario, run, seconds, detail)


async def evaluate(
    scenarios: Sequence[Scenario],
    runs: int,
    workdir: Path,
    *,
    verbose: bool,
    timeout_minutes: float = 10,
    endpoint: str | None = None,
) -> list[Outcome]:
    """``timeout_minutes`` is the agent step's; raise it on a busy machine, where a slow
    investigation would otherwise count as wrong instead of slow. ``endpoint``: a
    llama-server started by hand (its log shows each request's prompt, cache and timings)
    instead of the bundled one."""
    from tests.support.server import resources_from_yaml, running_server

    from punching_fist.local_model.cache import LocalModelPaths
    from punching_fist.local_model.installer import install

    status = await install(LocalModelPaths.from_settings())  # a no-op on a warm cache
    if not status.ready:
        raise SystemExit(f"the bundled model is not ready: {status}")
    stand_in = StandIn(workdir)
    stand_in.use(scenarios[0])
    resources = resources_from_yaml(
        RESOURCES
        % {
            "webhook": WEBHOOK,
            "timeout": timeout_minutes,
            "endpoint": f", endpoint: {json.dumps(endpoint)}" if endpoint else "",
        }
    )
    outcomes: list[Outcome] = []
    async with running_server(
        resources,
        f"sqlite+aiosqlite:///{workdir / 'eval.db'}",
        tool_path=f"{workdir}:/usr/local/bin:/usr/bin:/bin",
        kubeconfig=str(KUBECONFIG),
    ) as server:
        for scenario in scenarios:
            stand_in.use(scenario)
            for run in range(1, runs + 1):
                outcome = await investigate(server, scenario, run)
                outcomes.append(outcome)
                print(line(outcome), flush=True)
                if verbose:
                    for command in outcome.commands:
                        print(f"      $ kubectl {command}")
                    print(f"      root cause: {outcome.root_cause}")
                    print(f"      summary: {outcome.summary}", flush=True)
    return outcomes


# --- reporting -----------------------------------------------------------------------------


def line(outcome: Outcome) -> str:
    verdict = "PASS" if outcome.passed else "FAIL"
    return (
        f"{verdict} {outcome.scenario} #{outcome.run}: {outcome.seconds:.1f} s,"
        f" {outcome.llm_calls} LLM requests, {outcome.tokens:,} tokens,"
        f" {outcome.kubectl_calls} kubectl calls; {outcome.reason}"
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    seconds = [o.seconds for o in outcomes]
    passed = sum(o.passed for o in outcomes)
    by_scenario: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_scenario.setdefault(outcome.scenario, []).append(outcome)
    return {
        "investigations": len(outcomes),
        "passed": passed,
        "pass_rate": passed / len(outcomes) if outcomes else 0.0,
        "median_seconds": statistics.median(seconds) if seconds else 0.0,
        "p90_seconds": percentile(seconds, 0.9) if seconds else 0.0,
        "mean_tokens": statistics.fmean(o.tokens for o in outcomes) if outcomes else 0.0,
        "mean_kubectl_calls": (
            statistics.fmean(o.kubectl_calls for o in outcomes) if outcomes else 0.0
        ),
        "scenarios": {
            name: f"{sum(o.passed for o in runs)}/{len(runs)}" for name, runs in by_scenario.items()
        },
    }


def report(figures: dict[str, Any]) -> str:
    return (
        f"\n{figures['passed']}/{figures['investigations']} passed"
        f" ({figures['pass_rate']:.0%}); alert to diagnosis: median"
        f" {figures['median_seconds']:.1f} s, p90 {figures['p90_seconds']:.1f} s;"
        f" per investigation: {figures['mean_tokens']:,.0f} tokens,"
        f" {figures['mean_kubectl_calls']:.1f} kubectl calls (means)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="investigations per scenario")
    parser.add_argument("--only", default="", help="scenario names, comma-separated")
    parser.add_argument("--json", type=Path, help="write outcomes and summary here")
    parser.add_argument("--verbose", action="store_true", help="show commands and answers")
    parser.add_argument(
        "--timeout-minutes", type=float, default=10, help="the agent step's timeoutMinutes"
    )
    parser.add_argument(
        "--endpoint",
        help="a running llama-server's /v1 URL instead of the bundled model (to read its log)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    scenarios = load_scenarios(only)
    from punching_fist.observability.logging import configure_logging

    # Here, not in evaluate: the smoke test calls evaluate inside pytest, whose later tests
    # capture logs, which loggers cached by this configuration would bypass.
    # Readable on a terminal; JSON lines (no colour codes) when the output is captured.
    configure_logging(
        level="info" if args.verbose else "error", json_output=not sys.stderr.isatty()
    )
    print(f"{len(scenarios)} scenario(s) x {args.runs} run(s) with the bundled model", flush=True)
    with tempfile.TemporaryDirectory(prefix="pf-eval-") as workdir:
        outcomes = asyncio.run(
            evaluate(
                scenarios,
                args.runs,
                Path(workdir),
                verbose=args.verbose,
                timeout_minutes=args.timeout_minutes,
                endpoint=args.endpoint,
            )
        )
    figures = summary(outcomes)
    print(report(figures))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": figures, "outcomes": [asdict(o) for o in outcomes]}, indent=2)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # `tests.support.server`, when run as a script
    sys.exit(main())
