"""The spawner process: ``python -m punching_fist.spawner FD`` (started by ``StepSpawner``).

It is executed, not forked, with an environment of a few harmless variables, so it holds none
of the server's memory or secrets; it drops every privilege before reading its first request
(see ``punching_fist.hardening``). It then starts each requested step with the pipes the
server sent along, reaps it, and reports how it ended. When the server's end of the socket
closes (the server stopped or died), it kills what is still running and exits. It does the
same on SIGTERM, which the kernel sends it when the server dies (``PR_SET_PDEATHSIG``), even
where the socket stays open (a process that inherited the server's end): a server restarted
after a crash never runs a step beside its predecessor's.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
from typing import Any

from punching_fist import hardening
from punching_fist.spawner import protocol


class Spawner:
    """Starts, reaps and kills the server's step processes; one request at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False

    def serve(self) -> None:
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd fires
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the server's call
        signal.signal(signal.SIGTERM, self._stop)  # also: the server died
        selector = selectors.DefaultSelector()
        selector.register(self._sock, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in selector.select():
                    if key.fileobj is wake_read:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_read, 4096)
                    elif not self._handle():
                        return
                if self._stopping:
                    return
                self._reap()
        finally:
            self._kill_all()

    def _stop(self, _signal: int, _frame: object) -> None:
        self._stopping = True  # the wakeup fd ends the select; the loop then stops

    def _handle(self) -> bool:
        """Act on one request; False once the server is gone."""
        try:
            message, fds = protocol.receive(self._sock)
        except (ConnectionError, OSError):
            return False
        if message is None:
            return False
        try:
            if message.get("op") == "spawn":
                self._spawn(message, fds)
            elif message.get("op") == "kill":
                child = self._children.get(int(message["id"]))
                if child is not None:  # not yet reaped: its pid cannot have been reused
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.pid, signal.SIGKILL)
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        ident = int(message["id"])
        stdin: int = fds.pop(0) if message.get("stdin") else subprocess.DEVNULL
        try:
            child = subprocess.Popen(
                message["argv"],
                env=message["env"],
                cwd=message.get("cwd"),
                stdin=stdin,
                stdout=fds[0],
                stderr=fds[1],
                start_new_session=True,
            )
        except OSError as exc:
            self._reply(
                {
                    "id": ident,
                    "errno": exc.errno or 0,
                    "strerror": exc.strerror or str(exc),
                    "filename": None if exc.filename is None else str(exc.filename),
                }
            )
            return
        finally:
            if stdin != subprocess.DEVNULL:
                os.close(stdin)
        self._children[ident] = child
        self._reply({"id": ident, "pid": child.pid})

    def _reap(self) -> None:
        for ident, child in list(self._children.items()):
            try:
                pid, status = os.waitpid(child.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = child.pid, 255 << 8
            if pid:
                child.returncode = os.waitstatus_to_exitcode(status)  # reaped here
                del self._children[ident]
                self._reply({"id": ident, "exit": child.returncode})

    def _reply(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the server is gone; the loop notices next
            protocol.send(self._sock, message)

    def _kill_all(self) -> None:
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        for child in self._children.values():
            with contextlib.suppress(ChildProcessError):
                child.wait()
        self._children.clear()


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    # SIGTERM, not SIGKILL: the steps must be killed first. Should the server already be
    # gone, its end of the socket is closed and the first select says so.
    hardening.die_with_parent(signal.SIGTERM)
    hardening.drop_privileges()
    hardening.make_undumpable()  # after the drop, which may reset it
    sock.setblocking(True)
    Spawner(sock).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
