"""The HTTP side of webhook sources: a bare ASGI app in front of ``WebhookIntake``.

This is the hot path, so it speaks ASGI directly rather than through Starlette's request and
response objects, whose per-request bookkeeping cost more CPU than storing the alert. The
paths it serves come from Source resources that can change while the server runs.

Only ``Content-Type: application/json`` is accepted. A web page can make a visitor's browser
send ``text/plain`` and form posts anywhere without asking; a JSON post from another site
needs a CORS preflight, which this server never grants. So no page a colleague opens can
inject alerts into a source without authentication.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from punching_fist.api.errors import http_status
from punching_fist.errors import (
    ConfigurationError,
    InvalidRequest,
    PunchingFistError,
    Refused,
    TemporaryFailure,
    TooLarge,
    UnsupportedMediaType,
)
from punching_fist.observability.metrics import Metrics
from punching_fist.sources.webhook import WebhookIntake

_JSON = (b"content-type", b"application/json")


class ClientGone(PunchingFistError):
    """The client disconnected before sending its whole body; nobody is left to answer."""


async def read_limited_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError as exc:
            raise InvalidRequest("invalid Content-Length header") from exc
        if too_big:
            raise TooLarge(f"request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def require_json(headers: Mapping[str, str]) -> None:
    """Refuse (415) any body that is not declared ``application/json`` (parameters allowed)."""
    declared = headers.get("content-type")
    if declared is None:
        raise UnsupportedMediaType(
            "Content-Type is missing: send the notification as application/json"
        )
    media_type = declared.partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type {media_type or declared!r} is not accepted: webhooks take "
            "application/json only (browsers send text/plain and forms from any web page)",
        )


async def respond(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    if extra_headers:
        headers.extend(extra_headers)
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})


def error_body(detail: str) -> bytes:
    return json.dumps({"error": detail}).encode()


IntakeFailure = Refused | ConfigurationError | TemporaryFailure


async def answer_failure(send: Send, metrics: Metrics, exc: IntakeFailure) -> None:
    """Answer an intake route's failure: a refusal its status, a wrong Source 500, an outage 503.

    Counted in ``intake_rejected`` by status; a 503 says when to retry (at least 1 s).
    """
    if isinstance(exc, Refused):
        status, detail, extra = http_status(exc), exc.detail, None
    elif isinstance(exc, ConfigurationError):  # the Source is wrong, not the request
        status, detail, extra = 500, str(exc), None
    else:
        status, detail = 503, str(exc)
        extra = [(b"retry-after", str(int(exc.delay) or 1).encode())]
    metrics.intake_rejected.labels(str(status)).inc()
    await respond(send, status, error_body(detail), extra)


class WebhookApp:
    """Serves every webhook source's path: authenticate, read, store, answer."""

    def __init__(self, intake: WebhookIntake, metrics: Metrics) -> None:
        self._intake = intake
        self._metrics = metrics
        self._counted: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        intake = self._intake
        try:
            name, source = intake.source_for(scope["path"])
            # ASGI servers hand header names over lower-cased.
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            require_json(headers)
            await intake.authenticate(source, headers)
            body = await read_limited_body(receive, headers, intake.body_limit(source))
            accepted = await intake.accept(name, source, body)
        except ClientGone:
            return
        except (Refused, ConfigurationError, TemporaryFailure) as exc:
            await answer_failure(send, self._metrics, exc)
            return
        for outcome, count in accepted.outcomes.items():
            self._count(name, outcome, count)
        if accepted.refused is None:
            await respond(send, 202, accepted.body())
            return
        # Some alerts refused, the others stored: the answer says which is which.
        status = http_status(accepted.refused)
        self._metrics.intake_rejected.labels(str(status)).inc()
        await respond(send, status, accepted.body())

    def _count(self, source: str, outcome: str, count: int) -> None:
        # A labelled child is looked up once per (source, outcome), not once per alert.
        child = self._counted.get((source, outcome))
        if child is None:
            child = self._metrics.alerts_processed.labels(source, outcome)
            self._counted[(source, outcome)] = child
        child.inc(count)


class WebhooksFirst:
    """ASGI front door: POSTs to a webhook source's path skip the API router entirely.

    The API has a dozen routes; matching each webhook request against all of them before the
    catch-all cost more CPU than storing the alert. Webhook paths come from the live registry,
    so this check is one dict lookup; everything else goes to the API app unchanged.
    """

    def __init__(self, api: ASGIApp, intake: WebhookIntake, webhooks: WebhookApp) -> None:
        self._api = api
        self._intake = intake
        self._webhooks = webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and self._intake.serves(scope["path"])
        ):
            await self._webhooks(scope, receive, send)
            return
        await self._api(scope, receive, send)
