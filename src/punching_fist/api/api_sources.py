"""The HTTP side of api Sources: a route matching every api Source's endpoint.

Endpoints come from Source resources that change while the server runs, so the route asks
``ApiIntake`` at each request instead of being declared once. Answers: 202 ``{"runId"}``
(the same for a retry with the same ``Idempotency-Key``), 400 for a body that is not a JSON
object, 401 for a missing or wrong key, 405 for another method, 413 over ``maxBodyBytes``,
415 without ``Content-Type: application/json``, 422 for a key reused with another body, 503
when the store or the secret cannot be reached.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from punching_fist.api.errors import http_status
from punching_fist.api.webhooks import ClientGone, read_limited_body, require_json, respond
from punching_fist.errors import ConfigurationError, Refused, TemporaryFailure
from punching_fist.observability.metrics import Metrics
from punching_fist.sources.api import ApiIntake


def _error(detail: str) -> bytes:
    return json.dumps({"error": detail}).encode()


class ApiSourceApp:
    """Serves the endpoint of every api Source: authenticate, read, store, answer 202."""

    def __init__(self, intake: ApiIntake, metrics: Metrics) -> None:
        self._intake = intake
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            name, spec = self._intake.source_for(scope["path"])
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            await self._intake.authenticate(spec, headers)
            require_json(headers)
            body = await read_limited_body(receive, headers, spec.config.max_body_bytes)
            run = await self._intake.accept(name, spec, body, headers.get("idempotency-key"))
        except ClientGone:
            return
        except Refused as exc:
            status = http_status(exc)
            self._metrics.intake_rejected.labels(str(status)).inc()
            await respond(send, status, _error(exc.detail))
            return
        except ConfigurationError as exc:  # the Source is wrong, not the request
            self._metrics.intake_rejected.labels("500").inc()
            await respond(send, 500, _error(str(exc)))
            return
        except TemporaryFailure as exc:
            self._metrics.intake_rejected.labels("503").inc()
            retry_after = str(int(exc.delay) or 1).encode()
            await respond(send, 503, _error(str(exc)), [(b"retry-after", retry_after)])
            return
        outcome = "started" if run.created else "repeated"
        self._metrics.source_events.labels(name, "api", outcome).inc()
        answer = {"runId": str(run.run_id), "source": name, "replayed": not run.created}
        extra = [(b"idempotent-replayed", b"true")] if not run.created else None
        await respond(send, 202, json.dumps(answer).encode(), extra)


class ApiSourceRoute(Route):
    """Matches the endpoints of api Sources; another method there is a 405 with ``Allow``."""

    def __init__(self, intake: ApiIntake, metrics: Metrics) -> None:
        super().__init__(
            "/{path:path}",
            ApiSourceApp(intake, metrics),
            methods=["POST", "PUT"],
            include_in_schema=False,
        )
        self._intake = intake

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        method = self._intake.method(scope["path"])
        if method is None:
            return Match.NONE, {}
        if scope["method"] != method:
            return Match.PARTIAL, {}  # the router then calls handle: 405
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = self._intake.method(scope["path"])
        if method is not None and scope["method"] != method:
            raise HTTPException(405, headers={"Allow": method})
        await self.app(scope, receive, send)
