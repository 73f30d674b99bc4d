"""A small threaded HTTP server on 127.0.0.1 that the fake SaaS services build on.

The fakes speak the real services' request and response formats; this base adds what tests
need around them: a log of every request, injected faults (``fail_next``: the next N
matching requests get a given status, body and headers, e.g. a 429 with ``Retry-After``),
``down()`` (every request fails) and ``hold()`` (requests wait until released, so a test can
kill our server while a delivery is in flight). It runs in threads, so both in-process
servers and server child processes can reach it.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.harness.ports import LOOPBACK


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))

    def params(self) -> dict[str, Any]:
        """Query, form and JSON body merged: Slack's Web API accepts all three."""
        merged: dict[str, Any] = dict(self.query)
        kind = self.headers.get("content-type", "")
        if self.body and "json" in kind:
            merged.update(self.json())
        elif self.body:
            merged.update(self.form())
        return merged


@dataclass
class FakeResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class _Fault:
    response: FakeResponse
    path: str | None
    remaining: int


class FakeHTTPService:
    """Subclasses implement ``handle``; tests use ``url``, ``requests`` and the fault knobs."""

    def __init__(self) -> None:
        self.requests: list[FakeRequest] = []
        self._faults: list[_Fault] = []
        self._down: FakeResponse | None = None
        self._held: threading.Event | None = None
        self.held_count = 0
        self._lock = threading.RLock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- subclass API -------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        raise NotImplementedError

    # --- test knobs ---------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` requests (to ``path``, if given) get this answer instead."""
        with self._lock:
            self._faults.append(_Fault(FakeResponse(status, body, headers or {}), path, count))

    def down(self, status: int = 503, body: Any = None) -> None:
        """Every request fails until ``up()``."""
        self._down = FakeResponse(status, body)

    def up(self) -> None:
        self._down = None

    def hold(self) -> None:
        """Requests wait (unanswered) until ``release()``."""
        self._held = threading.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
        self._held = None

    def requests_to(self, path: str) -> list[FakeRequest]:
        return [r for r in self.requests if r.path == path]

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = None

    @contextmanager
    def running(self) -> Iterator[FakeHTTPService]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # --- plumbing -----------------------------------------------------------------------

    def _answer(self, request: FakeRequest) -> FakeResponse:
        held = self._held
        if held is not None:
            with self._lock:
                self.held_count += 1
            held.wait(60)
        with self._lock:
            self.requests.append(request)
            if self._down is not None:
                return self._down
            for fault in self._faults:
                if fault.remaining > 0 and fault.path in (None, request.path):
                    fault.remaining -= 1
                    return fault.response
        return self.handle(request)

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = FakeRequest(
                    method=self.command,
                    path=parsed.path,
                    query=dict(urllib.parse.parse_qsl(parsed.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = service._answer(request)
                payload = response.encoded()
                self.send_response(response.status)
                kind = "application/json; charset=utf-8"
                if isinstance(response.body, str):
                    kind = "text/plain; charset=utf-8"
                self.send_header("Content-Type", response.headers.get("Content-Type", kind))
                for name, value in response.headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
