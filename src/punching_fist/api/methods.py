"""Which methods a path allows: 405 with ``Allow``, and the API router's last route.

POSTs to a webhook source's path never reach the router (``WebhooksFirst``). Of the others:

- a POST to a path nothing serves goes to the webhook intake, which answers a precise 404
  ("no webhook source serves '/alerts'": a typo in Alertmanager's URL says which path);
- a POST to a path the API serves with other methods (``/healthz``) is not a webhook: the
  router answers ``405 Method Not Allowed`` with ``Allow``, as for any other wrong method;
- any other method on a webhook source's path answers 405 with ``Allow: POST``.

Starlette's 405 names the methods of the first route whose path matched; ``/approvals/{id}``
has two (GET and POST), so ``method_not_allowed`` answers with every method the OpenAPI
document gives the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Scope

from punching_fist.sources.webhook import WebhookIntake


class WebhookFallback(Route):
    """Append last to the API's routes; ``routes`` are those routes (this one among them)."""

    def __init__(
        self, webhooks: ASGIApp, intake: WebhookIntake, routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        super().__init__("/{path:path}", webhooks, methods=["POST"], include_in_schema=False)
        self._intake = intake
        self._routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        if scope["method"] != "POST":
            # PARTIAL: the path is served, not with this method; the router answers 405.
            served = self._intake.serves(scope["path"])
            return (Match.PARTIAL, {}) if served else (Match.NONE, {})
        for route in self._routes():
            if route is not self and route.matches(scope)[0] is not Match.NONE:
                return Match.NONE, {}  # the API's own path: its route says 405
        return super().matches(scope)


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """The handler of 405s (``app.add_exception_handler(405, ...)``): ``Allow`` lists every
    method the OpenAPI document gives the path (HEAD with GET), else what Starlette said."""
    allowed = _documented_methods(request.app.openapi(), request.scope["path"])
    if not allowed and isinstance(exc, HTTPException) and exc.headers:
        allowed = {m.strip() for m in exc.headers.get("Allow", "").split(",") if m.strip()}
    if "GET" in allowed:
        allowed.add("HEAD")
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=405,
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def _documented_methods(spec: dict[str, Any], path: str) -> set[str]:
    methods: set[str] = set()
    for template, operations in spec.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods.update(method.upper() for method in operations if method.upper() in _METHODS)
    return methods


_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})
