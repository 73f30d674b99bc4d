"""Secrets stay with the server: steps cannot read them, and what the server knows is redacted.

Both tests run ``punching-fist serve`` as a real process. The first gives it a secret it never
resolves (so redaction cannot be what hides it) and a ``cli`` step that goes looking: its
parent's environment, then every process on the machine, the server's environment, command
line, memory map and memory. The second has the server resolve a webhook token, then sees
the same token come back in an alert, in step output, in a step's error, in outputs and in
log lines; the database, the logs and the API must all say ``[redacted]`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess
from tests.support.server import resources_from_yaml, running_server

# Walks /proc for the server, and reads what a curious step would read of it.
SNOOP = r"""
import os, re, sys
secret_name = sys.argv[1].encode()
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"punching_fist.cli" not in cmdline or b"serve" not in cmdline:
        continue
    print("server", pid, cmdline.replace(b"\0", b" ").decode())
    try:
        environ = open(f"/proc/{pid}/environ", "rb").read()
        print("environ", environ.replace(b"\0", b"\n").decode())
    except OSError as exc:
        print("environ refused:", exc.strerror)
    regions = []
    try:
        for line in open(f"/proc/{pid}/maps"):
            span, perms = line.split()[:2]
            if perms.startswith("rw"):
                regions.append([int(x, 16) for x in span.split("-")])
    except OSError as exc:
        print("maps refused:", exc.strerror)
        regions = [[0x400000, 0x401000]]
    try:
        with open(f"/proc/{pid}/mem", "rb") as mem:
            for start, end in regions:
                try:
                    mem.seek(start)
                    chunk = mem.read(min(end - start, 64 << 20))
                except OSError:
                    continue
                for found in re.finditer(re.escape(secret_name) + rb"=[^\0]{0,80}", chunk):
                    print("mem", found.group().decode(errors="replace"))
    except OSError as exc:
        print("mem refused:", exc.strerror)
"""

ISOLATION = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: hook}}
spec: {{type: webhook, config: {{path: /hook}}, triggerWorkflow: snoop}}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: snoop}}
spec:
  steps:
    - name: snoop
      type: cli
      command: |
        echo "parent $PPID"
        tr '\\0' '\\n' < /proc/$PPID/environ || echo "parent environ refused"
        {python} {snoop} PF_TEST_CLOUD_KEY
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "resources").mkdir()
    return tmp_path


@pytest.fixture
def server_env(workdir: Path) -> dict[str, str]:
    return {"HOME": str(workdir), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


@contextlib.contextmanager
def serve(workdir: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    """``punching-fist serve`` for ``workdir/resources``, with ``env`` added to ours."""
    server = ServerProcess(
        resources=workdir / "resources",
        database_url=f"sqlite:///{workdir / 'pf.db'}",
        workdir=workdir,
        env=env,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def finished_run(server: ServerProcess, run_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for _ in range(300):
            detail: dict[str, Any] = (await client.get(f"/api/v1/runs/{run_id}")).json()
            if detail["status"] in ("succeeded", "failed"):
                return detail
            await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_plain_child_reads_its_parents_environment() -> None:
    """The control: the step's first read, run as a plain child, finds its parent's secret."""
    parent = (
        "import subprocess, sys; subprocess.run(['sh', '-c',"
        " \"tr '\\\\0' '\\\\n' < /proc/$PPID/environ\"])"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent],
        env={"PATH": "/usr/bin:/bin", "PF_TEST_CLOUD_KEY": "control-key-42"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "PF_TEST_CLOUD_KEY=control-key-42" in done.stdout


@pytest.mark.integration
async def test_a_step_cannot_read_the_servers_environment_or_memory(
    workdir: Path, server_env: dict[str, str]
) -> None:
    secret = f"cloud-key-{uuid.uuid4().hex}"
    snoop = workdir / "snoop.py"
    snoop.write_text(SNOOP)
    (workdir / "resources" / "snoop.yaml").write_text(
        ISOLATION.format(python=sys.executable, snoop=snoop)
    )
    with serve(workdir, {**server_env, "PF_TEST_CLOUD_KEY": secret}) as server:
        assert server.process is not None
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            posted = await client.post("/hook", json=notification(alert()))
        assert posted.status_code == 202, posted.text
        detail = await finished_run(server, posted.json()["alerts"][0]["runId"])
        logs, sink = server.stderr(), server.stdout()
    result = detail["steps"][0]["result"]
    output = result["stdout"] + result["stderr"]
    # It found the server, and was refused whatever could hold the secret.
    assert f"server {pid} " in output, output
    assert "environ refused: Permission denied" in output, output
    assert "maps refused: Permission denied" in output, output
    assert "mem refused: Permission denied" in output, output
    # Its parent is the spawner, whose environment never held the secret either.
    assert int(output.split("parent ", 1)[1].split()[0]) != pid
    for where in (output, json.dumps(detail), logs, sink):
        assert secret not in where


REDACTION = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: hook}}
spec:
  type: webhook
  config:
    path: /hook
    authentication: {{type: bearer, secretRef: "env://PF_TEST_HOOK_TOKEN"}}
  triggerWorkflow: echo
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: echo}}
spec:
  runtime:
    environment: {{NOTE: "pasted {token}"}}  # the author pasted the token here
  steps:
    - name: print
      type: cli
      command: |
        echo "stdout has $NOTE"
        echo "stderr has $NOTE" >&2
    - name: compare
      type: conditional
      condition: "{{{{ lt .env.NOTE 1 }}}}"
      command: "true"
  outputs:
    - {{name: note, value: "{{{{ .env.NOTE }}}}"}}
    - {{name: described, value: "{{{{ .source.data.alert.annotations.description }}}}"}}
    - {{name: broken, value: "{{{{ lt .env.NOTE 2 }}}}"}}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: out}}
spec: {{type: stdout, config: {{format: json}}}}
"""


