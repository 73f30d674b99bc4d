"""The messages between the server and its spawner: JSON datagrams on a ``SOCK_SEQPACKET``
socket pair, each holding one message, with a spawn request's pipes attached (SCM_RIGHTS).

server -> spawner::

    {"op": "spawn", "id": 7, "argv": [...], "env": {...}, "cwd": null, "stdin": true}
        + fds: [stdin (if "stdin"), stdout, stderr]
    {"op": "kill", "id": 7}

spawner -> server::

    {"id": 7, "pid": 4242}                     started
    {"id": 7, "errno": 2, "strerror": "...", "filename": "kubectl"}   could not start
    {"id": 7, "exit": 0}                       exited and reaped (negative: killed by a signal)

Only stdlib here: the spawner imports this and nothing of the server.
"""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_MESSAGE = 1024 * 1024
"""Socket buffers are raised to this; a spawn request (argv and environment) must fit."""
MAX_FDS = 3


def pair() -> tuple[socket.socket, socket.socket]:
    """The server's end and the spawner's end, with room for large environments."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in (ours, theirs):
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            end.setsockopt(socket.SOL_SOCKET, option, MAX_MESSAGE)
    return ours, theirs


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message; raises ``BlockingIOError`` when the socket is full."""
    data = json.dumps(message, separators=(",", ":")).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it (close-on-exec); ``None`` at EOF.

    Raises ``BlockingIOError`` when nothing is waiting on a non-blocking socket.
    """
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS, socket.MSG_CMSG_CLOEXEC)
    if flags & socket.MSG_CTRUNC:
        for fd in fds:
            socket.close(fd)
        raise OSError("a message came with more descriptors than expected")
    if not data:
        return None, fds
    loaded: dict[str, Any] = json.loads(data)
    return loaded, fds
