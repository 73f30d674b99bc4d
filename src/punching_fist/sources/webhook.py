"""The webhook intake: Alertmanager notifications in, durable alerts and new runs out.

Nothing is acknowledged before it is committed: the response (202) is sent only after the
group commits that stored every alert of the notification. Refusals are precise and change
nothing: 400 invalid JSON, 401 wrong token, 404 unknown path, 413 too large, 415 not
``application/json`` (``api/webhooks.py``), 422 not a notification.

Bounded work per request: a notification is stored ``SLICE_ALERTS`` alerts per commit, and
other requests are served between its slices, so a sender of one alert never waits for
another sender's 10,000. The notification's group fields are stored once, not with each run.
A request hands at most ``maxRunsPerRequest`` runs to the run queue; the other runs are stored
``pending`` and started as workers free up.

Alerts are refused one by one (``sources.parsing``): a notification with invalid alerts, or
values the store cannot hold, gets 422 listing each refused alert by index and field, while
its other alerts are stored, and the answer says what became of them. 422, not 503: the
refused alerts would be refused again, and Alertmanager retries 5xx answers without end
(along with the valid alerts) but not 4xx ones, and logs our answer. If the store fails
half-way (503), the slices committed so far stay; the sender's retry finds them as repeats.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from punching_fist.engine.intake import (
    AlertRuns,
    IncomingAlert,
    IntakeResult,
    NotificationRef,
    RunAllowance,
)
from punching_fist.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    PermanentFailure,
    SecretResolutionError,
    TemporaryFailure,
    Unauthenticated,
)
from punching_fist.observability.tracing import TRACEPARENT, current_traceparent
from punching_fist.resources.operator_config import DEFAULT_MAX_RUNS_PER_REQUEST
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import Authentication, Source, WebhookSourceSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.sources.alertmanager import AlertmanagerAlert
from punching_fist.sources.parsing import (
    ALERTNAME_LENGTH,
    SEVERITY_LENGTH,
    Checked,
    Refusal,
    parse_notification,
)
from punching_fist.store.group_commit import GroupCommitter

SLICE_ALERTS = 100
"""Alerts of one notification stored per commit; another request waits at most one slice."""

REJECTED = "rejected"
"""The outcome of a refused alert, beside ``engine.intake.Outcome``'s."""


@dataclass(frozen=True, kw_only=True)
class Accepted:
    """What became of a notification's alerts, in its order."""

    source: str
    entries: list[str]
    """Per alert, its part of the answer (JSON), written as its slice was committed."""
    outcomes: dict[str, int]
    refused: InvalidRequest | None = None
    """Some alerts were refused (the others are stored): the answer is this refusal's."""

    def body(self) -> bytes:
        """The answer: what became of each alert, and the run it started.

        Formatted by hand (ids and outcomes need no escaping; names and problems go through
        ``json.dumps``): it is written once per request.
        """
        alerts = ",".join(self.entries)
        source = json.dumps(self.source)
        if self.refused is None:
            return f'{{"status":"accepted","source":{source},"alerts":[{alerts}]}}'.encode()
        status = "rejected" if self.outcomes.get(REJECTED) == len(self.entries) else "partial"
        error = json.dumps(self.refused.detail, ensure_ascii=False)
        return (
            f'{{"status":"{status}","source":{source},"error":{error},"alerts":[{alerts}]}}'
        ).encode()


def _result_json(result: IntakeResult, notes: list[str]) -> str:
    run = f'"{result.run_id}"' if result.run_id else "null"
    text = f'{{"id":"{result.alert_id}","outcome":"{result.outcome.value}","runId":{run}'
    if notes:
        return f'{text},"notes":{json.dumps(notes, ensure_ascii=False)}}}'
    return text + "}"


def _refusal_json(refusal: Refusal) -> str:
    errors = json.dumps(refusal.problems, ensure_ascii=False)
    return f'{{"index":{refusal.index},"outcome":"{REJECTED}","errors":{errors}}}'


