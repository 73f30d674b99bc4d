"""The server's side of the spawner: asks it to start a step and learns how the step ended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from punching_fist.errors import RuntimeFailure
from punching_fist.spawner import protocol

# All the spawner itself needs: its interpreter's search path and a locale.
_SPAWNER_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ")


class SpawnerGone(RuntimeFailure):
    """The spawner process ended; the steps it ran were killed with it."""


@dataclass(frozen=True, kw_only=True)
class Spawned:
    """A started step: its pid, and its exit code once the spawner reaped it."""

    ident: int
    pid: int
    exited: asyncio.Future[int]


class StepSpawner:
    """Runs ``python -m punching_fist.spawner`` and starts processes through it.

    Started on first use (or by ``start``), and again after it died; one event loop at a time.
    """

    def __init__(self, environ: Mapping[str, str], *, python: str = sys.executable) -> None:
        """``environ``: the server's, of which only ``_SPAWNER_ENV`` reaches the spawner."""
        self._env = {name: environ[name] for name in _SPAWNER_ENV if name in environ}
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._starting: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._abandoned: set[int] = set()
        """Steps whose caller went away while they were starting: killed once started."""
        self._running: dict[int, int] = {}
        """Process ids of started steps not yet reaped, to end them if the spawner dies."""

    @property
    def pid(self) -> int | None:
        """The spawner's pid while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> int:
        """How many steps the spawner said it started and has not reaped yet."""
        return len(self._running)

    def start(self) -> None:
        """Start the spawner process unless it runs; it gets ``_SPAWNER_ENV`` only.

        Call it from the thread that lives as long as the server (the event loop's): the
        spawner is told to end its steps when that thread exits (``PR_SET_PDEATHSIG``).
        """
        if self._sock is not None:
            return
        if self._process is not None:  # it died, or its socket broke: end and replace it
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.wait()
            self._process = None
        loop = asyncio.get_running_loop()
        ours, theirs = protocol.pair()
        try:
            self._process = subprocess.Popen(
                [self._python, "-m", "punching_fist.spawner", str(theirs.fileno())],
                env=self._env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's signals are for the server to decide
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock, self._loop = ours, loop
        loop.add_reader(ours.fileno(), self._on_readable)

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | None,
        stdin: int | None,
        stdout: int,
        stderr: int,
    ) -> Spawned:
        """Start ``argv`` with exactly ``env`` and these pipe ends (``stdin`` None: /dev/null).

        Raises ``OSError`` as ``subprocess.Popen`` would (``FileNotFoundError``...), and
        ``SpawnerGone`` when the spawner ends meanwhile. The caller keeps its descriptors.
        """
        self.start()
        assert self._loop is not None
        ident = next(self._ids)
        starting = self._starting[ident] = self._loop.create_future()
        exited = self._exits[ident] = self._loop.create_future()
        fds = [stdout, stderr] if stdin is None else [stdin, stdout, stderr]
        message = {
            "op": "spawn",
            "id": ident,
            "argv": list(argv),
            "env": dict(env),
            "cwd": cwd,
            "stdin": stdin is not None,
        }
        sent = False
        try:
            await self._send(message, fds)
            sent = True
            pid = await asyncio.shield(starting)
        except asyncio.CancelledError:
            if not sent:
                self._starting.pop(ident, None)
                self._exits.pop(ident, None)
                raise
            # It may start all the same: end it as soon as the spawner says it did.
            self._abandoned.add(ident)
            if starting.done() and not starting.cancelled() and starting.exception() is None:
                self.kill(ident)
            raise
        except BaseException:
            self._starting.pop(ident, None)
            self._exits.pop(ident, None)
            raise
        return Spawned(ident=ident, pid=pid, exited=exited)

    def kill(self, ident: int) -> None:
        """SIGKILL the process group of step ``ident``, if it has not been reaped."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            protocol.send(self._sock, {"op": "kill", "id": ident})

    async def stop(self) -> None:
        """Close the socket; the spawner kills what still runs and exits. Waits for it."""
        self._disconnect(SpawnerGone("the server stopped"), kill_running=False)
        if self._process is not None:
            process, self._process = self._process, None
            await asyncio.to_thread(process.wait)

    async def _send(self, message: dict[str, object], fds: list[int]) -> None:
        assert self._sock is not None
        assert self._loop is not None
        while True:
            try:
                protocol.send(self._sock, message, fds)
                return
            except BlockingIOError:
                writable = self._loop.create_future()
                self._loop.add_writer(self._sock.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    self._loop.remove_writer(self._sock.fileno())
            except OSError as exc:
                self._disconnect(SpawnerGone(f"the spawner is gone ({exc})"))
                raise SpawnerGone(f"cannot reach the spawner: {exc}") from exc

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                message, fds = protocol.receive(self._sock)
            except BlockingIOError:
                return
            except OSError as exc:
                message, fds = None, []
                gone = SpawnerGone(f"the spawner is gone ({exc})")
            else:
                gone = SpawnerGone("the spawner exited")
            for fd in fds:
                os.close(fd)
            if message is None:
                self._disconnect(gone)
                return
            self._dispatch(message)

    def _dispatch(self, message: dict[str, object]) -> None:
        ident = int(str(message["id"]))
        if "pid" in message:
            self._running[ident] = int(str(message["pid"]))
            _resolve(self._starting.pop(ident, None), self._running[ident])
            if ident in self._abandoned:
                self.kill(ident)
        elif "errno" in message:
            error = OSError(
                int(str(message["errno"])), str(message["strerror"]), message.get("filename")
            )
            _fail(self._starting.pop(ident, None), error)
            self._exits.pop(ident, None)
            self._abandoned.discard(ident)
        elif "exit" in message:
            _resolve(self._exits.pop(ident, None), int(str(message["exit"])))
            self._abandoned.discard(ident)
            self._running.pop(ident, None)

    def _disconnect(self, error: SpawnerGone, *, kill_running: bool = True) -> None:
        """Forget the spawner: every start or exit still awaited fails with ``error``.

        ``kill_running``: the spawner died, so its steps are orphans only we can end (on a
        normal stop the spawner ends them itself, and knows which were reaped).
        """
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None
        for pid in self._running.values() if kill_running else ():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self._running.clear()
        for future in [*self._starting.values(), *self._exits.values()]:
            _fail(future, error)
        self._starting.clear()
        self._exits.clear()
        self._abandoned.clear()


def _resolve(future: asyncio.Future[int] | None, value: int) -> None:
    if future is not None and not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[int] | None, error: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(error)
        future.exception()  # retrieved: nobody may be waiting any more
