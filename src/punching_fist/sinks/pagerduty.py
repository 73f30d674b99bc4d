"""The ``pagerduty`` sink: Events API v2 ``trigger``, ``acknowledge`` and ``resolve``.

The ``dedup_key`` is derived from the alert (or incident) the run was about, so every result
about one alert lands on one PagerDuty incident, a retried or restarted delivery is
deduplicated by PagerDuty itself, and a later ``resolve`` finds the incident the
``trigger`` opened. About an incident, ``resolve`` is sent only once the incident resolved
(every alert of it); an earlier alert's resolution is skipped. Severities are mapped onto
PagerDuty's four; ``custom_details`` is the rendered template (a JSON or YAML object is
sent as an object, other text as ``details``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import yaml

from punching_fist.engine.status import DeliveryStatus
from punching_fist.resources.sink import PagerDutyConfig
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport
from punching_fist.sinks.correlation import short_hash
from punching_fist.sinks.credentials import credential
from punching_fist.sinks.http import check, join_url, send
from punching_fist.sinks.summary import ResultSummary, summarize
from punching_fist.templating import render

SERVICE = "pagerduty"
DEDUP_LIMIT = 255
SUMMARY_LIMIT = 1024
SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "p1": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "high": "error",
    "error": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "p3": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
}


def map_severity(severity: str) -> str:
    """PagerDuty's severity for an alert's: unknown ones are ``error`` (seen, not paged)."""
    return SEVERITIES.get(severity.strip().lower(), "error")


def dedup_key(correlation_key: str) -> str:
    key = f"punchingfist/{correlation_key}"
    return key if len(key) <= DEDUP_LIMIT else f"punchingfist/{short_hash(key, 40)}"


def error_detail(response: httpx.Response) -> str:
    """``{"status": "invalid event", "message": ..., "errors": [...]}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [str(body.get("message") or body.get("status") or "")]
    parts += [str(e) for e in body.get("errors") or []]
    return "; ".join(p for p in parts if p)[:300]


class PagerDutySink:
    def __init__(
        self,
        config: PagerDutyConfig,
        client: httpx.AsyncClient,
        *,
        secrets: SecretResolver,
        run_url: Callable[[uuid.UUID], str | None],
    ) -> None:
        self._config = config
        self._client = client
        self._secrets = secrets
        self._run_url = run_url

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        if self._config.action == "resolve" and _incident_still_open(delivery):
            # One alert of the incident resolved; the page stays until all of them have.
            return DeliveryReport(
                status=DeliveryStatus.SKIPPED,
                response={"action": "resolve", "reason": "the incident has unresolved alerts"},
            )
        routing_key = await credential(self._secrets, self._config.routing_key, field="routingKey")
        key = (
            delivery.previous.external_ref
            if delivery.previous is not None
            else dedup_key(delivery.correlation_key)
        )
        event: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": self._config.action,
            "dedup_key": key,
        }
        if self._config.action == "trigger":
            event.update(self._trigger_fields(delivery))
        response = await send(
            self._client,
            "POST",
            join_url(self._config.endpoint, "/v2/enqueue"),
            service=SERVICE,
            json=event,
        )
        check(response, service=SERVICE, detail=error_detail)
        body = response.json()
        answered = str(body.get("dedup_key") or key)
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response={
                "status": body.get("status"),
                "message": body.get("message"),
                "action": self._config.action,
                "dedup_key": answered,
            },
            external_ref=answered,
            remember=Correlation(external_ref=answered),
        )

    def _trigger_fields(self, delivery: Delivery) -> dict[str, Any]:
        context = delivery.context
        result = summarize(context)
        payload: dict[str, Any] = {
            "summary": _summary(result),
            "source": self._source(delivery, result),
            "severity": self._config.severity or map_severity(result.severity),
            "timestamp": datetime.now(UTC).isoformat(),
            "custom_details": self._details(delivery, result),
        }
        if self._config.component:
            payload["component"] = render(self._config.component, context)
        if result.labels.get("namespace"):
            payload["group"] = result.labels["namespace"]
        if result.alertname:
            payload["class"] = result.alertname
        fields: dict[str, Any] = {"payload": payload, "client": "Punching Fist"}
        url = self._run_url(delivery.run_id)
        if url:
            fields["client_url"] = url
            fields["links"] = [{"href": url, "text": "Punching Fist run"}]
        return fields

    def _source(self, delivery: Delivery, result: ResultSummary) -> str:
        if self._config.source:
            return render(self._config.source, delivery.context) or "punching-fist"
        labels = result.labels
        return (
            labels.get("instance")
            or labels.get("pod")
            or labels.get("namespace")
            or ("punching-fist")
        )

    def _details(self, delivery: Delivery, result: ResultSummary) -> dict[str, Any]:
        if self._config.template:
            text = render(self._config.template, delivery.context)
            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, dict):
                # Dates and such as text: the Events API takes JSON, not YAML's types.
                loaded: dict[str, Any] = json.loads(json.dumps(parsed, default=str))
                return loaded
            return {"details": text.strip()}
        details: dict[str, Any] = {
            "workflow": result.workflow,
            "run_id": result.run_id,
            "status": result.status,
            "auto_fixed": result.auto_fixed,
        }
        for name, value in (
            ("summary", result.summary),
            ("root_cause", result.root_cause),
            ("recommendations", result.recommendations),
            ("confidence", result.confidence),
            ("labels", dict(result.labels) or None),
        ):
            if value not in (None, "", []):
                details[name] = value
        return details


def _summary(result: ResultSummary) -> str:
    text = f"[{result.severity.upper()}] {result.alertname}: {result.summary or result.status}"
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def _incident_still_open(delivery: Delivery) -> bool:
    """The delivery is about an incident whose status is known and not resolved yet."""
    if not delivery.correlation_key.startswith("incident:"):
        return False
    incident = delivery.context.get("incident")
    status = incident.get("status") if isinstance(incident, dict) else None
    return status is not None and status != "resolved"
