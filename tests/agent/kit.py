"""What the agent tests share: a kubectl stand-in that records what ran, and resource YAML.

The stand-in is a real executable on the tools' ``PATH``: the real ``KubectlTool`` (policy,
argv, environment) runs it exactly as it would run kubectl, so "the delete never ran" is an
observation of a process that did or did not start, not of a mock.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import RunningServer

STAND_IN = """#!{python}
import json, sys
here = {here!r}
argv = sys.argv[1:]
with open(here + "/invocations.jsonl", "a") as log:
    log.write(json.dumps(argv) + "\\n")
line = " ".join(argv)
for needle, output, code in json.load(open(here + "/responses.json")):
    if needle in line:
        sys.stdout.write(output)
        sys.exit(code)
sys.stdout.write("No resources found\\n")
"""


@dataclass(frozen=True)
class KubectlStandIn:
    directory: Path

    @property
    def bin_dir(self) -> str:
        return str(self.directory)

    @property
    def kubeconfig(self) -> str:
        return str(self.directory / "kubeconfig")

    def invocations(self) -> list[list[str]]:
        log = self.directory / "invocations.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def ran(self, needle: str) -> bool:
        return any(needle in " ".join(argv) for argv in self.invocations())


def kubectl_stand_in(
    tmp_path: Path, responses: Sequence[tuple[str, str, int]] = ()
) -> KubectlStandIn:
    """``responses``: (substring of the argv, output, exit code), first match wins."""
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    (directory / "responses.json").write_text(json.dumps(list(responses)))
    (directory / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    script = directory / "kubectl"
    script.write_text(STAND_IN.format(python=sys.executable, here=str(directory)))
    script.chmod(0o755)
    return KubectlStandIn(directory)


def server_settings(stand_in: KubectlStandIn, **extra: Any) -> dict[str, Any]:
    """Settings for ``running_server`` so kubectl is the stand-in."""
    return {
        "tool_path": f"{stand_in.bin_dir}:/usr/bin:/bin",
        "kubeconfig": stand_in.kubeconfig,
        **extra,
    }


HEADER = (
    webhook_source()
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
---
"""
)


def workflow_yaml(
    llm: str,
    *,
    provider: str = "local",
    tools: str = "[kubectl]",
    step_extra: str = "",
    goal: str = "Investigate {{ .source.data.alert.alertname }} in {{ .source.data.alert.labels.namespace }}",
    outputs: str = "",
    api_key: str | None = None,
    max_iterations: int = 6,
    timeout_minutes: float = 1,
    evidence: str = "off",
) -> str:
    """A workflow with one agent step; ``evidence`` is off unless a test is about it, so the
    fake LLM's script sees exactly the calls the test makes."""
    key = f"\n      apiKey: {api_key}" if api_key else ""
    return (
        HEADER
        + f"""
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  runtime:
    llmConfig:
      provider: {provider}
      endpoint: "{llm}"
      model: test-model{key}
  steps:
    - name: investigate
      type: agent
      goal: "{goal}"
      tools: {tools}
      maxIterations: {max_iterations}
      timeoutMinutes: {timeout_minutes}
      evidence: {evidence}
{step_extra}
  outputs:
    - {{name: summary, value: "{{{{ .steps.investigate.result.summary }}}}"}}
    - {{name: escalation_context, value: "{{{{ .steps.investigate.result.escalation_notes }}}}"}}
{outputs}
  sinks: [out]
"""
    )


async def post_alert(server: RunningServer, name: str = "PodCrashLooping", **labels: str) -> str:
    response = await server.post_alert("/hook", notification(alert(name, labels=labels or None)))
    assert response.status_code == 202, response.text
    run_id: str = response.json()["alerts"][0]["runId"]
    return run_id


async def run_detail(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def step(detail: dict[str, Any], name: str = "investigate") -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in detail["steps"] if s["name"] == name)
    return found


async def wait_for_status(
    client: httpx.AsyncClient, run_id: str, status: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        detail = await run_detail(client, run_id)
        if detail["status"] == status:
            return detail
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run {run_id} is {detail['status']}, not {status}")
        await asyncio.sleep(0.05)
