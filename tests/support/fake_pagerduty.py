"""A fake PagerDuty Events API v2 (``POST /v2/enqueue``) with incidents keyed by dedup_key.

Answers as PagerDuty does: 202 ``{"status": "success", "message": "Event processed",
"dedup_key": ...}``; 400 ``{"status": "invalid event", "message": "Event object is invalid",
"errors": [...]}`` for a bad routing key, action, severity or a missing summary/source; 429
``{"status": "throttle event", ...}`` when throttled (with ``Retry-After`` here). A trigger
for an open incident's dedup_key is deduplicated into it, as PagerDuty does.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import FakeHTTPService, FakeRequest, FakeResponse

SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Incident:
    dedup_key: str
    status: str
    summary: str
    severity: str
    events: list[dict[str, Any]] = field(default_factory=list)


class FakePagerDuty(FakeHTTPService):
    def __init__(self, *, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.incidents: dict[str, Incident] = {}
        self.events: list[dict[str, Any]] = []
        self._state = threading.Lock()

    def throttle_next(self, count: int, retry_after: int) -> None:
        self.fail_next(
            count,
            429,
            {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. Please retry later.",
            },
            headers={"Retry-After": str(retry_after)},
        )

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path != "/v2/enqueue" or request.method != "POST":
            return FakeResponse(404, {"status": "not found"})
        try:
            event = request.json()
        except ValueError:
            return _invalid(["Event object is not valid JSON"])
        errors = self._problems(event)
        if errors:
            return _invalid(errors)
        with self._state:
            return self._apply(event)

    def _problems(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object must be a JSON object"]
        errors = []
        if event.get("routing_key") != self.routing_key:
            errors.append("Invalid routing key")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
            errors.append("'dedup_key' is missing or blank")
        if action == "trigger":
            payload = event.get("payload") or {}
            for name in ("summary", "source"):
                if not str(payload.get(name) or "").strip():
                    errors.append(f"'payload.{name}' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append(
                    "'payload.severity' is invalid (must be one of critical, error, warning, info)"
                )
            if len(str(payload.get("summary") or "")) > 1024:
                errors.append("'payload.summary' is too long (max 1024)")
        if len(str(event.get("dedup_key") or "")) > 255:
            errors.append("'dedup_key' is too long (max 255)")
        return errors

    def _apply(self, event: dict[str, Any]) -> FakeResponse:
        self.events.append(event)
        key = str(event.get("dedup_key") or uuid.uuid4().hex)
        incident = self.incidents.get(key)
        action = event["event_action"]
        if action == "trigger":
            payload = event["payload"]
            if incident is None or incident.status == "resolved":
                incident = Incident(key, "triggered", payload["summary"], payload["severity"])
                self.incidents[key] = incident
            incident.events.append(event)
        elif incident is not None and incident.status != "resolved":
            incident.status = "acknowledged" if action == "acknowledge" else "resolved"
            incident.events.append(event)
        return FakeResponse(
            202, {"status": "success", "message": "Event processed", "dedup_key": key}
        )


def _invalid(errors: list[str]) -> FakeResponse:
    return FakeResponse(
        400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    )
