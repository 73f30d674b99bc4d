"""One server process for a test: started with a log file, waited for, and reliably stopped.

Every child runs in its own session (``setsid``) so that stopping it signals the whole
process group: servers that fork helpers (PostgreSQL's backends, wrapper scripts) leave no
orphans behind. A start that fails raises ``ServiceStartError`` carrying the tail of the
log, because "timed out" alone is useless when a CI run goes red.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import httpx

T = TypeVar("T")

LOG_TAIL_LINES = 40


class ServiceStartError(RuntimeError):
    """A service did not become ready; the message holds the tail of its log."""


class PortInUseError(ServiceStartError):
    """The service lost the race for its port; starting again with fresh ports may work."""


def read_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def mentions_port_clash(text: str) -> bool:
    """Tell whether a log says a bind failed because the port was taken."""
    return "address already in use" in text.lower()


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Returning the value lets a caller wait for and pick out a result in one step, e.g. the
    first webhook that matches.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout:.1f}s (last value: {result!r})")
        time.sleep(interval)


@overload
async def wait_until_async(
    predicate: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
) -> T: ...


@overload
async def wait_until_async(
    predicate: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
) -> T: ...


async def wait_until_async(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Like ``wait_until`` but yields to the event loop between polls; ``predicate`` may be async.

    Needed when the thing being waited for is served by the test's own loop (an app under
    test receiving the webhook): a blocking wait would starve it.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout:.1f}s (last value: {result!r})")
        await asyncio.sleep(interval)


def http_ok(url: str) -> bool:
    """Tell whether ``url`` answers 200 now; connection errors just mean "not yet"."""
    try:
        return httpx.get(url, timeout=1.0).status_code == httpx.codes.OK
    except httpx.TransportError:
        return False


class ManagedProcess:
    """A child process with a log file, started and stopped as a context manager.

    Use ``with ManagedProcess(...) as proc: proc.wait_ready(url=...)``; leaving the block
    stops the process group even when the readiness wait failed.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout: float = 10.0,
    ) -> None:
        """Describe the process; nothing runs until ``start`` or ``__enter__``.

        ``stop_signal`` is configurable because SIGTERM is not "stop now" for every
        server: PostgreSQL waits for clients on SIGTERM and needs SIGINT for a fast stop.
        """
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id, which is also its process group id."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen.pid

    @property
    def running(self) -> bool:
        """Whether the main process is still alive."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the main process has exited, else ``None``."""
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        """Launch the process in its own session, output appended to the log file."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the descriptor; ours is closed right away so no
        # file object outlives the start (filterwarnings=error would flag it).
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the process's log."""
        return read_tail(self.log_path, lines)

    def wait_ready(
        self,
        *,
        url: str | None = None,
        check: Callable[[], bool] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Block until ``url`` answers 200 and/or ``check()`` is true.

        Fails fast when the process dies instead of waiting out the timeout.
        """
        if url is None and check is None:
            raise ValueError("wait_ready needs a url or a check")
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                self._fail("exited before it was ready")
            if (url is None or http_ok(url)) and (check is None or check()):
                return
            if time.monotonic() >= deadline:
                self._fail(f"was not ready within {timeout:.0f}s")
            time.sleep(0.05)

    def _fail(self, problem: str) -> None:
        tail = self.log_tail()
        code = self._popen.poll() if self._popen is not None else None
        status = f" (exit code {code})" if code is not None else ""
        error = (
            PortInUseError
            if code is not None and mentions_port_clash(tail)
            else (ServiceStartError)
        )
        raise error(
            f"{self.name} {problem}{status}\n"
            f"argv: {' '.join(self.argv)}\n"
            f"log {self.log_path}:\n{tail}"
        )

    def stop(self) -> None:
        """Signal the process group, escalate to SIGKILL, then sweep leftovers.

        Safe to call twice and on a process that already exited.
        """
        popen = self._popen
        if popen is None:
            return
        pgid = popen.pid  # start_new_session makes the child its group leader
        if popen.poll() is None:
            _signal_group(pgid, self.stop_signal)
            try:
                popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                popen.wait(timeout=self.stop_timeout)
        # Children that ignored the signal or outlived the leader.
        _signal_group(pgid, signal.SIGKILL)

    def __enter__(self) -> Self:
        """Start the process."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the process group."""
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