@pytest.mark.integration
async def test_known_secrets_are_redacted_from_output_logs_database_and_api(
    workdir: Path, server_env: dict[str, str]
) -> None:
    token = f"hook-token-{uuid.uuid4().hex}"
    (workdir / "resources" / "echo.yaml").write_text(REDACTION.format(token=token))
    # The sender echoes its own token in the alert (a misconfigured template, say).
    payload = notification(alert(annotations={"description": f"token {token}"}))
    with serve(workdir, {**server_env, "PF_TEST_HOOK_TOKEN": token}) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            posted = await client.post(
                "/hook", json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            assert posted.status_code == 202, posted.text
            run_id = posted.json()["alerts"][0]["runId"]
            detail = await finished_run(server, run_id)
            api = [
                (await client.get(path)).text
                for path in ("/api/v1/alerts", "/api/v1/runs", f"/api/v1/runs/{run_id}")
            ]
        logs, sink = server.stderr(), server.stdout()

    steps = {step["name"]: step for step in detail["steps"]}
    # Step output: the step ran with the value, and it came back redacted.
    assert steps["print"]["result"]["stdout"] == "stdout has pasted [redacted]\n"
    assert steps["print"]["result"]["stderr"] == "stderr has pasted [redacted]\n"
    assert "'pasted [redacted]'" in steps["compare"]["error"]
    assert detail["outputs"]["note"] == "pasted [redacted]"
    # The alert's own copy was taken out at intake, before anything stored it.
    assert detail["outputs"]["described"] == "token [redacted]"
    # Logs: the failed step and the output that could not be rendered both quote the value.
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    unrendered = next(line for line in lines if line["event"] == "output could not be rendered")
    assert "'pasted [redacted]'" in unrendered["error"]
    failed = next(line for line in lines if line.get("step") == "compare")
    assert "'pasted [redacted]'" in failed["error"]
    # The database, read directly: alerts, steps, runs.
    database = sqlite3.connect(workdir / "pf.db")
    try:
        for table in ("alerts", "workflow_runs", "step_results"):
            rows = database.execute(f"SELECT * FROM {table}").fetchall()
            assert rows
            assert token not in repr(rows), table
    finally:
        database.close()
    for where, text in [("logs", logs), ("sink", sink), *(("api", body) for body in api)]:
        assert token not in text, where
    assert all("[redacted]" in body for body in api)
    assert os.environ.get("PF_TEST_HOOK_TOKEN") is None  # only the server had it


API_ONLY = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: hook}
spec: {type: webhook, config: {path: /hook}, triggerWorkflow: noop}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: noop}
spec:
  steps:
    - {name: echo, type: cli, command: "echo {{ .source.data.alert.annotations.description }}"}
"""


async def test_the_api_redacts_what_was_stored_before_the_secret_was_known(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Rows written before a value was resolved still hold it; the API's answer does not."""
    value = f"late-secret-{uuid.uuid4().hex}"
    secrets = SecretResolver({"env": EnvResolver({"PF_TEST_LATE": value})})
    payload = notification(alert(annotations={"description": value}))
    async with running_server(resources_from_yaml(API_ONLY), sqlite_url, secrets=secrets) as srv:
        posted = await srv.post_alert("/hook", payload)
        run_id = posted.json()["alerts"][0]["runId"]
        await srv.settle()
        before = (await srv.client.get(f"/api/v1/runs/{run_id}")).text
        assert value in before  # not a secret yet, as far as the server knows
        await secrets.resolve("env://PF_TEST_LATE")
        answers = [
            await srv.client.get(path) for path in ("/api/v1/alerts", f"/api/v1/runs/{run_id}")
        ]
    for answer in answers:
        assert answer.status_code == 200
        assert value not in answer.text
        assert "[redacted]" in answer.text
        assert int(answer.headers["content-length"]) == len(answer.content)
    database = sqlite3.connect(tmp_path / "pf.db")
    try:
        stored = database.execute("SELECT labels, annotations FROM alerts").fetchall()
    finally:
        database.close()
    assert value in repr(stored)  # the edge did it, not the store
