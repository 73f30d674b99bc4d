"""What the OpenAPI document says each endpoint answers, refusals and webhooks included.

FastAPI documents a route's success and its 422; the rest of what it really answers (401 with
no token, 404 for an unknown id, 503 when Kubernetes cannot check a token) is declared here
once and attached to the routes with ``refusals(...)``. The webhook sources' paths are not
FastAPI routes (``api/webhooks.py`` serves them) and change with the resources, so
``describe_webhooks`` adds them to the document each time it is asked for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from punching_fist.api.api_sources import describe_api_source
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.source import ApiSourceSpec, Source, WebhookSourceSpec
from punching_fist.sources.alertmanager import AlertmanagerNotification

_SCHEMAS = "#/components/schemas/"


class ErrorBody(BaseModel):
    """A refusal of the JSON API: what was wrong, for a person to read."""

    detail: str


class WebhookError(BaseModel):
    """A refusal of a webhook source's endpoint."""

    error: str


class WebhookAccepted(BaseModel):
    """202: every alert of the notification is stored; what became of each."""

    status: str
    source: str
    alerts: list[dict[str, Any]] = Field(description="Per alert: its id, outcome and run.")


_MEANING = {
    400: "Malformed: the body is not what the endpoint reads.",
    401: "No credentials, or unknown ones (WWW-Authenticate says which scheme).",
    403: "Known caller, not allowed: the token's role is too weak for this, or the request"
    " came from another site to an API without tokens.",
    404: "Nothing of that id.",
    409: "Its state does not allow this now (decided already, being sent right now).",
    413: "The body is over the limit.",
    415: "The body is not application/json.",
    422: "Well-formed, but not valid.",
    503: "Not now; try again (Retry-After). For a token: Kubernetes cannot check it.",
}

AUTH = (401, 403, 503)
"""What a token check answers: no or unknown token, role too weak, TokenReview unreachable."""


def refusals(*statuses: int, body: type[BaseModel] = ErrorBody) -> dict[int | str, Any]:
    """``responses=`` for a route: these statuses, each with the JSON error body."""
    content = {"application/json": {"schema": {"$ref": _SCHEMAS + body.__name__}}}
    return {status: {"description": _MEANING[status], "content": content} for status in statuses}


def describe_webhooks(app: FastAPI, resources: Callable[[], ResourceSet]) -> None:
    """``app``'s OpenAPI document, with the error bodies and the webhook paths of now."""
    base = app.openapi  # FastAPI's own document, built once

    def document() -> dict[str, Any]:
        spec = copy.deepcopy(base())
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorBody, WebhookError, WebhookAccepted):
            schemas[model.__name__] = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
        notification = AlertmanagerNotification.model_json_schema(
            by_alias=True, ref_template=_SCHEMAS + "{model}"
        )
        schemas.update(notification.pop("$defs", {}))
        schemas[AlertmanagerNotification.__name__] = notification
        schemes = spec["components"].setdefault("securitySchemes", {})
        for name, source in sorted(resources().sources.items()):
            if isinstance(source.spec, WebhookSourceSpec):
                path = source.spec.config.path
                spec["paths"].setdefault(path, {})["post"] = _webhook(name, source, schemes)
            elif isinstance(source.spec, ApiSourceSpec):
                config = source.spec.config
                operation = describe_api_source(name, source.spec, schemes)
                spec["paths"].setdefault(config.endpoint, {})[config.method.lower()] = operation
        return spec

    app.openapi = document  # type: ignore[method-assign]


def _webhook(name: str, source: Source, schemes: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(source.spec, WebhookSourceSpec)
    config = source.spec.config
    statuses = [400, 413, 415, 422, 503]
    operation: dict[str, Any] = {
        "tags": ["webhooks"],
        "summary": f"Alertmanager notifications for source {name}",
        "description": "Stored before the answer: 202 comes after the commit. Up to"
        f" {config.max_body_bytes} bytes of application/json.",
        "operationId": f"webhook_{name}",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _SCHEMAS + "AlertmanagerNotification"}}
            },
        },
    }
    auth = config.authentication
    if auth is not None and auth.type != "none":
        scheme = f"webhook_{name}"
        if auth.type == "bearer":
            schemes[scheme] = {"type": "http", "scheme": "bearer"}
        else:
            schemes[scheme] = {"type": "apiKey", "in": "header", "name": auth.header or "X-API-Key"}
        operation["security"] = [{scheme: []}]
        statuses.append(401)
    accepted = {"application/json": {"schema": {"$ref": _SCHEMAS + "WebhookAccepted"}}}
    operation["responses"] = {
        "202": {"description": WebhookAccepted.__doc__, "content": accepted},
        **{str(k): v for k, v in refusals(*sorted(statuses), body=WebhookError).items()},
    }
    return operation
