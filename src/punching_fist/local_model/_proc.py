"""Running install tools (pip, cmake) as child processes, reading their output line by line."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from punching_fist.local_model.errors import InstallFailed

TAIL_LINES = 30
_READ_SIZE = 64 * 1024


async def iter_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines of ``stream`` until EOF, decoded leniently.

    Reads chunks rather than ``readline()``: a line longer than the reader's limit would
    make ``readline()`` raise, the reader stop, and the child block on a full pipe.
    """
    pending = b""
    while chunk := await stream.read(_READ_SIZE):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.decode(errors="replace").rstrip()
        if len(pending) > _READ_SIZE:
            yield pending.decode(errors="replace")
            pending = b""
    if pending:
        yield pending.decode(errors="replace").rstrip()


async def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run ``argv``; raise :class:`InstallFailed` with the output's tail if it fails.

    stderr is merged into stdout so one reader drains both and the child never blocks
    on a full pipe.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        raise InstallFailed(f"cannot run {argv[0]}: {exc}") from exc
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        async for line in iter_lines(proc.stdout):
            tail.append(line)
            if on_line is not None:
                on_line(line)
        returncode = await proc.wait()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if returncode != 0:
        shown = " ".join(argv[:4]) + (" ..." if len(argv) > 4 else "")
        raise InstallFailed(f"{shown} exited with {returncode}:\n" + "\n".join(tail))
