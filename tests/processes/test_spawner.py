"""Children started by the spawner process behave as the server's own did, minus the access.

The same contract as ``test_run.py`` (status, streams, stdin, deadline, cancellation, a
missing executable), then what the spawner adds: the child's parent is the spawner, which
holds none of the server's environment; the child has no capabilities and cannot gain any;
a dead spawner is replaced; a dead server's steps die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from punching_fist import processes
from punching_fist.spawner.client import StepSpawner
from tests.support.tools_helpers import process_alive, read_pid

ENV = {"PATH": "/usr/bin:/bin"}
DEADLINE = 30.0
"""For what takes milliseconds: generous, so that a loaded machine never fails a test."""
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def spawner() -> AsyncIterator[StepSpawner]:
    started = StepSpawner({**os.environ, "PF_TEST_SERVER_SECRET": "s3cr3t-of-the-server"})
    yield started
    await started.stop()


async def sh(
    spawner: StepSpawner,
    script: str,
    *,
    timeout_seconds: float = 10.0,
    stdin: bytes | None = None,
    merge_stderr: bool = False,
) -> processes.Completed:
    return await processes.run(
        ["sh", "-c", script],
        env=ENV,
        timeout_seconds=timeout_seconds,
        stdin=stdin,
        merge_stderr=merge_stderr,
        spawner=spawner,
    )


async def test_status_streams_and_stdin(spawner: StepSpawner) -> None:
    done = await sh(spawner, "cat; echo out; echo err >&2; exit 3", stdin=b"in\n")
    assert done.returncode == 3
    assert done.stdout.decode() == "in\nout\n"
    assert done.stderr is not None
    assert done.stderr.decode() == "err\n"
    merged = await sh(spawner, "echo one; echo two >&2", merge_stderr=True)
    assert merged.stdout.decode() == "one\ntwo\n"
    killed = await sh(spawner, "kill -TERM $$")
    assert killed.returncode == -signal.SIGTERM


async def test_the_environment_is_exactly_what_was_given(spawner: StepSpawner) -> None:
    done = await processes.run(
        ["env"], env={"PATH": "/usr/bin:/bin", "ONLY": "this"}, timeout_seconds=10, spawner=spawner
    )
    assert done.stdout.decode().splitlines() == ["PATH=/usr/bin:/bin", "ONLY=this"]


async def test_a_missing_executable_is_the_same_os_error(spawner: StepSpawner) -> None:
    with pytest.raises(FileNotFoundError):
        await processes.run(["no-such-tool"], env=ENV, timeout_seconds=10, spawner=spawner)
    assert (await sh(spawner, "true")).returncode == 0


async def test_the_deadline_kills_the_whole_group(spawner: StepSpawner, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    done = await sh(
        spawner, f"sleep 300 & echo $! > {pid_file}; echo bye; wait", timeout_seconds=0.5
    )
    assert done.timed_out
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.decode() == "bye\n"
    await _until_gone(read_pid(pid_file))


async def test_cancelling_kills_the_group(spawner: StepSpawner, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(sh(spawner, f"sleep 300 & echo $$ $! > {pids}; sleep 300"))
    await _until_written(pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for pid in map(int, pids.read_text().split()):
        await _until_gone(pid)


async def test_steps_are_the_spawners_children_and_it_holds_no_secret(
    spawner: StepSpawner,
) -> None:
    done = await sh(spawner, "echo $PPID; tr '\\0' '\\n' < /proc/$PPID/environ")
    parent, *environ = done.stdout.decode().splitlines()
    assert int(parent) == spawner.pid != os.getpid()
    # Its environment was given from nothing; it may even be closed to the step (undumpable).
    assert not any("s3cr3t" in line for line in environ)
    assert all(
        line.split("=", 1)[0] in {"PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ"} for line in environ
    )


async def test_steps_hold_no_privileges_and_cannot_gain_any(spawner: StepSpawner) -> None:
    done = await sh(spawner, "grep -E '^(Cap(Eff|Prm|Bnd|Amb)|NoNewPrivs)' /proc/self/status")
    status = dict(line.split(":\t") for line in done.stdout.decode().splitlines())
    assert status["NoNewPrivs"] == "1"
    for capabilities in ("CapEff", "CapPrm", "CapAmb"):
        assert int(status[capabilities], 16) == 0, status
    if os.geteuid() == 0:  # root would regain the bounding set at every exec
        assert int(status["CapBnd"], 16) == 0, status


async def test_a_dead_spawner_ends_its_steps_and_is_replaced(
    spawner: StepSpawner, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    task = asyncio.create_task(sh(spawner, f"echo $$ > {pid_file}; sleep 300", timeout_seconds=600))
    # Only once the spawner has told the server the step's pid may the server end the orphan;
    # the step can write its file before that message arrives.
    await _until(lambda: spawner.running == 1, "the spawner reports the step started")
    await _until_written(pid_file)
    first = spawner.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    done = await asyncio.wait_for(task, DEADLINE)  # the server kills the orphan: no timeout
    assert done.returncode == 255
    assert not done.timed_out
    await _until_gone(read_pid(pid_file))
    again = await sh(spawner, "echo again")
    assert again.stdout.decode() == "again\n"
    assert spawner.pid != first


@pytest.mark.parametrize("socket_leaked", [False, True], ids=["socket-closes", "socket-leaked"])
def test_steps_die_with_a_server_killed_by_sigkill(tmp_path: Path, socket_leaked: bool) -> None:
    """The spawner ends its steps when the server dies: on its socket's end of file, and by
    the parent-death signal where the server's end stays open in another process."""
    pid_file, holder_file = tmp_path / "step.pid", tmp_path / "holder.pid"
    argv = [sys.executable, "-m", "tests.processes.spawner_host", str(pid_file)]
    server = subprocess.Popen(
        [*argv, str(holder_file)] if socket_leaked else argv,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        _wait(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), "a step runs")
        if socket_leaked:
            _wait(holder_file.exists, "the socket is leaked")
        step = read_pid(pid_file)
        spawner_pid = _parent_of(step)
        os.kill(server.pid, signal.SIGKILL)  # the server only: a leaked socket lives on
        server.wait(DEADLINE)
        _wait(lambda: not process_alive(step), f"the step {step} is gone")
        _wait(lambda: not process_alive(spawner_pid), f"the spawner {spawner_pid} is gone")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(DEADLINE)
        if holder_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(read_pid(holder_file), signal.SIGKILL)
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(read_pid(pid_file), signal.SIGKILL)


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def _wait(reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        time.sleep(0.02)


async def _until(reached: Callable[[], bool], what: str) -> None:
    """Until ``reached``, with a deadline a loaded machine meets too (it is never waited out
    when things work)."""
    deadline = time.monotonic() + DEADLINE
    while not reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.01)


async def _until_written(path: Path) -> None:
    """Until the step has written its line to ``path``: it is surely running."""
    await _until(lambda: path.exists() and path.read_text().endswith("\n"), f"{path} written")


async def _until_gone(pid: int) -> None:
    await _until(lambda: not process_alive(pid), f"process {pid} ends")
