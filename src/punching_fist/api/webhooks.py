"""The HTTP side of webhook sources: a catch-all POST route in front of ``WebhookIntake``.

Kept as a plain Starlette endpoint rather than a FastAPI route: it is the hot path, and the
paths it serves come from Source resources that can change while the server runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from punching_fist.errors import IntakeError, TemporaryFailure
from punching_fist.observability.metrics import Metrics
from punching_fist.sources.webhook import WebhookIntake


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError as exc:
            raise IntakeError(400, "invalid Content-Length header") from exc
        if too_big:
            raise IntakeError(413, f"request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IntakeError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_endpoint(
    intake: WebhookIntake, metrics: Metrics
) -> Callable[[Request], Awaitable[Response]]:
    """Build the ASGI endpoint serving every webhook source's path."""

    async def endpoint(request: Request) -> Response:
        path = request.scope["path"]
        try:
            name, source = intake.source_for(path)
            await intake.authenticate(source, request.headers)
            body = await read_limited_body(request, intake.body_limit(source))
            accepted = await intake.accept(name, source, body)
        except IntakeError as exc:
            metrics.intake_rejected.labels(str(exc.status_code)).inc()
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        except TemporaryFailure as exc:
            metrics.intake_rejected.labels("503").inc()
            return JSONResponse(
                {"error": str(exc)},
                status_code=503,
                headers={"Retry-After": str(int(exc.delay) or 1)},
            )
        for result in accepted.results:
            metrics.alerts_processed.labels(name, result.outcome.value).inc()
        return JSONResponse(accepted.body(), status_code=202)

    return endpoint


class WebhooksFirst:
    """ASGI front door: POSTs to a webhook source's path skip the API router entirely.

    The API has a dozen routes; matching each webhook request against all of them before the
    catch-all cost more CPU than storing the alert. Webhook paths come from the live registry,
    so this check is one dict lookup; everything else goes to the API app unchanged.
    """

    def __init__(
        self,
        api: ASGIApp,
        intake: WebhookIntake,
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> None:
        self._api = api
        self._intake = intake
        self._webhook = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and self._intake.serves(scope["path"])
        ):
            await self._webhook(scope, receive, send)
            return
        await self._api(scope, receive, send)
