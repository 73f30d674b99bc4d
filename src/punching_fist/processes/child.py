"""Spawning one child and watching its pipes and exit through the event loop's readers.

``asyncio.create_subprocess_exec`` costs several times more CPU on uvloop than on the stdlib
loop: libuv spawns with ``fork()``, which copies the server's page tables (over 2 ms per spawn
in a large process), where CPython's ``subprocess`` uses ``vfork()`` (about 0.1 ms) as long as
no ``preexec_fn`` is given. Tools and ``cli`` steps spawn on every call, so a child is spawned
with ``subprocess.Popen`` and waited for without threads: the output pipes are non-blocking and
read through ``loop.add_reader``, and the exit is seen on a pidfd (Linux 5.3+) read the same
way, then reaped with ``waitpid``. Where pidfds are missing it falls back to
``asyncio.create_subprocess_exec`` for the spawn and the wait; the pipes are read the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from punching_fist.processes.capture import HeadTail
from punching_fist.spawner.client import Spawned, StepSpawner

_CHUNK = 64 * 1024


class Child:
    """One child's pipes and exit, watched through the loop's readers.

    ``finished`` resolves once the child has been reaped and every output pipe reached EOF;
    ``exited`` (the return code) once it has been reaped. ``close`` releases the pipes; the
    exit watcher releases itself when the child is reaped, even after ``close``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.finished: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[int] = loop.create_future()
        self.started = False
        self._pid = 0
        self._pending = 0  # output pipes open + the exit not yet seen
        self._readers: dict[int, HeadTail] = {}
        self._fds: list[int] = []  # the parent's copies, closed once the child has them
        self._stdin: tuple[int, memoryview] | None = None
        self._keepalive: object = None  # the Popen or Process: never collected unreaped
        self._spawned: tuple[StepSpawner, Spawned] | None = None

    async def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | None,
        stdin: bytes | None,
        stdout: HeadTail,
        stderr: HeadTail | None,
        spawner: StepSpawner | None,
    ) -> None:
        out = self._pipe_to_parent(stdout)
        err = out if stderr is None else self._pipe_to_parent(stderr)
        child_stdin: int = subprocess.DEVNULL
        if stdin is not None:
            child_stdin, writer = os.pipe()
            self._fds.append(child_stdin)
            self._stdin = (writer, memoryview(stdin))
        if spawner is not None:
            spawned = await spawner.spawn(
                argv,
                env=env,
                cwd=cwd,
                stdin=None if stdin is None else child_stdin,
                stdout=out,
                stderr=err,
            )
            self._spawned = (spawner, spawned)
            self._begin(spawned.pid)
            spawned.exited.add_done_callback(self._on_spawned_exit)
        elif _pidfd_usable():
            spawn = functools.partial(
                _popen, argv, env=env, cwd=cwd, stdin=child_stdin, stdout=out, stderr=err
            )
            spawning = self._loop.run_in_executor(_spawner(), spawn)
            try:
                popen = await asyncio.shield(spawning)
            except asyncio.CancelledError:
                # Let it finish starting, so that the caller ends and reaps it like any
                # started child (and closes our copies of its pipes only afterwards).
                with contextlib.suppress(Exception):
                    self._watch(await spawning)
                raise
            self._watch(popen)
        else:
            creating = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *argv,
                    env=dict(env),
                    cwd=cwd,
                    stdin=child_stdin,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            )
            try:
                process = await asyncio.shield(creating)
            except asyncio.CancelledError:
                # As above: uvloop returns only once the child runs, and a child cancelled
                # in between must still be ended with its whole group, not just itself.
                with contextlib.suppress(Exception):
                    self._wait_for(await creating)
                raise
            self._wait_for(process)

    def _wait_for(self, process: asyncio.subprocess.Process) -> None:
        self._begin(process.pid)
        waiting = asyncio.ensure_future(process.wait())
        waiting.add_done_callback(self._on_wait)
        self._keepalive = waiting

    def _watch(self, popen: subprocess.Popen[bytes]) -> None:
        self._keepalive = popen
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:  # out of fds, say: it never ran unwatched, so end it here
            self._pid = popen.pid
            self.kill()
            popen.wait()
            raise
        self._begin(popen.pid)
        self._loop.add_reader(pidfd, self._on_pidfd, pidfd, popen)

    def _pipe_to_parent(self, sink: HeadTail) -> int:
        ours, theirs = os.pipe()
        self._readers[ours] = sink
        self._fds.append(theirs)
        return theirs

    def _begin(self, pid: int) -> None:
        self.started = True
        self._pid = pid
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self._pending = len(self._readers) + 1
        for fd in self._readers:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._on_output, fd)
        if self._stdin is not None:
            os.set_blocking(self._stdin[0], False)
            self._write_stdin()

    def _on_output(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        if chunk:
            self._readers[fd].add(chunk)
            return
        self._close_reader(fd)
        self._settle()

    def _write_stdin(self) -> None:
        assert self._stdin is not None
        fd, rest = self._stdin
        try:
            while rest:
                rest = rest[os.write(fd, rest) :]
        except BlockingIOError:
            self._stdin = (fd, rest)
            self._loop.add_writer(fd, self._write_stdin)
            return
        except BrokenPipeError:
            pass  # the child closed its stdin; what it did not read is its business
        self._close_stdin()

    def _on_pidfd(self, pidfd: int, popen: subprocess.Popen[bytes]) -> None:
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:  # reaped behind our back; the status is lost
            pid, status = self._pid, 255 << 8
        if pid == 0:
            return
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        popen.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by the Popen
        self._exit(popen.returncode)

    def _on_wait(self, waiting: asyncio.Future[int]) -> None:
        self._exit(255 if waiting.cancelled() else waiting.result())

    def _on_spawned_exit(self, exited: asyncio.Future[int]) -> None:
        if exited.cancelled() or exited.exception() is not None:  # the spawner went away
            self._exit(255)
        else:
            self._exit(exited.result())

    def _exit(self, returncode: int) -> None:
        self._keepalive = None
        self.exited.set_result(returncode)
        self._settle()

    def _settle(self) -> None:
        self._pending -= 1
        if self._pending == 0 and not self.finished.done():
            self.finished.set_result(None)

    def kill(self) -> None:
        """SIGKILL the child's process group (its session's first group)."""
        if self._spawned is not None:
            spawner, spawned = self._spawned
            # The spawner reaps it, so only the spawner knows its pid was not reused yet.
            if not spawned.exited.done():
                spawner.kill(spawned.ident)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signal.SIGKILL)

    def drain(self) -> None:
        """Take what the pipes hold now, without waiting for EOF."""
        for fd, sink in self._readers.items():
            with contextlib.suppress(OSError):
                while chunk := os.read(fd, _CHUNK):
                    sink.add(chunk)

    def close(self) -> None:
        """Release the pipes (idempotent); the exit watcher stays until the child is reaped."""
        for fd in list(self._readers):
            self._close_reader(fd)
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self._close_stdin()

    def _close_reader(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        os.close(fd)
        del self._readers[fd]

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            fd = self._stdin[0]
            self._stdin = None
            self._loop.remove_writer(fd)
            os.close(fd)


def _popen(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    stdin: int,
    stdout: int,
    stderr: int,
) -> subprocess.Popen[bytes]:
    # No preexec_fn: that would make CPython fork() instead of vfork().
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True
    )


@functools.cache
def _spawner() -> ThreadPoolExecutor:
    """Where children are started: off the event loop's thread.

    Starting a child takes the kernel a few hundred microseconds (more when the machine is
    busy), and ``Popen`` lets go of the GIL while it waits. Done on the loop's thread, that
    wait stalled every other request; here the loop serves them meanwhile. (``posix_spawn``
    keeps the GIL for the whole call, so it is no help.)
    """
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="pf-spawn")


def _pidfd_usable() -> bool:
    return hasattr(os, "pidfd_open") and _kernel_has_pidfd()


@functools.cache
def _kernel_has_pidfd() -> bool:
    # Old kernels say ENOSYS; some seccomp profiles say EPERM.
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True
