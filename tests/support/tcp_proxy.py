"""A TCP proxy that can cut a client off from its server, as a network partition would.

``cut`` freezes every connection (nothing more is forwarded either way) and holds new ones
unanswered, so the client's requests hang rather than fail: the harder case for a lease kept
over the connection. ``restore`` closes what was frozen or held, and forwards again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._frozen = False
        self._stopped = False
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._loop, name="tcp-proxy", daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[TcpProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            with self._lock:
                self._stopped = True
            self._wake()
            self._thread.join(10)
            self._drop_all()
            self._listener.close()
            self._wake_read.close()
            self._wake_write.close()

    def cut(self) -> None:
        with self._lock:
            self._frozen = True
        self._wake()

    def restore(self) -> None:
        with self._lock:
            self._frozen = False
            self._drop_all()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _drop_all(self) -> None:
        for sock in [*self._peers, *self._held]:
            with contextlib.suppress(OSError):
                sock.close()
        self._peers.clear()
        self._held.clear()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                watched = [self._listener, self._wake_read]
                if not self._frozen:
                    watched += list(self._peers)
            readable, _, _ = select.select(watched, [], [], 0.5)
            with self._lock:
                for sock in readable:
                    self._on_readable(sock)

    def _on_readable(self, sock: socket.socket) -> None:
        if sock is self._wake_read:
            self._wake_read.recv(4096)
        elif sock is self._listener:
            client, _ = self._listener.accept()
            if self._frozen:
                self._held.append(client)
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                return
            self._peers[client], self._peers[upstream] = upstream, client
        elif sock in self._peers and not self._frozen:
            peer = self._peers[sock]
            try:
                data = sock.recv(65536)
                if data:
                    peer.sendall(data)
                    return
            except OSError:
                pass
            for end in (sock, peer):
                self._peers.pop(end, None)
                end.close()
