"""A real HTTP server on 127.0.0.1 for the curl and promql tool tests.

Runs in a thread so it answers while the test's event loop awaits the tool. Each route maps
a path (without the query) to a canned answer or to a function that writes its own reply;
every request is recorded, headers included, so tests can see what the tool sent.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Handler = http.server.BaseHTTPRequestHandler
Answer = tuple[int, dict[str, str], bytes]
Route = Answer | Callable[[Handler], None]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HttpStub:
    """The running server: its base URL, the routes it serves, the requests it saw."""

    routes: dict[str, Route]
    url: str = ""
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def http_stub(routes: dict[str, Route]) -> Iterator[HttpStub]:
    """Serve ``routes`` on a free port of 127.0.0.1 until the block ends."""
    stub = HttpStub(routes=routes)

    class RequestHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            path = urlsplit(self.path).path
            stub.requests.append(Recorded(self.command, self.path, dict(self.headers.items())))
            route = stub.routes.get(path)
            if route is None:
                route = (404, {"Content-Type": "text/plain"}, b"no such route\n")
            if callable(route):
                route(self)
                return
            status, headers, body = route
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: failures show in the test's assertions."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    stub.port = int(server.server_address[1])
    stub.url = f"http://127.0.0.1:{stub.port}"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="tools-http-stub", daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
