"""Running a child process from async code cheaply, on any event loop.

The child runs argv (never a shell) in its own session, so a timeout or a cancelled caller
kills its whole process group, grandchildren included. Only a head and a tail of each stream
are kept, however much the child prints (``capture``). How it is spawned and watched without
threads, cheaply on uvloop too, is ``child``'s part.

Given a ``StepSpawner``, the child is started by the spawner process instead, so that it is
not this process's child and cannot read its environment or memory (see
:mod:`punching_fist.spawner`); the pipes are still this process's and read the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from punching_fist.processes.capture import Captured, HeadTail
from punching_fist.processes.child import Child
from punching_fist.spawner.client import StepSpawner

__all__ = ["Captured", "Completed", "run"]


@dataclass(frozen=True, kw_only=True)
class Completed:
    """How a child ended and what it printed."""

    returncode: int
    """The exit status; negative for the signal that killed it (``-9`` after a timeout)."""
    timed_out: bool
    stdout: Captured
    """stdout, with stderr interleaved as printed when they were merged."""
    stderr: Captured | None
    """``None`` when stderr was merged into stdout."""
    duration_ms: float


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_seconds: float,
    cwd: str | None = None,
    stdin: bytes | None = None,
    merge_stderr: bool = False,
    keep_bytes: int = 128 * 1024,
    spawner: StepSpawner | None = None,
) -> Completed:
    """Run ``argv`` with exactly ``env``; wait for it and its output up to ``timeout_seconds``.

    ``argv[0]`` is looked up on ``env``'s ``PATH``. stdin is ``/dev/null`` unless ``stdin``
    bytes are given. Of each output stream the first and the last ``keep_bytes`` bytes are
    kept. The run ends when the child has exited and its output pipes are closed (a
    background grandchild holding them keeps it going); at the deadline the process group
    is killed and whatever it printed until then is returned with ``timed_out``.

    Raises ``OSError`` (``FileNotFoundError``, ``PermissionError``...) when the child cannot
    be started. Cancelling the caller kills the process group and reaps the child first.
    With ``spawner``, the spawner process starts and reaps the child.
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    child = Child(loop)
    try:
        stdout = HeadTail(keep_bytes)
        stderr = None if merge_stderr else HeadTail(keep_bytes)
        await child.start(
            argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, spawner=spawner
        )
        timed_out = False
        try:
            async with asyncio.timeout(timeout_seconds):
                await child.finished
        except TimeoutError:
            timed_out = True
            child.kill()
            await child.exited
            child.drain()
        returncode = child.exited.result()
    except BaseException:
        if child.started:
            child.kill()
            # Reaped before the caller goes on: nothing of this run outlives it.
            with contextlib.suppress(Exception):
                await asyncio.shield(child.exited)
        raise
    finally:
        child.close()
    return Completed(
        returncode=returncode,
        timed_out=timed_out,
        stdout=stdout.captured(),
        stderr=None if stderr is None else stderr.captured(),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
