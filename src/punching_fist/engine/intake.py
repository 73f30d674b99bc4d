"""What an incoming alert starts: deduplication, lifecycles, filters, and the runs.

The rules live here; ``store.intake`` only reads the active alerts and writes the outcome.
One call decides a whole batch inside one transaction, so the intake can group many HTTP
requests into a single commit (see ``store.group_commit``) and still decide each alert
exactly once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from punching_fist.engine.queue import RunQueue
from punching_fist.engine.status import AlertStatus, RunStatus
from punching_fist.incidents.assign import Correlator, NewAlert
from punching_fist.resources.incident_settings import IncidentSettings
from punching_fist.store.intake import Active, IntakeWrites, load_active, write_intake


class Outcome(StrEnum):
    NEW = "new"  # a new lifecycle began; a run was started unless filtered
    REPEAT = "repeat"  # Alertmanager re-sent an alert that is already active
    RESOLVED = "resolved"  # the active lifecycle ended
    FILTERED = "filtered"  # stored, but the source's filters keep it from triggering
    STALE = "stale"  # a resolved notification for a lifecycle that already ended


class NotificationRef:
    """The notification an alert came in, stored once when the first of its alerts starts a
    run; its runs refer to it, so none of them holds a copy of the others' alerts.

    Its id and its row are made only then: most notifications of a busy intake are repeats
    that start nothing. Once made, the id stays, so every batch of a large notification
    refers to the same row (each inserts it if missing).
    """

    __slots__ = ("_data", "_id", "alert_count", "group_key", "source_name")

    def __init__(
        self,
        *,
        source_name: str,
        alert_count: int,
        data: Callable[[], dict[str, Any]],
        group_key: str | None = None,
    ) -> None:
        self.source_name = source_name
        self.alert_count = alert_count
        self._data = data
        self._id: uuid.UUID | None = None
        self.group_key = group_key
        """Alertmanager's ``groupKey`` when the group has labels: its alerts join one
        incident (a route without ``group_by`` puts every alert in one group, no evidence)."""

    @property
    def id(self) -> uuid.UUID:
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    def row(self, now: datetime) -> dict[str, Any]:
        """The ``notifications`` row; ``data`` is what templates read at
        ``.source.data.notification``."""
        return {
            "id": self.id,
            "source_name": self.source_name,
            "alert_count": self.alert_count,
            "data": self._data(),
            "received_at": now,
        }


@dataclass(slots=True, kw_only=True)
class IncomingAlert:
    """One alert as the intake hands it to the store, already parsed and checked.

    Not frozen: a frozen dataclass sets each of these fields through ``object.__setattr__``,
    which showed up on the intake's profile. Nothing mutates one after it is built.
    """

    source_name: str
    workflow_name: str
    fingerprint: str
    firing: bool
    alert_name: str
    severity: str
    summary: str | None
    description: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str
    passes_filters: bool
    run_on_resolved: bool
    source_context: Callable[[], dict[str, Any]]
    """Built only when the alert starts a run (most alerts of a busy intake are repeats);
    without the notification, which the run refers to instead."""
    notification: NotificationRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeResult:
    """What became of one alert."""

    outcome: Outcome
    alert_id: uuid.UUID
    run_id: uuid.UUID | None = None
    workflow: str | None = None
    """The run's workflow, for the run queue's per-workflow limit."""


_CORRELATOR = Correlator()


def record_alerts(
    conn: Connection, batch: list[IncomingAlert], *, correlator: Correlator = _CORRELATOR
) -> list[IntakeResult]:
    """Store a batch of alerts and start runs for new lifecycles; one result per alert.

    Every new alert joins an incident (``incidents.assign``); a run learns its incident at
    ``.source.incident``. Synchronous on purpose: ``Database.run_transaction`` runs it in
    one hop (see there).
    """
    now = correlator.now()
    active = load_active(conn, {(item.source_name, item.fingerprint) for item in batch})
    plan = IntakeWrites(now=now)
    results: list[IntakeResult] = []
    new_alerts = plan.new_alerts
    repeats, repeat_rows, resolutions = plan.repeats, plan.repeat_rows, plan.resolutions
    per_source = plan.per_source
    fresh: list[NewAlert] = []
    ended: dict[uuid.UUID, uuid.UUID | None] = {}

    for item in batch:
        key = (item.source_name, item.fingerprint)
        current = active.get(key)
        per_source[item.source_name] += 1
        if current is not None and item.firing:
            repeats[current.alert_id] += 1
            repeat_rows[current.alert_id] = {
                "b_id": current.alert_id,
                "b_seen": now,
                "b_annotations": item.annotations,
            }
            results.append(IntakeResult(outcome=Outcome.REPEAT, alert_id=current.alert_id))
            continue
        if current is not None:
            del active[key]
            ended[current.alert_id] = current.incident_id
            resolutions.append(
                {
                    "b_id": current.alert_id,
                    "b_resolved": item.ends_at or now,
                    "b_ends": item.ends_at,
                }
            )
            if item.run_on_resolved and not current.filtered:
                results.append(
                    IntakeResult(
                        outcome=Outcome.RESOLVED,
                        alert_id=current.alert_id,
                        run_id=_queue_run(plan, item, current.alert_id),
                        workflow=item.workflow_name,
                    )
                )
            else:
                results.append(IntakeResult(outcome=Outcome.RESOLVED, alert_id=current.alert_id))
            continue
        alert_id = uuid.uuid4()
        filtered = not item.passes_filters
        row = alert_row(alert_id, item, now, filtered=filtered)
        new_alerts.append(row)
        fresh.append(_new_alert(alert_id, item, row))
        if not item.firing:
            # A resolution we never saw fire (or saw end already): keep it on record, start nothing.
            results.append(IntakeResult(outcome=Outcome.STALE, alert_id=alert_id))
            continue
        active[key] = Active(alert_id=alert_id, filtered=filtered, incident_id=None)
        if filtered:
            results.append(IntakeResult(outcome=Outcome.FILTERED, alert_id=alert_id))
            continue
        run_id = _queue_run(plan, item, alert_id)
        results.append(
            IntakeResult(
                outcome=Outcome.NEW, alert_id=alert_id, run_id=run_id, workflow=item.workflow_name
            )
        )

    assigned = correlator.assign(conn, fresh, ended, now)
    for run in plan.new_runs:
        alert_id = run["alert_id"]
        incident_id = assigned.of_alert.get(alert_id) or ended.get(alert_id)
        if incident_id is not None:
            run["source_context"]["incident"] = assigned.context(alert_id, incident_id)
    write_intake(conn, plan)
    correlator.settle(conn, assigned, now)
    return results


def correlated_intake(
    settings: Callable[[], IncidentSettings | None],
) -> Callable[[Connection, list[IncomingAlert]], list[IntakeResult]]:
    """``record_alerts`` under the OperatorConfig's ``spec.incidents``, read per batch."""
    return partial(record_alerts, correlator=Correlator(settings))


