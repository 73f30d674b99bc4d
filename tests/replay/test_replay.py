"""``punching-fist replay``: a recorded notification through a workflow, with no side effects.

Each test runs the real command line (typer's runner, in this process) against a folder of
resources: the Slack sink points at the Slack stand-in, which must receive nothing; the agent
talks to the fake LLM and its kubectl is the stand-in executable, so "the delete never ran"
is a process that never started.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.observability.logging import configure_logging
from punching_fist.replay import cli as replay_cli
from tests.agent.kit import kubectl_stand_in, workflow_yaml
from tests.support.fake_llm import FakeLLM, Script, call, final, kubectl
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source

SLACK_TOKEN = "xoxb-replay-test-token-5d1f"

SOURCE_AND_SLACK = (
    webhook_source("triage")
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: triage}}
spec:
  steps:
    - name: look
      type: cli
      command: "echo looked at {{{{ .source.data.alert.alertname }}}}"
  outputs:
    - {{name: summary, value: "{{{{ .steps.look.output }}}}"}}
  sinks: [ops-slack]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: ops-slack}}
spec:
  type: slack
  config:
    channel: "#ops-alerts"
    botToken: env://SLACK_TOKEN
    endpoint: {endpoint}
"""
)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def replay(tmp_path: Path, resources: Path, *options: str, **env: str) -> Any:
    recorded = write(tmp_path, "alert.json", json.dumps(notification(alert())))
    runner = CliRunner()
    return runner.invoke(
        app,
        ["replay", str(recorded), "--resources", str(resources), *options],
        env={"SLACK_TOKEN": SLACK_TOKEN, **env},
        catch_exceptions=False,
    )


def request_run(report: dict[str, Any]) -> str:
    [run] = report["runs"]
    run_id: str = run["id"]
    return run_id


@pytest.fixture(autouse=True)
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The command configures logging as ``serve`` does; here into a buffer, uncached, and
    put back afterwards, so no later test's logger writes to a closed runner stream."""
    saved = structlog.get_config()
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    stream = io.StringIO()

    def configure(**options: Any) -> None:
        configure_logging(**{**options, "stream": stream})
        structlog.configure(cache_logger_on_first_use=False)

    monkeypatch.setattr(replay_cli, "configure_logging", configure)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)
        root.handlers, level = before
        root.setLevel(level)


@pytest.fixture
def slack() -> Any:
    fake = FakeSlack(token=SLACK_TOKEN, channels={"C0OPS0001": "ops-alerts"})
    with fake.running():
        yield fake