class WebhookIntake:
    """Validates, authenticates, filters and stores webhook notifications."""

    def __init__(
        self,
        registry: ResourceRegistry,
        committer: GroupCommitter[IncomingAlert, IntakeResult],
        secrets: SecretResolver,
        runs: AlertRuns,
    ) -> None:
        self._registry = registry
        self._committer = committer
        self._secrets = secrets
        self._runs = runs

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
        """Parse and store ``body``; returns once every alert it accepts is committed."""
        spec = source.spec
        assert isinstance(spec, WebhookSourceSpec)
        parsed = parse_notification(self._redacted(body))
        total = len(parsed)
        group = parsed.group
        notification = NotificationRef(
            source_name=source_name,
            alert_count=total,
            data=group.template_view,
            group_key=group.group_key if group.group_key and group.group_labels else None,
        )
        allowance = RunAllowance(self._max_runs_per_request(spec))
        entries: list[str] = []
        outcomes: dict[str, int] = {}
        problems: list[str] = []
        for start in range(0, total, SLICE_ALERTS):
            if start:
                await asyncio.sleep(0)  # others' requests go on between slices
            checked = parsed.checked(start, min(start + SLICE_ALERTS, total))
            fit = [c for c in checked if isinstance(c, Checked)]
            items = [_incoming(source_name, spec, c.alert, notification) for c in fit]
            stored = await self._store(items, fit) if items else []
            self._runs.committed(stored, allowance)
            results = iter(stored)
            for entry in checked:
                if isinstance(entry, Refusal):
                    entries.append(_refusal_json(entry))
                    outcome = REJECTED
                    problems += entry.problems
                else:
                    result = next(results)
                    if isinstance(result, Refusal):  # the store refused it after all
                        entries.append(_refusal_json(result))
                        outcome = REJECTED
                        problems += result.problems
                    else:
                        entries.append(_result_json(result, entry.notes))
                        outcome = result.outcome.value
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        refused = None
        if problems:
            refused = InvalidRequest(
                f"{outcomes[REJECTED]} of {total} alerts refused, the others stored: "
                + "; ".join(problems),
                unprocessable=True,
            )
        return Accepted(source=source_name, entries=entries, outcomes=outcomes, refused=refused)

    async def _store(
        self, items: list[IncomingAlert], checked: list[Checked]
    ) -> list[IntakeResult | Refusal]:
        """One slice in one commit. Should the store refuse a value the checks let through,
        each alert is tried alone, so only the one it refuses is refused."""
        try:
            return list(await self._committer.submit(items))
        except PermanentFailure as exc:
            if len(items) == 1:
                index = checked[0].index
                problem = f"alerts[{index}]: the store refused it: {exc}"
                return [Refusal(index=index, problems=[problem])]
        out: list[IntakeResult | Refusal] = []
        for item, entry in zip(items, checked, strict=True):
            out += await self._store([item], [entry])
        return out

    def _max_runs_per_request(self, spec: WebhookSourceSpec) -> int:
        if spec.config.max_runs_per_request is not None:
            return spec.config.max_runs_per_request
        config = self._registry.current().operator_config
        if config is None:
            return DEFAULT_MAX_RUNS_PER_REQUEST
        return config.spec.limits.max_runs_per_request

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
    source_name: str,
    spec: WebhookSourceSpec,
    alert: AlertmanagerAlert,
    notification: NotificationRef,
) -> IncomingAlert:
    labels, annotations = alert.labels, alert.annotations
    traceparent = current_traceparent()  # the intake's span (tracing on), which the run continues

    def source_context() -> dict[str, Any]:
        # Built only for alerts that start a run; most of a busy intake is repeats. The
        # notification is stored once and rejoined when the run is read (store.notifications).
        return {
            **({TRACEPARENT: traceparent} if traceparent else {}),
            "name": source_name,
            "type": spec.type,
            "context": spec.context,
            "data": {"alert": alert.template_view()},
        }

    return IncomingAlert(
        source_name=source_name,
        workflow_name=spec.trigger_workflow,
        fingerprint=alert.identity(),
        firing=alert.status == "firing",
        alert_name=labels.get("alertname", "")[:ALERTNAME_LENGTH],
        severity=labels.get("severity", "")[:SEVERITY_LENGTH],
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
        notification=notification,
    )
