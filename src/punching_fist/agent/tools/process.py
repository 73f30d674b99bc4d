"""Running an executable for a tool: argv only, a fixed environment, a deadline, bounded output.

The kubectl and script tools share this. Three things matter more here than in a ``cli``
step, because the arguments come from an LLM:

* no shell ever sees the words (argv is executed directly), so quoting cannot become syntax;
* the child's environment is exactly what the tool hands in, so the operator's own
  credentials and editor/diff hooks (``KUBE_EDITOR``, ``KUBECTL_EXTERNAL_DIFF``) never leak;
* memory stays bounded however much the command prints (``cluster-info dump`` can print
  gigabytes): only a head and a tail are kept while reading.

The child runs in its own session, so a timeout or a cancelled investigation kills the whole
process group, grandchildren included (see :mod:`punching_fist.processes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from punching_fist import processes
from punching_fist.errors import PermanentFailure
from punching_fist.spawner.client import StepSpawner

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class ToolUnavailable(PermanentFailure):
    """A tool's executable cannot be started (missing, not executable); retrying won't help."""


@dataclass(frozen=True, kw_only=True)
class ProcessResult:
    """What a finished (or killed) child printed and how it ended."""

    output: str
    """stdout and stderr interleaved as printed; the middle is cut beyond the byte budget."""
    exit_code: int | None
    """``None`` when the child was killed at the deadline."""
    timed_out: bool
    duration_ms: float
    bytes_total: int
    """How many bytes the child printed, including any that were cut."""


async def run_argv(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_seconds: float,
    keep_bytes: int = 256 * 1024,
    cwd: str | None = None,
    spawner: StepSpawner | None = None,
) -> ProcessResult:
    """Run ``argv`` with exactly ``env``; kill its process group after ``timeout_seconds``.

    Raises ``ToolUnavailable`` if the executable cannot be started. Cancelling the caller
    kills the child too, so an abandoned investigation leaves nothing running. ``spawner``
    starts it outside the server (see ``punching_fist.spawner``).
    """
    try:
        done = await processes.run(
            argv,
            env=env,
            timeout_seconds=timeout_seconds,
            cwd=cwd,
            merge_stderr=True,
            keep_bytes=keep_bytes,
            spawner=spawner,
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    return ProcessResult(
        output=done.stdout.decode("\n[... {cut} bytes cut from the middle ...]\n"),
        exit_code=None if done.timed_out else done.returncode,
        timed_out=done.timed_out,
        duration_ms=done.duration_ms,
        bytes_total=done.stdout.total,
    )


def describe_ending(result: ProcessResult, timeout_seconds: float) -> str:
    """A line for the model when the command did not simply succeed; empty when it did."""
    if result.timed_out:
        return f"[killed after the {timeout_seconds:g}s time limit; output so far is above]"
    if result.exit_code:
        return f"[exit code {result.exit_code}]"
    return ""
