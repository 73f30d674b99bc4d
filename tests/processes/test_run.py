"""Running a child: exit status, bounded output, stdin, environment, deadline, cancellation.

Each test runs on both event loops and both ways of watching the exit (pidfd, and the
``create_subprocess_exec`` fallback).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from punching_fist import processes
from tests.support.tools_helpers import ends, read_pid, write_executable

pytestmark = pytest.mark.usefixtures("spawn_path")

ENV = {"PATH": "/usr/bin:/bin"}


async def sh(script: str, *, timeout_seconds: float = 10.0, **kwargs: Any) -> processes.Completed:
    return await processes.run(
        ["sh", "-c", script], env=ENV, timeout_seconds=timeout_seconds, **kwargs
    )


async def wait_for_file(path: Path) -> None:
    for _ in range(500):
        if path.exists() and path.read_text().endswith("\n"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def gone(pid: int) -> bool:
    """Exited and reaped: no /proc entry at all (a zombie still has one)."""
    return not Path(f"/proc/{pid}").exists()


async def test_exit_status_and_separate_streams() -> None:
    done = await sh("echo out; echo err >&2; exit 3")
    assert done.returncode == 3
    assert not done.timed_out
    assert done.stdout.decode() == "out\n"
    assert done.stderr is not None
    assert done.stderr.decode() == "err\n"


async def test_merged_streams_interleave_as_printed() -> None:
    done = await sh("echo one; echo two >&2; echo three", merge_stderr=True)
    assert done.stdout.decode() == "one\ntwo\nthree\n"
    assert done.stderr is None


async def test_a_signal_death_is_a_negative_status() -> None:
    done = await sh("kill -TERM $$")
    assert done.returncode == -15
    assert not done.timed_out


async def test_only_head_and_tail_are_kept_of_a_flood() -> None:
    script = "printf 'HEAD'; head -c 1000000 /dev/zero | tr '\\0' x; printf 'TAIL'"
    done = await sh(script, keep_bytes=1000)
    assert done.stdout.total == 1_000_008
    assert done.stdout.head == b"HEAD" + b"x" * 996
    assert done.stdout.tail == b"x" * 996 + b"TAIL"
    assert done.stdout.cut == 1_000_008 - 2000
    text = done.stdout.decode("\n<{cut} cut>\n")
    assert text == "HEAD" + "x" * 996 + "\n<998008 cut>\n" + "x" * 996 + "TAIL"


async def test_output_within_the_budget_is_whole_and_decoded_once() -> None:
    # 'é' is two bytes; with keep_bytes=3 it straddles head and tail.
    done = await sh("printf 'abé'", keep_bytes=3)
    assert done.stdout.cut == 0
    assert done.stdout.decode() == "abé"


async def test_stdin_bytes_reach_the_child_even_beyond_a_pipe_buffer() -> None:
    data = os.urandom(1 << 20)
    done = await sh("sha256sum", stdin=data)
    assert done.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest()


async def test_a_child_that_ignores_its_stdin_does_not_hang_the_writer() -> None:
    done = await sh("exit 0", stdin=b"x" * (4 << 20))
    assert done.returncode == 0


async def test_stdin_is_empty_unless_given() -> None:
    done = await sh("wc -c")
    assert done.stdout.decode().strip() == "0"


async def test_environment_is_exactly_the_given_one_and_path_comes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_SECRET", "hunter2")
    write_executable(tmp_path, "only-here", "env")
    done = await processes.run(
        ["only-here"], env={"PATH": f"{tmp_path}:/usr/bin:/bin", "A": "1"}, timeout_seconds=10
    )
    names = {line.split("=", 1)[0] for line in done.stdout.decode().splitlines()}
    assert names - {"PWD", "SHLVL", "_"} == {"PATH", "A"}  # what sh itself adds


async def test_cwd(tmp_path: Path) -> None:
    done = await sh("pwd", cwd=str(tmp_path))
    assert done.stdout.decode().strip() == str(tmp_path)


async def test_a_missing_executable_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await processes.run(["no-such-tool"], env=ENV, timeout_seconds=10)
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        await processes.run([str(tmp_path / "not-executable")], env=ENV, timeout_seconds=10)


async def test_the_deadline_kills_the_whole_group_and_keeps_what_was_printed(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    script = f"echo started; sleep 300 & echo $$ $! > {pids}; sleep 300"
    started = time.monotonic()
    done = await sh(script, timeout_seconds=0.5)
    assert time.monotonic() - started < 5
    assert done.timed_out
    assert done.returncode == -9
    assert done.stdout.decode() == "started\n"
    child, grandchild = map(int, pids.read_text().split())
    assert gone(child)
    assert await ends(grandchild, within=1.0)  # the grandchild is reaped by init, not us


async def test_a_background_grandchild_holding_the_output_runs_until_the_deadline(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    done = await sh(f"sleep 300 & echo $! > {pid_file}; echo bye", timeout_seconds=0.5)
    assert done.timed_out
    assert done.stdout.decode() == "bye\n"
    grandchild = read_pid(pid_file)
    assert await ends(grandchild, within=1.0)


async def test_cancelling_kills_the_group_and_reaps_the_child(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(sh(f"sleep 300 & echo $$ $! > {pids}; sleep 300"))
    await wait_for_file(pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child, grandchild = map(int, pids.read_text().split())
    assert gone(child)
    assert await ends(grandchild, within=1.0)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_nothing_leaks_over_many_runs(tmp_path: Path) -> None:
    # Warm up whatever the loop opens once (its self-pipe, the child watcher).
    await sh("true")
    before = open_fds()
    pids = tmp_path / "pids"

    async def cancelled(n: int) -> None:
        started = tmp_path / f"started-{n}"
        task = asyncio.create_task(sh(f"echo $$ >> {pids}; touch {started}; sleep 300"))
        async with asyncio.timeout(120):  # 120 shells start at once: generous on a busy box
            while not started.exists():  # cancel a child that is surely running
                await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    runs = [sh(f"echo $$ >> {pids}; echo out; echo err >&2", stdin=b"in") for _ in range(100)]
    runs += [sh(f"echo $$ >> {pids}; sleep 300", timeout_seconds=0.2) for _ in range(10)]
    await asyncio.gather(*runs, *(cancelled(n) for n in range(10)))
    for _ in range(20):
        with pytest.raises(FileNotFoundError):
            await processes.run(["no-such-tool"], env=ENV, timeout_seconds=10)
    assert open_fds() == before
    children = [int(line) for line in pids.read_text().split()]
    assert len(children) == 120
    assert all(gone(pid) for pid in children)
