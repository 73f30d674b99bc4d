"""The intake's span: each webhook POST, from its first byte to its answer, when tracing is on.

A middleware outside the whole app, so the span covers what the intake does (reading the
body, authentication, parsing, the group commit) and is current when the alerts are turned
into runs: their runs store it and continue the trace (``observability.tracing``). Only
added when tracing is on; off, requests never pass through it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from punching_fist.observability.tracing import Tracing, annotate


class TracedIntake:
    """ASGI middleware: a span named ``intake`` around each POST to a webhook path."""

    def __init__(self, app: ASGIApp, tracing: Tracing, serves: Callable[[str], bool]) -> None:
        self._app = app
        self._tracing = tracing
        self._serves = serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self._serves(scope["path"]):
            await self._app(scope, receive, send)
            return
        status = 0

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attributes = {"http.request.method": "POST", "url.path": scope["path"]}
        with self._tracing.span("intake", attributes) as span:
            await self._app(scope, receive, answering)
            failed = f"answered {status}" if status >= 500 else None
            annotate(span, {"http.response.status_code": status}, error=failed)
