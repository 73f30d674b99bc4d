"""Supervising llama-server: one child process, started on first use, restarted if it dies.

The server is started lazily, so an operator that never calls the local model never pays
its 2 GB of RAM. It runs in its own process group and gets SIGKILL if this process dies
(Linux ``PR_SET_PDEATHSIG``), so neither ``aclose()`` nor a crash leaves it orphaned.
Requests are capped to the server's slots: a request beyond them would queue inside
llama-server where no timeout of ours can see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import structlog

from punching_fist.local_model._proc import iter_lines
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.errors import ModelNotInstalled, ServerFailed

log = structlog.get_logger(__name__)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """How to run llama-server and how patiently to supervise it."""

    binary: Path
    model: Path
    context_size: int = 8192
    """Tokens per slot; llama-server splits ``-c`` across slots, so it gets this times slots."""
    threads: int = 2
    slots: int = 1
    """Requests served at once (``--parallel``); more wait in :meth:`LlamaServerSupervisor.slot`."""
    host: str = "127.0.0.1"
    max_predict: int = 1024
    """Tokens one answer may generate unless the request sets ``max_tokens`` (``-n``): a small
    model stuck repeating itself would otherwise generate until the context is full."""
    start_timeout: float = 120.0
    """Seconds from spawn to a 200 on ``/health`` (loading the model takes ~1.5 s)."""
    poll_interval: float = 0.1
    stop_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""
    max_start_failures: int = 3
    """Consecutive failed starts before :meth:`LlamaServerSupervisor.endpoint` gives up."""
    restart_delay: float = 0.5
    extra_args: tuple[str, ...] = ()

    @classmethod
    def for_cache(cls, paths: LocalModelPaths, **overrides: Any) -> ServerSettings:
        """Settings that run the cached binary with the cached model."""
        return replace(cls(binary=paths.server_binary, model=paths.model_file), **overrides)

    def argv(self, port: int) -> list[str]:
        """The command line for a server listening on ``port``."""
        return [
            str(self.binary),
            *("--jinja", "-c", str(self.context_size * self.slots), "-t", str(self.threads)),
            *("--parallel", str(self.slots), "-n", str(self.max_predict)),
            *("--host", self.host, "--port", str(port)),
            *("-m", str(self.model)),
            *self.extra_args,
        ]


class LlamaServerSupervisor:
    """Owns one llama-server child: start on first use, health-check, restart, stop."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.restarts = 0
        """How often the server died after being healthy and was started again."""
        self._slots = asyncio.Semaphore(settings.slots)
        self._ready = asyncio.Event()
        self._base_url: str | None = None
        self._failure: ServerFailed | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._output: deque[str] = deque(maxlen=40)
        self._drain: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running server's pid, if one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def endpoint(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:P/v1``) once the server is healthy."""
        if self._closed:
            raise ServerFailed("the llama-server supervisor is closed")
        if self._watcher is None or self._watcher.done():
            self._check_installed()
            self._failure = None
            self._ready.clear()
            self._watcher = asyncio.create_task(self._supervise(), name="llama-server watcher")
        await self._ready.wait()
        if self._failure is not None:
            raise self._failure
        assert self._base_url is not None
        return self._base_url

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[str]:
        """Hold one of the server's slots for a request; yields the base URL."""
        async with self._slots:
            yield await self.endpoint()

    async def aclose(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after the grace period) and the watcher."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self._terminate()

    async def __aenter__(self) -> LlamaServerSupervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_installed(self) -> None:
        for path in (self.settings.binary, self.settings.model):
            if not path.is_file():
                raise ModelNotInstalled(f"{path} is missing; run `punching-fist model install`")

    async def _supervise(self) -> None:
        failures = 0
        try:
            while True:
                try:
                    port = await self._spawn()
                    await self._wait_healthy(port)
                except ServerFailed as exc:
                    await self._terminate()
                    failures += 1
                    log.warning("llama-server failed to start", attempt=failures, error=str(exc))
                    if failures >= self.settings.max_start_failures:
                        self._failure = ServerFailed(f"gave up after {failures} starts: {exc}")
                        self._ready.set()
                        return
                    await asyncio.sleep(self.settings.restart_delay * 2 ** (failures - 1))
                    continue
                failures = 0
                self._base_url = f"http://{self.settings.host}:{port}/v1"
                self._ready.set()
                log.info("llama-server ready", url=self._base_url, pid=self.pid)
                returncode = await self._wait_exit()
                self._ready.clear()
                self._base_url = None
                self.restarts += 1
                log.warning(
                    "llama-server died; restarting", returncode=returncode, tail=self._tail()
                )
                await self._terminate()
                await asyncio.sleep(self.settings.restart_delay)
        finally:
            # Whatever ended the watcher (close, a bug), callers of endpoint() must not hang.
            if not self._ready.is_set():
                self._failure = self._failure or ServerFailed("llama-server supervisor stopped")
                self._ready.set()
            if self._closed:
                await self._terminate()

    async def _spawn(self) -> int:
        port = _free_port(self.settings.host)
        self._output.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.settings.argv(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise ServerFailed(f"cannot run {self.settings.binary}: {exc}") from exc
        self._proc = proc
        self._drain = asyncio.create_task(self._read_output(proc), name="llama-server output")
        return port

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        # Drained always: a full pipe would block llama-server's logging, then the server.
        assert proc.stdout is not None
        async for line in iter_lines(proc.stdout):
            self._output.append(line)

    async def _wait_healthy(self, port: int) -> None:
        url = f"http://{self.settings.host}:{port}/health"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.start_timeout
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while True:
                proc = self._proc
                if proc is None or proc.returncode is not None:
                    code = None if proc is None else proc.returncode
                    if self._drain is not None:  # its last words explain the exit
                        await asyncio.wait({self._drain}, timeout=1.0)
                    raise ServerFailed(
                        f"llama-server exited ({code}) while starting:\n{self._tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code == 200:
                        return
                if loop.time() > deadline:
                    raise ServerFailed(
                        f"llama-server not healthy after {self.settings.start_timeout}s"
                    )
                await asyncio.sleep(self.settings.poll_interval)

    async def _wait_exit(self) -> int:
        assert self._proc is not None
        return await self._proc.wait()

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), self.settings.stop_grace)
                except TimeoutError:
                    _signal_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
            # Anything the server forked and left behind in its group goes too.
            _signal_group(proc.pid, signal.SIGKILL)
        drain, self._drain = self._drain, None
        if drain is not None:
            await asyncio.gather(drain, return_exceptions=True)

    def _tail(self) -> str:
        return "\n".join(list(self._output)[-10:])


def _free_port(host: str) -> int:
    # The port may be taken again before llama-server binds it; that start then fails
    # and the next attempt picks another port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook
