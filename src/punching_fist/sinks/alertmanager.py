"""The ``alertmanager`` sink: silence, resolve or annotate the alert a run was about.

``silence``
    ``POST /api/v2/silences`` with one equality matcher per label of the alert (or the labels
    named in ``matchers``), lasting ``duration``, with the rendered ``comment``. The silence
    id is stored per alert; the next delivery for the same alert extends that silence (same
    id, same ``startsAt``, which is what lets Alertmanager update it in place) instead of
    adding a second one. A retried attempt first looks for a silence it may already have
    created (same matchers, comment carrying the delivery's key) before creating one.

``resolve``
    ``POST /api/v2/alerts`` with the alert's labels, its ``startsAt`` and ``endsAt=now``.
    Prometheus re-sends alerts that still fire, so this only sticks if the condition is gone.

``annotate``
    Alertmanager cannot durably change the annotations of an alert Prometheus owns: an alert
    posted with the same labels replaces the annotations whole, and Prometheus' next resend
    (every ``resend_delay``, one minute by default) replaces them back. So the triage is
    posted as a *sibling* alert: the original labels plus ``punchingfist_triage="true"``
    (the ``triageLabel`` setting), with the rendered template as its annotations, ending
    after ``duration``. It sits beside the original in Alertmanager's UI and API, is grouped
    with it by any ``group_by`` that does not include the extra label, and survives resends.
    Route it away from Punching Fist's own webhook receiver (a route matching
    ``punchingfist_triage="true"`` placed first), or the sibling would start a run itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import yaml

from punching_fist.engine.status import DeliveryStatus
from punching_fist.errors import ConfigurationError, DeliveryFailed
from punching_fist.resources.sink import AlertmanagerConfig
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport
from punching_fist.sinks.correlation import short_hash
from punching_fist.sinks.http import check, join_url, send
from punching_fist.sinks.summary import alert_of, summarize
from punching_fist.templating import render

SERVICE = "alertmanager"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Prometheus-style durations: ``90s``, ``30m``, ``1h30m``, ``2d``."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ConfigurationError(f"invalid duration {text!r}: use e.g. 30m, 1h, 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s?(.*)$")


def parse_annotations(text: str) -> dict[str, str]:
    """``key: value`` lines as annotations; YAML when it parses, else line by line.

    Rendered LLM text often breaks YAML (a quote inside a quoted value), so the fallback
    reads each ``name:`` line as a new annotation, later lines as its continuation, and
    strips one pair of surrounding quotes. Text with no such line becomes ``ai_triage``.
    """
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, dict) and parsed:
        return {str(k): "" if v is None else str(v) for k, v in parsed.items()}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            current = found.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None:
            current.append(line)
    if not found:
        return {"ai_triage": text.strip()}
    return {key: _unquote("\n".join(lines).strip()) for key, lines in found.items()}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerSink:
    def __init__(
        self,
        config: AlertmanagerConfig,
        client: httpx.AsyncClient,
        *,
        run_url: Callable[[uuid.UUID], str | None],
    ) -> None:
        self._config = config
        self._client = client
        self._run_url = run_url

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        alert = alert_of(delivery.context)
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        if not labels:
            raise DeliveryFailed("alertmanager sink: the run has no alert (no labels) to act on")
        if self._config.action == "silence":
            return await self._silence(delivery, labels)
        if self._config.action == "resolve":
            return await self._resolve(delivery, alert, labels)
        return await self._annotate(delivery, alert, labels)

    # --- silence ------------------------------------------------------------------------

    async def _silence(self, delivery: Delivery, labels: Mapping[str, str]) -> DeliveryReport:
        names = self._config.matchers or sorted(labels)
        matchers = [
            {"name": name, "value": labels[name], "isRegex": False, "isEqual": True}
            for name in names
            if name in labels
        ]
        if not matchers:
            raise DeliveryFailed(f"alertmanager sink: the alert has none of the labels {names}")
        now = datetime.now(UTC)
        marker = f"[punching-fist {short_hash(delivery.correlation_key)}]"
        body: dict[str, Any] = {
            "matchers": matchers,
            "startsAt": _iso(now),
            "endsAt": _iso(now + parse_duration(self._config.duration)),
            "createdBy": self._config.created_by,
            "comment": f"{self._comment(delivery)} {marker}".strip(),
        }
        existing = await self._existing_silence(delivery, matchers, marker)
        if existing is not None:
            body["id"] = existing["id"]
            body["startsAt"] = existing["startsAt"]  # unchanged, so it is updated in place
        response = await self._post("/api/v2/silences", body)
        if response.status_code == 404 and "id" in body:
            del body["id"]  # forgotten by Alertmanager (expired and collected): start anew
            body["startsAt"] = _iso(now)
            response = await self._post("/api/v2/silences", body)
        check(response, service=SERVICE)
        silence_id = str(response.json()["silenceID"])
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response={
                "silenceID": silence_id,
                "updated": existing is not None,
                "endsAt": body["endsAt"],
            },
            external_ref=silence_id,
            remember=Correlation(external_ref=silence_id),
        )

    def _comment(self, delivery: Delivery) -> str:
        if self._config.comment:
            return render(self._config.comment, delivery.context).strip()
        result = summarize(delivery.context)
        text = f"Silenced by Punching Fist workflow {result.workflow} (run {delivery.run_id})"
        url = self._run_url(delivery.run_id)
        return f"{text}: {url}" if url else text

    async def _existing_silence(
        self, delivery: Delivery, matchers: list[dict[str, Any]], marker: str
    ) -> dict[str, Any] | None:
        """The silence to update: the one stored for this alert, or one a lost attempt made."""
        if delivery.previous is not None:
            response = await send(
                self._client,
                "GET",
                self._url(f"/api/v2/silence/{delivery.previous.external_ref}"),
                service=SERVICE,
            )
            if response.status_code != 404:
                silence: dict[str, Any] = check(response, service=SERVICE).json()
                if silence.get("status", {}).get("state") != "expired":
                    return silence
        if delivery.attempt <= 1 and delivery.previous is None:
            return None
        response = await send(self._client, "GET", self._url("/api/v2/silences"), service=SERVICE)
        wanted = sorted((m["name"], m["value"]) for m in matchers)
        for silence in check(response, service=SERVICE).json():
            found = sorted((m["name"], m["value"]) for m in silence.get("matchers") or [])
            if (
                found == wanted
                and marker in (silence.get("comment") or "")
                and silence.get("status", {}).get("state") != "expired"
            ):
                return dict(silence)
        return None

    # --- resolve and annotate -----------------------------------------------------------

    async def _resolve(
        self, delivery: Delivery, alert: Mapping[str, Any], labels: Mapping[str, str]
    ) -> DeliveryReport:
        now = datetime.now(UTC)
        posted = {
            "labels": dict(labels),
            "annotations": {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()},
            "startsAt": alert.get("startsAt") or _iso(now - timedelta(seconds=1)),
            "endsAt": _iso(now),
            "generatorURL": alert.get("generatorURL") or "",
        }
        check(await self._post("/api/v2/alerts", [posted]), service=SERVICE)
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response={"action": "resolve", "endsAt": posted["endsAt"]},
        )

    async def _annotate(
        self, delivery: Delivery, alert: Mapping[str, Any], labels: Mapping[str, str]
    ) -> DeliveryReport:
        now = datetime.now(UTC)
        sibling_labels = {**labels, self._config.triage_label: "true"}
        posted = {
            "labels": sibling_labels,
            "annotations": self._annotations(delivery),
            "startsAt": _iso(now),
            "endsAt": _iso(now + parse_duration(self._config.duration)),
            "generatorURL": self._run_url(delivery.run_id) or alert.get("generatorURL") or "",
        }
        check(await self._post("/api/v2/alerts", [posted]), service=SERVICE)
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response={
                "action": "annotate",
                "label": self._config.triage_label,
                "annotations": sorted(posted["annotations"]),
            },
        )

    def _annotations(self, delivery: Delivery) -> dict[str, str]:
        """The rendered template, read as ``key: value`` lines (the design writes it so)."""
        if not self._config.template:
            result = summarize(delivery.context)
            found = {
                "ai_summary": result.summary,
                "ai_root_cause": result.root_cause,
                "ai_recommendations": "\n".join(result.recommendations),
                "ai_workflow_status": result.status,
            }
            return {k: v for k, v in found.items() if v}
        return parse_annotations(render(self._config.template, delivery.context))

    async def _post(self, path: str, body: Any) -> httpx.Response:
        return await send(self._client, "POST", self._url(path), service=SERVICE, json=body)

    def _url(self, path: str) -> str:
        return join_url(self._config.endpoint, path)
