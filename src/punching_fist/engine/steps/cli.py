"""The ``cli`` step: a shell command whose template values arrive as data, never as syntax.

A failed command is classified for the step's ``retryPolicy`` (``failure``): a timeout, exit
code 75 (``EX_TEMPFAIL``, a script's way to ask for a retry) or what a dropped connection
says on stderr (kubectl's "Unable to connect to the server", "connection refused", curl's
"Failed to connect to" an LLM or any service) is temporary; any other failure is permanent,
since running the same command again would fail the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from punching_fist import processes
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.errors import PermanentFailure, RuntimeFailure, TemporaryFailure
from punching_fist.spawner.client import StepSpawner
from punching_fist.templating import render_shell_script

OUTPUT_LIMIT_BYTES = 256 * 1024
_CUT = "\n... [{cut} bytes cut] ...\n"
EX_TEMPFAIL = 75
_TRANSIENT = re.compile(
    "|".join(
        (
            r"connection refused",
            r"connection reset by peer",
            r"connection timed out",
            r"unable to connect to the server",  # kubectl
            r"the connection to the server \S+ was refused",  # kubectl
            r"i/o timeout",
            r"tls handshake timeout",
            r"context deadline exceeded",
            r"temporary failure in name resolution",
            r"the server is currently unable to handle the request",
            r"service unavailable",
            r"too many requests",
            r"failed to connect to",  # curl
            r"operation timed out",  # curl
        )
    ),
    re.IGNORECASE,
)
_STDERR_SCANNED = 4096
"""Only the end of stderr is searched: where a failing command says why."""


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


async def run_script(
    script: str,
    *,
    env: Mapping[str, str],
    timeout_seconds: float,
    shell: str = "bash",
    spawner: StepSpawner | None = None,
) -> CommandResult:
    """Run ``script`` with ``bash -c`` in its own process group; kill the group on timeout.

    Each stream keeps its first and last ``OUTPUT_LIMIT_BYTES / 2`` bytes. After a timeout
    ``exit_code`` is the kill's ``-9``. ``spawner`` starts it outside the server.
    """
    done = await processes.run(
        [shell, "-c", script],
        env=env,
        timeout_seconds=timeout_seconds,
        keep_bytes=OUTPUT_LIMIT_BYTES // 2,
        spawner=spawner,
    )
    assert done.stderr is not None  # not merged
    return CommandResult(
        stdout=done.stdout.decode(_CUT),
        stderr=done.stderr.decode(_CUT),
        exit_code=done.returncode,
        duration_ms=done.duration_ms,
        timed_out=done.timed_out,
    )


async def run_cli_step(
    command: str,
    context: Mapping[str, Any],
    *,
    base_env: Mapping[str, str],
    timeout_seconds: float,
    spawner: StepSpawner | None = None,
) -> StepOutcome:
    """Render ``command`` injection-proof, run it, and report stdout/stderr/exit code."""
    rendered = render_shell_script(command, context)
    env = {**base_env, **rendered.env}
    result = await run_script(
        rendered.script, env=env, timeout_seconds=timeout_seconds, spawner=spawner
    )
    if result.timed_out:
        error = f"command timed out after {timeout_seconds:g}s"
    elif result.exit_code != 0:
        error = f"command exited with code {result.exit_code}"
    else:
        return StepOutcome(status=StepStatus.SUCCEEDED, result=result.as_result())
    return StepOutcome(
        status=StepStatus.FAILED,
        result=result.as_result(),
        error=error,
        failure=classify(result, error),
    )


def classify(result: CommandResult, error: str) -> RuntimeFailure:
    """Whether running the failed command again may help (see the module docstring)."""
    temporary = (
        result.timed_out
        or result.exit_code == EX_TEMPFAIL
        or _TRANSIENT.search(result.stderr[-_STDERR_SCANNED:]) is not None
    )
    # No delay of its own: the step's retryPolicy says how long to wait.
    return TemporaryFailure(error, delay=0.0) if temporary else PermanentFailure(error)