def test_a_slack_sink_prints_its_payload_and_slack_receives_nothing(
    slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "resources"
    write(folder, "all.yaml", SOURCE_AND_SLACK.format(endpoint=slack.api_url))
    production = tmp_path / "production.db"
    url = f"sqlite+aiosqlite:///{production}"

    text = replay(tmp_path, folder, PUNCHING_FIST_DB=url)
    assert text.exit_code == 0, text.output
    assert "Replay of workflow 'triage' (source 'am')" in text.output
    assert "-- step look (cli): succeeded" in text.output
    assert "looked at PodCrashLooping" in text.output
    assert "-- sink ops-slack (slack): delivered" in text.output
    assert "-- ops-slack: POST /chat.postMessage" in text.output

    as_json = replay(
        tmp_path,
        folder,
        "--json",
        PUNCHING_FIST_DB=url,
        PUNCHING_FIST_PUBLIC_URL="https://fist.example.com",
    )
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    [request] = report["sinkRequests"]
    assert request["sink"] == "ops-slack"
    assert request["path"] == "/chat.postMessage"
    body = request["body"]
    assert body["channel"] == "#ops-alerts"
    assert body["blocks"][0]["text"]["text"].endswith("PodCrashLooping")
    assert body["blocks"][1]["text"]["text"] == "*Summary*\nPodCrashLooping summary"
    [button] = body["blocks"][-1]["elements"]
    assert button["url"] == f"https://fist.example.com/api/v1/runs/{request_run(report)}"
    assert SLACK_TOKEN not in as_json.output
    [run] = report["runs"]
    assert run["status"] == "succeeded"

    assert slack.calls == []  # the real destination heard nothing
    assert not production.exists()  # neither the named database ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert.json", "resources"]  # nor ./var


AGENT_TOOLS = "[kubectl, {name: restart, command: %s}]"


def test_agent_writes_and_scripts_are_refused_and_nothing_waits_for_a_person(
    tmp_path: Path,
) -> None:
    stand_in = kubectl_stand_in(
        tmp_path, [("get pods", "NAME READY STATUS\nweb-1 0/1 CrashLoopBackOff\n", 0)]
    )
    marker = tmp_path / "script-ran"
    script = write(tmp_path / "scripts", "restart.sh", f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    turns = Script(
        [
            kubectl("get pods -n shop"),
            kubectl("delete pod web-1 -n shop"),
            call("restart", arguments="web-1"),
            final(summary="web-1 crash loops; restart it", confidence=0.7),
        ]
    )
    with FakeLLM(turns) as llm:
        yaml = workflow_yaml(
            llm.url,
            tools=AGENT_TOOLS % script,
            # Even a step that would ask a person only refuses here.
            step_extra="      approvalRequired: true",
        )
        folder = tmp_path / "resources"
        write(folder, "all.yaml", yaml)
        result = replay(
            tmp_path,
            folder,
            "--json",
            "--tool-path",
            f"{stand_in.bin_dir}:/usr/bin:/bin",
            "--kubeconfig",
            stand_in.kubeconfig,
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [run] = report["runs"]
    assert run["status"] == "succeeded"
    assert run["approvals"] == []
    tools = [e for e in run["audit"] if e["kind"] == "tool"]
    outputs = {e["arguments"].get("command") or e["name"]: e["output"] for e in tools}
    assert "CrashLoopBackOff" in outputs["get pods -n shop"]
    assert outputs["delete pod web-1 -n shop"].startswith("Not run: this investigation is")
    assert outputs["restart"].startswith("Not run: this investigation is read-only")
    assert stand_in.invocations() == [["get", "pods", "-n", "shop"]]
    assert not marker.exists()
    [step] = run["steps"]
    assert step["result"]["summary"] == "web-1 crash loops; restart it"
    assert "web-1 crash loops" in report["stdout"]  # the stdout sink, captured


EVERY_SINK = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: triage}
spec:
  steps: [{name: look, type: cli, command: "echo looked"}]
  sinks: [jira, pager, silence, push, chain]
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: followup}
spec:
  steps: [{name: s, type: cli, command: "echo follow"}]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: jira}
spec:
  type: jira
  config: {project: OPS, endpoint: "https://jira.invalid", apiToken: "env://JIRA_TOKEN"}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: pager}
spec:
  type: pagerduty
  config: {routingKey: "env://PD_KEY", endpoint: "https://pagerduty.invalid"}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: silence}
spec:
  type: alertmanager
  config: {endpoint: "http://alertmanager.invalid:9093"}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: push}
spec:
  type: prometheus
  config: {pushgateway: "http://pushgateway.invalid:9091"}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: chain}
spec:
  type: workflow
  config: {workflowName: followup}
"""


def test_every_http_sink_renders_its_request_and_a_chained_run_is_only_noted(
    tmp_path: Path,
) -> None:
    # No Source: --workflow names the workflow, and a synthetic webhook Source takes the alert.
    folder = tmp_path / "resources"
    write(folder, "all.yaml", EVERY_SINK)
    result = replay(tmp_path, folder, "--workflow", "triage", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source"] == "replay"
    [run] = report["runs"]
    statuses = {d["sink_name"]: d["status"] for d in run["deliveries"]}
    assert statuses == dict.fromkeys(["jira", "pager", "silence", "push", "chain"], "delivered")
    sent = {(r["sink"], r["method"], r["path"]) for r in report["sinkRequests"]}
    assert ("jira", "POST", "/rest/api/2/issue") in sent
    assert ("pager", "POST", "/v2/enqueue") in sent
    assert ("silence", "POST", "/api/v2/alerts") in sent
    assert (
        "push",
        "PUT",
        "/metrics/job@base64/cHVuY2hpbmdmaXN0LXJlc3VsdHM=/workflow@base64/dHJpYWdl",
    ) in sent
    [page] = [r["body"] for r in report["sinkRequests"] if r["sink"] == "pager"]
    assert page["routing_key"] == "replay-placeholder-credential"  # never the real key
    assert page["payload"]["summary"] == "[CRITICAL] PodCrashLooping: PodCrashLooping summary"
    [pushed] = [r["body"] for r in report["sinkRequests"] if r["sink"] == "push"]
    assert "punchingfist_workflow_success 1.0" in pushed
    assert report["chainedRuns"] == [{"workflow": "followup", "parent_run_id": run["id"]}]
    assert len(report["runs"]) == 1  # the chained run did not start
