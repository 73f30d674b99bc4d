"""Custom script tools: argv without a shell, a controlled environment, redaction, gating."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from punching_fist.agent.tools.process import ToolUnavailable
from punching_fist.agent.tools.script import ScriptArguments, ScriptTool
from punching_fist.errors import CommandRejected, ConfigurationError
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.support.tools_helpers import context, ends, read_pid, write_executable

PRINT_ARGS = 'for word in "$@"; do echo "[$word]"; done'


def script(command: str | Path, **kwargs: Any) -> ScriptTool:
    options: dict[str, Any] = {"secrets": SecretResolver(), **kwargs}
    return ScriptTool(name="debug-pod", command=str(command), **options)


def run_line(line: str) -> ScriptArguments:
    return ScriptArguments(arguments=line)


async def test_words_reach_the_script_as_argv_never_through_a_shell(tmp_path: Path) -> None:
    exe = write_executable(tmp_path, "debug-pod.sh", PRINT_ARGS)
    marker = tmp_path / "pwned"
    line = f"web-0 'my shop' ; touch {marker} $(touch {marker}) `id` | cat"
    output = await script(exe).call(run_line(line), context())
    assert output.text.splitlines() == [
        "[web-0]", "[my shop]", "[;]", "[touch]", f"[{marker}]",
        "[$(touch]", f"[{marker})]", "[`id`]", "[|]", "[cat]",
    ]  # fmt: skip
    assert not marker.exists()
    assert output.exit_code == 0


async def test_fixed_words_of_the_command_come_first(tmp_path: Path) -> None:
    exe = write_executable(tmp_path, "debug-pod.sh", PRINT_ARGS)
    output = await script(f"{exe} --brief").call(run_line("web-0"), context())
    assert output.text.splitlines() == ["[--brief]", "[web-0]"]


async def test_environment_is_the_workflows_plus_path_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_DB_PASSWORD", "hunter2-operator")
    exe = write_executable(tmp_path, "env.sh", "env")
    tool = script(exe, environment={"PROMETHEUS_URL": "http://prom:9090"})
    output = await tool.call(run_line(""), context())
    names = {line.split("=", 1)[0] for line in output.text.splitlines()}
    assert names - {"PWD", "SHLVL", "_"} == {"PATH", "PROMETHEUS_URL"}
    assert "PROMETHEUS_URL=http://prom:9090" in output.text.splitlines()
    assert "hunter2-operator" not in output.text


async def test_secret_from_a_reference_is_given_to_the_script_but_redacted(tmp_path: Path) -> None:
    token = "tok-9f8e7d6c5b4a"
    secrets = SecretResolver({"env": EnvResolver({"PF_PROM_TOKEN": token})})
    exe = write_executable(tmp_path, "leaky.sh", 'echo "using token $PROMETHEUS_TOKEN"; echo ok')
    tool = script(exe, secrets=secrets, environment={"PROMETHEUS_TOKEN": "env://PF_PROM_TOKEN"})
    output = await tool.call(run_line(""), context())
    assert output.text == "using token [redacted]\nok"
    assert token not in repr(output)


async def test_secrets_resolved_elsewhere_are_redacted_too(tmp_path: Path) -> None:
    """A value another part of the operator resolved (an LLM key) never shows either."""
    key = "sk-live-0123456789abcdef"
    secrets = SecretResolver({"env": EnvResolver({"LLM_KEY": key})})
    await secrets.resolve("env://LLM_KEY")
    leaked = tmp_path / "leaked.txt"
    leaked.write_text(f"config: api_key={key}\n")
    exe = write_executable(tmp_path, "cat.sh", f"cat {leaked}")
    output = await script(exe, secrets=secrets).call(run_line(""), context())
    assert output.text == "config: api_key=[redacted]"


async def test_step_kubeconfig_reaches_the_script(tmp_path: Path) -> None:
    (tmp_path / "investigator.kubeconfig").write_text("{}")
    exe = write_executable(tmp_path, "kube.sh", 'echo "$KUBECONFIG"')
    tool = script(exe, credentials=KubeCredentials(directory=tmp_path))
    output = await tool.call(run_line(""), context(service_account="investigator"))
    assert output.text == str(tmp_path / "investigator.kubeconfig")
    # Without credentials for the step the script still runs, just without a kubeconfig.
    bare = await tool.call(run_line(""), context())
    assert bare.exit_code == 0
    assert bare.text == "(no output)"


async def test_failure_timeout_and_size_limits(tmp_path: Path) -> None:
    failing = write_executable(tmp_path, "fail.sh", "echo 'pod not found' >&2; exit 4")
    output = await script(failing).call(run_line("web-9"), context())
    assert output.text == "pod not found\n[exit code 4]"
    assert output.exit_code == 4

    pidfile = tmp_path / "child.pid"
    hanging = write_executable(tmp_path, "hang.sh", f"sleep 60 & echo $! > {pidfile}; wait")
    started = time.monotonic()
    output = await script(hanging).call(run_line(""), context(timeout_seconds=0.5))
    assert time.monotonic() - started < 10
    assert output.exit_code is None
    assert "killed after the 0.5s time limit" in output.text
    assert await ends(read_pid(pidfile))

    chatty = write_executable(tmp_path, "chatty.sh", "seq 1 100000")
    output = await script(chatty).call(run_line(""), context(output_limit=500))
    assert len(output.text) <= 500
    assert output.truncated
    assert output.text.startswith("1\n2\n")
    assert output.text.endswith("100000")


def test_check_allows_unless_the_workflow_gates_scripts(tmp_path: Path) -> None:
    tool = script(tmp_path / "x.sh")
    assert tool.check(run_line("web-0"), context()).verdict == "allow"
    for gate in ("script", "debug-pod"):
        check = tool.check(run_line("web-0"), context(require_approval_for=(gate,)))
        assert (check.verdict, check.risk) == ("approval", "medium")
    assert (
        tool.check(run_line("web-0"), context(require_approval_for=("delete",))).verdict == "allow"
    )
    unbalanced = tool.check(run_line("'web-0"), context())
    assert unbalanced.verdict == "refuse"
    assert "balance the quotes" in unbalanced.reason


async def test_gated_script_runs_only_when_approved(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    exe = write_executable(tmp_path, "restart.sh", f"touch {marker}; echo restarted")
    tool = script(exe)
    gated = context(require_approval_for=("script",))
    with pytest.raises(CommandRejected, match="approval"):
        await tool.call(run_line(""), gated)
    assert not marker.exists()
    output = await tool.call(run_line(""), context(require_approval_for=("script",), approved=True))
    assert output.text == "restarted"
    assert marker.exists()


async def test_missing_executable_and_bad_command() -> None:
    with pytest.raises(ToolUnavailable, match="no-such-script"):
        await script("/nonexistent/no-such-script.sh").call(run_line(""), context())
    with pytest.raises(ConfigurationError, match="debug-pod"):
        script("'unbalanced")
    with pytest.raises(ConfigurationError, match="empty"):
        script("   ")


async def test_cancelled_call_kills_the_script(tmp_path: Path) -> None:
    """An investigation stopped mid-call (timeout, shutdown) leaves no process behind."""
    pidfile = tmp_path / "child.pid"
    exe = write_executable(tmp_path, "hang.sh", f"sleep 60 & echo $! > {pidfile}; wait")
    task = asyncio.create_task(script(exe).call(run_line(""), context(timeout_seconds=60)))
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await ends(read_pid(pidfile))
