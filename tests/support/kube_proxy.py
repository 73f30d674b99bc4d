"""An authenticating front for the API server kit that records who each request came as.

The kit authenticates client certificates only and has no RBAC, so it cannot tell a step's
identity from the operator's. This proxy stands where a cluster's authenticator stands: it
serves TLS on loopback with its own certificate (the "cluster CA" a pod would mount), knows
the bearer tokens the test hands out, records each request's user and ``Impersonate-User``,
answers anonymous requests 403 except for the public ``/version`` and health paths (as a
cluster's default ``system:public-info-viewer`` binding does), and forwards the rest to the kit with the kit's admin certificate (impersonation headers
removed, since the kit could not authorise them).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.harness.k8s import K8sApiServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
_PUBLIC = ("/version", "/healthz", "/livez", "/readyz")
_IDENTITY_HEADERS = ("authorization", "impersonate-user", "impersonate-group", "impersonate-uid")


@dataclass(frozen=True)
class Seen:
    """One request as the API server's authentication saw it."""

    method: str
    path: str
    user: str
    """The authenticated user: the token's owner, or ``system:anonymous``."""
    impersonated: str | None
    """``Impersonate-User``: whom the user asked to act as."""

    @property
    def acting_as(self) -> str:
        return self.impersonated or self.user


@dataclass
class RecordingProxy:
    """A running proxy: ``url``, the ``ca_file`` that verifies it, and what it saw."""

    port: int
    ca_file: Path
    tokens: dict[str, str]
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def requests_to(self, fragment: str) -> list[Seen]:
        """Requests whose path contains ``fragment`` (``/namespaces/shop/pods``, say)."""
        return [seen for seen in self.seen if fragment in seen.path]


@contextlib.contextmanager
def recording_proxy(
    upstream: K8sApiServer, tokens: Mapping[str, str], workdir: Path
) -> Iterator[RecordingProxy]:
    """Serve on a free loopback port until the block ends; ``tokens``: token -> user name."""
    certificate, key = _self_signed(workdir)
    target = _Upstream.from_kubeconfig(upstream.kubeconfig, workdir)
    proxy = RecordingProxy(port=0, ca_file=certificate, tokens=dict(tokens))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``proxy.seen`` instead."""

        def _handle(self) -> None:
            # Only bearer tokens authenticate; anything else (Basic) is ignored, as by an
            # API server since 1.19, and the request is anonymous.
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            bearer = scheme.lower() == "bearer"
            if bearer and token.strip() not in proxy.tokens:
                self._status(401, "Unauthorized", "invalid bearer token")
                return
            seen = Seen(
                method=self.command,
                path=self.path,
                user=proxy.tokens[token.strip()] if bearer else "system:anonymous",
                impersonated=self.headers.get("Impersonate-User"),
            )
            with lock:
                proxy.seen.append(seen)
            public = urlsplit(self.path).path in _PUBLIC
            if seen.user == "system:anonymous" and not public:
                self._status(
                    403,
                    "Forbidden",
                    f'User "system:anonymous" cannot {self.command.lower()} {self.path}',
                )
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in _HOP_BY_HOP and name.lower() not in _IDENTITY_HEADERS
            }
            status, reply_headers, payload = target.forward(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in reply_headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _status(self, code: int, reason: str, message: str) -> None:
            payload = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "code": code,
                }
            ).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass(frozen=True)
class _Upstream:
    host: str
    port: int
    context: ssl.SSLContext

    @classmethod
    def from_kubeconfig(cls, path: Path, workdir: Path) -> _Upstream:
        """The kit's address and admin client certificate, from its kubeconfig."""
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the kit's kubeconfig skips verification too
        with tempfile.NamedTemporaryFile("wb", dir=workdir, suffix=".pem", delete=False) as pem:
            for key in ("client-certificate-data", "client-key-data"):
                pem.write(base64.b64decode(user[key]))
        context.load_cert_chain(pem.name)
        address = urlsplit(cluster["server"])
        return cls(host=address.hostname or "127.0.0.1", port=address.port or 443, context=context)

    def forward(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=30
        )
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _self_signed(workdir: Path) -> tuple[Path, Path]:
    certificate, key = workdir / "proxy.crt", workdir / "proxy.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(certificate), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return certificate, key
