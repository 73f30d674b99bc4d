"""The webhook intake: Alertmanager notifications in, durable alerts and new runs out.

Nothing is acknowledged before it is committed: the response (202) is sent only after the
group commit that stored every alert of the notification. Refusals are precise and change
nothing: 400 invalid JSON, 401 wrong token, 404 unknown path, 413 too large, 415 not
``application/json`` (``api/webhooks.py``), 422 schema.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from punching_fist.engine.intake import IncomingAlert, IntakeResult
from punching_fist.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    SecretResolutionError,
    TemporaryFailure,
    Unauthenticated,
)
from punching_fist.observability.tracing import TRACEPARENT, current_traceparent
from punching_fist.resources.loader import format_location
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import Authentication, Source, WebhookSourceSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.sources.alertmanager import AlertmanagerAlert, AlertmanagerNotification
from punching_fist.store.group_commit import GroupCommitter


@dataclass(frozen=True, kw_only=True)
class Accepted:
    source: str
    results: list[IntakeResult]

    def body(self) -> bytes:
        """The 202 answer: what became of each alert, and the run it started.

        Formatted by hand (ids and outcomes need no escaping; the source name goes through
        ``json.dumps``): it is written once per accepted request.
        """
        alerts = ",".join(_result_json(r) for r in self.results)
        source = json.dumps(self.source)
        return f'{{"status":"accepted","source":{source},"alerts":[{alerts}]}}'.encode()


def _result_json(result: IntakeResult) -> str:
    run = f'"{result.run_id}"' if result.run_id else "null"
    return f'{{"id":"{result.alert_id}","outcome":"{result.outcome.value}","runId":{run}}}'


class WebhookIntake:
    """Validates, authenticates, filters and stores webhook notifications."""

    def __init__(
        self,
        registry: ResourceRegistry,
        committer: GroupCommitter[IncomingAlert, IntakeResult],
        secrets: SecretResolver,
    ) -> None:
        self._registry = registry
        self._committer = committer
        self._secrets = secrets

    def serves(self, path: str) -> bool:
        return self._registry.webhook(path) is not None

    def source_for(self, path: str) -> tuple[str, Source]:
        found = self._registry.webhook(path)
        if found is None:
            raise NotFound(f"no webhook source serves {path!r}")
        return found

    def body_limit(self, source: Source) -> int:
        assert isinstance(source.spec, WebhookSourceSpec)
        return source.spec.config.max_body_bytes

    async def authenticate(self, source: Source, headers: Mapping[str, str]) -> None:
        assert isinstance(source.spec, WebhookSourceSpec)
        auth = source.spec.config.authentication
        if auth is None or auth.type == "none":
            return
        presented = _presented_credential(auth, headers)
        if auth.secret_ref is None:
            raise ConfigurationError("authentication is configured without a secretRef")
        try:
            expected = await self._secrets.resolve(auth.secret_ref)
        except SecretResolutionError as exc:
            raise TemporaryFailure(f"cannot check credentials: {exc}") from exc
        if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthenticated("missing or invalid credentials")

    async def accept(self, source_name: str, source: Source, body: bytes) -> Accepted:
        """Parse and store ``body``; returns once every alert in it is committed."""
        assert isinstance(source.spec, WebhookSourceSpec)
        body = self._redacted(body)
        notification = parse_notification(body)
        whole = _Lazy(body)
        items = [_incoming(source_name, source.spec, alert, whole) for alert in notification.alerts]
        return Accepted(source=source_name, results=await self._committer.submit(items))

    def _redacted(self, body: bytes) -> bytes:
        """``body`` without secret values the server knows (a sender echoing its token, say),
        so that no alert, run or sink ever holds them. Rewritten only when one is there."""
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return body  # not JSON either: parse_notification says so
        if self._secrets.redact(text) == text:
            return body
        try:
            data = json.loads(text)
        except ValueError:
            return body
        return json.dumps(self._secrets.redact_data(data), ensure_ascii=False).encode()


def _presented_credential(auth: Authentication, headers: Mapping[str, str]) -> str | None:
    if auth.type == "bearer":
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return headers.get((auth.header or "x-api-key").lower())


def parse_notification(body: bytes) -> AlertmanagerNotification:
    """Validate ``body`` in one pass over the bytes: 400 if it is not JSON, 422 if not ours."""
    try:
        return AlertmanagerNotification.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidRequest(f"request body is not valid JSON: {errors[0]['msg']}") from exc
        problems = [f"{format_location(e['loc'])}: {e['msg']}" for e in errors]
        raise InvalidRequest(
            "not an Alertmanager webhook notification: " + "; ".join(problems),
            unprocessable=True,
        ) from exc


class _Lazy:
    """The notification as plain JSON data, decoded only if an alert of it starts a run."""

    __slots__ = ("_body", "_data")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._data: Any = None

    def get(self) -> Any:
        if self._data is None:
            self._data = json.loads(self._body)
        return self._data


# The label our alertmanager sink puts on the sibling alerts it posts (``action: annotate``).
OWN_ANNOTATION_LABEL = "punchingfist_triage"


def passes_filters(filters: Mapping[str, list[str]], labels: Mapping[str, str]) -> bool:
    """True when, for every filtered label, the alert's value is one of the allowed values.

    Our own annotation alerts never pass: routed back to us by Alertmanager they would start
    an investigation of our investigation. They are still stored, like any filtered alert.
    """
    if OWN_ANNOTATION_LABEL in labels:
        return False
    return all(labels.get(label) in allowed for label, allowed in filters.items())


def _incoming(
    source_name: str, spec: WebhookSourceSpec, alert: AlertmanagerAlert, whole: _Lazy
) -> IncomingAlert:
    labels, annotations = alert.labels, alert.annotations
    traceparent = current_traceparent()  # the intake's span (tracing on), which the run continues

    def source_context() -> dict[str, Any]:
        # Built only for alerts that start a run; most of a busy intake is repeats.
        return {
            **({TRACEPARENT: traceparent} if traceparent else {}),
            "name": source_name,
            "type": spec.type,
            "context": spec.context,
            "data": {"alert": alert.template_view(), "notification": whole.get()},
        }

    return IncomingAlert(
        source_name=source_name,
        workflow_name=spec.trigger_workflow,
        fingerprint=alert.identity(),
        firing=alert.status == "firing",
        alert_name=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        summary=annotations.get("summary") or None,
        description=annotations.get("description") or None,
        labels=labels,
        annotations=annotations,
        starts_at=alert.starts_at,
        ends_at=alert.effective_ends_at(),
        generator_url=alert.generator_url,
        passes_filters=passes_filters(spec.config.filters, labels),
        run_on_resolved=spec.config.trigger_on_resolved,
        source_context=source_context,
    )
