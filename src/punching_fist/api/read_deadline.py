"""A deadline for reading each request, so slow clients cannot hold connections open.

uvicorn closes idle keep-alive connections, but nothing else: a client that opens a
connection and sends a header byte a second (slow loris), or a body a byte a second, keeps its
connection, and its slot in the server's memory and file descriptors, for as long as it
likes. A thousand such clients cost them nothing.

``ReadDeadlineProtocol`` is uvicorn's httptools protocol with one timer more: a request must
arrive whole, headers and body, within ``read_timeout`` seconds of its first byte (of the
connection opening, for the first request). A client still sending its headers then gets
``408 Request Timeout`` and the connection is closed; one still sending its body is
disconnected, and the application reading that body sees the client go (``http.disconnect``),
as for any client that leaves. Time the server itself is behind does not count: while it
has stopped reading (flow control, a pipelined request waiting its turn) the deadline moves.

It subclasses uvicorn's protocol and reads a few of its attributes (``transport``, ``flow``,
``pipeline``, ``cycle``); ``tests/api/test_slow_clients.py`` serves through it over real
sockets, so an upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_READ_TIMEOUT = 30.0
"""Seconds for a request's headers and body; a megabyte of alerts needs 35 kB/s."""


class ReadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, disconnecting clients slower than ``read_timeout``."""

    read_timeout: ClassVar[float] = DEFAULT_READ_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        if self._deadline is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        if self.pipeline or self.flow.read_paused:
            # The server stopped reading, not the client: give it the time again.
            self._arm()
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._in_headers and not answering:
            transport.write(_timeout_response(self.read_timeout))
        transport.close()


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"detail": f"the request did not arrive within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def with_read_timeout(seconds: float) -> type[ReadDeadlineProtocol]:
    """The protocol class to hand uvicorn (``Config(http=...)``) for this deadline."""
    if seconds <= 0:
        raise ValueError("the read timeout must be positive")
    return type("ReadDeadlineProtocol", (ReadDeadlineProtocol,), {"read_timeout": seconds})
