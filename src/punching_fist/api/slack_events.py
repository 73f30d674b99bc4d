"""The chat Sources' paths: Slack's Events API and slash commands (``sources/chat.py``).

The paths come from the live Sources, so the route matches dynamically, like the webhook
fallback: a POST to a path a chat Source serves is read raw (the signature is over the exact
bytes) and handed to ``ChatIntake``; other methods on it answer 405. It sits before the
webhook fallback, so a chat path never reaches the alert intake.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import Scope

from punching_fist.api.errors import http_status
from punching_fist.errors import ConfigurationError, Refused, TemporaryFailure, TooLarge
from punching_fist.observability.metrics import Metrics
from punching_fist.sources.chat import BODY_LIMIT, ChatIntake


class SlackEventsRoute(Route):
    """Add to the API's routes before the webhook fallback."""

    def __init__(self, chat: ChatIntake, metrics: Metrics) -> None:
        super().__init__("/{path:path}", self._handle, methods=["POST"], include_in_schema=False)
        self._chat = chat
        self._requests = metrics.chat_requests

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not self._chat.serves(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)

    async def _handle(self, request: Request) -> JSONResponse:
        response, outcome = await self._answer(request)
        self._requests.labels(outcome or f"refused_{response.status_code}").inc()
        return response

    async def _answer(self, request: Request) -> tuple[JSONResponse, str | None]:
        """The answer, and the outcome of a request that was handled (None: refused)."""
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            return _error(400, "invalid Content-Length header"), None
        if declared > BODY_LIMIT:
            return _error(413, f"request body exceeds the limit of {BODY_LIMIT} bytes"), None
        try:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > BODY_LIMIT:
                    raise TooLarge(f"request body exceeds the limit of {BODY_LIMIT} bytes")
            headers = {k.lower(): v for k, v in request.headers.items()}
            reply = await self._chat.handle(request.url.path, body, headers)
        except ClientDisconnect:
            return _error(400, "the body did not arrive"), None
        except Refused as exc:
            return _error(http_status(exc), exc.detail), None
        except ConfigurationError as exc:  # the Source is wrong, not the request
            return _error(500, str(exc)), None
        except TemporaryFailure as exc:
            return _error(503, str(exc), retry_after=str(int(exc.delay) or 1)), None
        return JSONResponse(reply.body, status_code=reply.status), reply.outcome


def _error(status: int, detail: str, *, retry_after: str | None = None) -> JSONResponse:
    headers = {"Retry-After": retry_after} if retry_after else None
    return JSONResponse({"error": detail}, status_code=status, headers=headers)
