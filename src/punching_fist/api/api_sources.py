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
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from punching_fist.api.webhooks import (
    ClientGone,
    answer_failure,
    read_limited_body,
    require_json,
    respond,
)
from punching_fist.errors import ConfigurationError, Refused, TemporaryFailure
from punching_fist.observability.metrics import Metrics
from punching_fist.resources.source import ApiSourceSpec
from punching_fist.sources.api import ApiIntake


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
        except (Refused, ConfigurationError, TemporaryFailure) as exc:
            await answer_failure(send, self._metrics, exc)
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


def describe_api_source(name: str, spec: ApiSourceSpec, schemes: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI operation of an api Source's endpoint (``api.openapi`` adds it)."""
    config = spec.config
    auth = config.authentication
    scheme = f"api_source_{name}"
    if auth is not None and auth.type == "bearer":
        schemes[scheme] = {"type": "http", "scheme": "bearer"}
    else:
        header = (auth.header if auth is not None else None) or "X-API-Key"
        schemes[scheme] = {"type": "apiKey", "in": "header", "name": header}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookError"}}}
    accepted = {
        "type": "object",
        "required": ["runId", "source", "replayed"],
        "properties": {
            "runId": {"type": "string", "format": "uuid"},
            "source": {"type": "string"},
            "replayed": {"type": "boolean", "description": "An Idempotency-Key's first run."},
        },
    }
    refusals = {
        "400": "Not a JSON object (the error says why), or an Idempotency-Key too long.",
        "401": "X-API-Key missing or wrong.",
        "413": f"Over {config.max_body_bytes} bytes.",
        "415": "Not application/json.",
        "422": "The Idempotency-Key was used with a different body.",
        "503": "The store or the key cannot be reached now (Retry-After).",
    }
    return {
        "tags": ["api sources"],
        "summary": f"Start workflow {spec.trigger_workflow} (api Source {name})",
        "description": "The JSON object becomes .source.data; the run is stored before the"
        " answer. A retry with the same Idempotency-Key answers with the first run.",
        "operationId": f"api_source_{name}",
        "security": [{scheme: []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {
            "202": {
                "description": "The run is stored and queued.",
                "content": {"application/json": {"schema": accepted}},
            },
            **{k: {"description": v, "content": error} for k, v in refusals.items()},
        },
    }
