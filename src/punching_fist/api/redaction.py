"""The last look at every API answer: known secret values are taken out of JSON bodies.

What the API shows comes from the database, where step results, outputs and alerts are
stored redacted already. But a value is known only once it is resolved, and rows written
before that (or by an older version) would still hold it; so each ``/api/`` JSON answer is
redacted again on the way out, with whatever the resolver knows now. The body is decoded and
its strings redacted, never the raw bytes, so a value's JSON escaping cannot hide it and a
replacement cannot break the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RedactedApi:
    """Wraps an ASGI app; buffers ``/api/`` JSON responses and redacts them."""

    def __init__(self, app: ASGIApp, redact: Callable[[Any], Any], prefix: str = "/api/") -> None:
        self._app = app
        self._redact = redact
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def redacting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if not _is_json(message):
                    start = None
                    await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = self._redacted(b"".join(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self._app(scope, receive, redacting_send)

    def _redacted(self, body: bytes) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:  # not JSON after all: leave it as it is
            return body
        cleaned = self._redact(data)
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode()


def _is_json(start: Message) -> bool:
    for key, value in start.get("headers", []):
        if key.lower() == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False