def _new_alert(alert_id: uuid.UUID, item: IncomingAlert, row: dict[str, Any]) -> NewAlert:
    notification = item.notification
    return NewAlert(
        alert_id=alert_id,
        source_name=item.source_name,
        fingerprint=item.fingerprint,
        alert_name=row["alert_name"],
        severity=row["severity"],
        labels=item.labels,
        firing=item.firing,
        group_key=notification.group_key if notification is not None else None,
        row=row,
    )


class RunAllowance:
    """How many more runs one request may hand to the run queue (``maxRunsPerRequest``)."""

    __slots__ = ("remaining",)

    def __init__(self, limit: int) -> None:
        self.remaining = limit


class AlertRuns:
    """After an intake commit: the runs its alerts started go to the run queue.

    At most a request's allowance of them; the others are stored ``pending`` like every run,
    and the dispatcher queues them as workers free up. Nothing is dropped.
    """

    def __init__(
        self, queue: RunQueue, resolved: Callable[[list[uuid.UUID]], None] | None = None
    ) -> None:
        self._queue = queue
        self._resolved = resolved
        """Told the alerts a commit resolved (``incidents.alert_record``: KPI metrics)."""

    def committed(self, results: Iterable[object], allowance: RunAllowance) -> None:
        """``results``: a slice's, where those not an ``IntakeResult`` (refused) are skipped."""
        if self._resolved is not None:
            results = list(results)
            ended = [
                r.alert_id
                for r in results
                if isinstance(r, IntakeResult) and r.outcome is Outcome.RESOLVED
            ]
            if ended:
                self._resolved(ended)
        started = [
            (r.run_id, r.workflow)
            for r in results
            if isinstance(r, IntakeResult) and r.run_id is not None
        ]
        if not started:
            return
        at_once = started[: allowance.remaining]
        allowance.remaining -= len(at_once)
        self._queue.offer(at_once)
        later = Counter(workflow for _, workflow in started[len(at_once) :])
        for workflow, count in later.items():
            self._queue.defer(count, workflow=workflow)


def alert_row(
    alert_id: uuid.UUID, item: IncomingAlert, now: datetime, *, filtered: bool
) -> dict[str, Any]:
    if not item.firing:
        status = AlertStatus.RESOLVED
    elif filtered:
        status = AlertStatus.FILTERED
    else:
        status = AlertStatus.RECEIVED
    started = item.starts_at.isoformat() if item.starts_at else now.isoformat()
    return {
        "id": alert_id,
        "external_id": f"{item.source_name}/{item.fingerprint}/{started}/{alert_id.hex[:8]}",
        "fingerprint": item.fingerprint,
        "status": status.value,
        "severity": item.severity or "unknown",
        "alert_name": item.alert_name or "unknown",
        "summary": item.summary,
        "description": item.description,
        "labels": item.labels,
        "annotations": item.annotations,
        "received_at": now,
        "created_at": now,
        "updated_at": now,
        "source_name": item.source_name,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "generator_url": item.generator_url,
        "last_seen_at": now,
        "occurrences": 1,
        "active": item.firing,
        "resolved_at": None if item.firing else (item.ends_at or now),
    }


def _queue_run(plan: IntakeWrites, item: IncomingAlert, alert_id: uuid.UUID) -> uuid.UUID:
    run_id = uuid.uuid4()
    now = plan.now
    notification = item.notification
    if notification is not None and notification.id not in plan.notifications:
        plan.notifications[notification.id] = notification.row(now)
    plan.new_runs.append(
        {
            "id": run_id,
            "workflow_name": item.workflow_name,
            "source_name": item.source_name,
            "alert_id": alert_id,
            "status": RunStatus.PENDING.value,
            "source_context": item.source_context(),
            "notification_id": notification.id if notification is not None else None,
            "created_at": now,
            "updated_at": now,
        }
    )
    return run_id
