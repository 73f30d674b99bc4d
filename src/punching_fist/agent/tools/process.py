"""Running an executable for a tool: argv only, a fixed environment, a deadline, bounded output.

The kubectl and script tools share this. Three things matter more here than in a ``cli``
step, because the arguments come from an LLM:

* no shell ever sees the words (``create_subprocess_exec``), so quoting cannot become syntax;
* the child's environment is exactly what the tool hands in, so the operator's own
  credentials and editor/diff hooks (``KUBE_EDITOR``, ``KUBECTL_EXTERNAL_DIFF``) never leak;
* memory stays bounded however much the command prints (``cluster-info dump`` can print
  gigabytes): only a head and a tail are kept while reading.

The child runs in its own session, so a timeout or a cancelled investigation kills the whole
process group, grandchildren included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from punching_fist.errors import PermanentFailure

_CHUNK = 64 * 1024
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


class _HeadTail:
    """Keeps the first and last ``keep`` bytes of a stream and counts the rest."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._keep - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self._keep:
                del self._tail[: len(self._tail) - self._keep]

    def text(self) -> str:
        cut = self.total - len(self._head) - len(self._tail)
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        if cut:
            return f"{head}\n[... {cut} bytes cut from the middle ...]\n{tail}"
        return head + tail


async def run_argv(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_seconds: float,
    keep_bytes: int = 256 * 1024,
    cwd: str | None = None,
) -> ProcessResult:
    """Run ``argv`` with exactly ``env``; kill its process group after ``timeout_seconds``.

    Raises ``ToolUnavailable`` if the executable cannot be started. Cancelling the caller
    kills the child too, so an abandoned investigation leaves nothing running.
    """
    started = time.perf_counter()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    buffer = _HeadTail(keep_bytes)
    timed_out = False
    try:
        async with asyncio.timeout(timeout_seconds):
            await _drain(process, buffer)
            await process.wait()
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        await process.wait()
    except BaseException:
        _kill_group(process.pid)
        # Reap it here: a transport left for the garbage collector may outlive its loop.
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    return ProcessResult(
        output=buffer.text(),
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        duration_ms=(time.perf_counter() - started) * 1000,
        bytes_total=buffer.total,
    )


async def _drain(process: asyncio.subprocess.Process, buffer: _HeadTail) -> None:
    stream = process.stdout
    assert stream is not None  # PIPE was asked for
    while chunk := await stream.read(_CHUNK):
        buffer.add(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def describe_ending(result: ProcessResult, timeout_seconds: float) -> str:
    """A line for the model when the command did not simply succeed; empty when it did."""
    if result.timed_out:
        return f"[killed after the {timeout_seconds:g}s time limit; output so far is above]"
    if result.exit_code:
        return f"[exit code {result.exit_code}]"
    return ""
