"""The ``cli`` step: a shell command whose template values arrive as data, never as syntax."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from punching_fist.engine.state import StepOutcome
from punching_fist.store.runs import StepStatus
from punching_fist.templating import render_shell_script

OUTPUT_LIMIT_BYTES = 256 * 1024


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int | None
    duration_ms: float
    timed_out: bool

    def as_result(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "duration_ms": round(self.duration_ms, 1),
            "timed_out": self.timed_out,
        }


def _cap(data: bytes) -> str:
    if len(data) <= OUTPUT_LIMIT_BYTES:
        return data.decode("utf-8", errors="replace")
    half = OUTPUT_LIMIT_BYTES // 2
    cut = len(data) - 2 * half
    return (
        data[:half].decode("utf-8", errors="replace")
        + f"\n... [{cut} bytes cut] ...\n"
        + data[-half:].decode("utf-8", errors="replace")
    )


async def run_script(
    script: str, *, env: Mapping[str, str], timeout_seconds: float, shell: str = "bash"
) -> CommandResult:
    """Run ``script`` with ``bash -c`` in its own process group; kill the group on timeout."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        shell,
        "-c",
        script,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        stdout, stderr = await process.communicate()
    except asyncio.CancelledError:
        _kill_group(process.pid)
        # Reap it here: a transport left for the garbage collector may outlive its loop.
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    return CommandResult(
        stdout=_cap(stdout),
        stderr=_cap(stderr),
        exit_code=process.returncode,
        duration_ms=(time.perf_counter() - started) * 1000,
        timed_out=timed_out,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def run_cli_step(
    command: str,
    context: Mapping[str, Any],
    *,
    base_env: Mapping[str, str],
    timeout_seconds: float,
) -> StepOutcome:
    """Render ``command`` injection-proof, run it, and report stdout/stderr/exit code."""
    rendered = render_shell_script(command, context)
    env = {**base_env, **rendered.env}
    result = await run_script(rendered.script, env=env, timeout_seconds=timeout_seconds)
    if result.timed_out:
        return StepOutcome(
            status=StepStatus.FAILED,
            result=result.as_result(),
            error=f"command timed out after {timeout_seconds:g}s",
        )
    if result.exit_code != 0:
        return StepOutcome(
            status=StepStatus.FAILED,
            result=result.as_result(),
            error=f"command exited with code {result.exit_code}",
        )
    return StepOutcome(status=StepStatus.SUCCEEDED, result=result.as_result())
