"""Putting a batch's new alerts into incidents, and closing incidents whose alerts ended.

Called by ``engine.intake.record_alerts`` inside the intake's transaction, in two steps
around the alert rows' own writes: ``Correlator.assign`` (before: the incident each new
alert joins or opens, written first because the alerts refer to it) and
``Correlator.settle`` (after: the incidents joined and a relationship per join, which refers
to the alerts, and the incidents left with no active alert, resolved). Repeats, most of a
busy intake, cost nothing here.

An incident takes an alert sharing one of its correlation keys while it is not resolved, or
within ``window`` of its last alert or its resolution (which reopens it); later, the key
goes to a new incident.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from punching_fist.incidents.correlation import (
    CorrelationKey,
    KeyKind,
    Workload,
    correlation_keys,
    higher_severity,
    workload_of,
)
from punching_fist.resources.incident_settings import IncidentSettings
from punching_fist.store.incident_joins import Relationship, write_joins
from punching_fist.store.incident_reads import read_batch
from punching_fist.store.incidents import (
    OPEN,
    RESOLVED,
    IncidentRow,
    KeyHolder,
    lock_keys,
    resolve_finished,
    write_incidents,
)
from punching_fist.store.tables import utcnow

_DEFAULTS = IncidentSettings()
RULE_CONFIDENCE = 1.0
TITLE_CHARS = 255


@dataclass(slots=True, kw_only=True)
class NewAlert:
    """A new alert row of the batch (its lifecycle began, or a resolution never seen firing)."""

    alert_id: uuid.UUID
    source_name: str
    fingerprint: str
    alert_name: str
    severity: str
    labels: Mapping[str, str]
    firing: bool
    group_key: str | None
    row: dict[str, Any]
    """The ``alerts`` row, not yet written: ``incident_id`` is set here."""


@dataclass(slots=True)
class Assignment:
    """What ``assign`` decided, for ``settle`` and for the runs' source context."""

    incidents: dict[uuid.UUID, IncidentRow] = field(default_factory=dict)
    of_alert: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    opened_by: set[uuid.UUID] = field(default_factory=set)
    """Alerts that opened their incident (the first of it)."""
    relationships: list[Relationship] = field(default_factory=list)
    to_check: set[uuid.UUID] = field(default_factory=set)
    """Incidents that may have no active alert left after this batch."""

    def context(self, alert_id: uuid.UUID, incident_id: uuid.UUID | None) -> dict[str, Any]:
        """``.source.incident`` of a run: which incident, and whether its alert opened it."""
        found = self.incidents.get(incident_id) if incident_id is not None else None
        if found is None:
            return {"id": str(incident_id)} if incident_id is not None else {}
        return {
            "id": str(found.id),
            "title": found.title,
            "workload": found.workload,
            "opened": alert_id in self.opened_by,
        }


_Join = tuple[IncidentRow, CorrelationKey, KeyHolder]
"""An incident, the key an alert joins it by, and that key's holder (the parent alert)."""


class Correlator:
    """The rules in force (the OperatorConfig's ``spec.incidents``, read per batch so a
    reload applies to the next one) and the clock the intake stamps a batch with."""

    def __init__(
        self,
        settings: Callable[[], IncidentSettings | None] | IncidentSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings if callable(settings) else (lambda: settings)
        self._seen: IncidentSettings | None = None
        self.window = IncidentSettings().window_length
        self.label_sets: tuple[tuple[str, ...], ...] = ()
        self.now = clock

    def _refresh(self) -> None:
        settings = self._settings() or _DEFAULTS
        if settings is not self._seen:
            self._seen = settings
            self.window = settings.window_length
            self.label_sets = tuple(tuple(names) for names in settings.correlate_by)

    def assign(
        self,
        conn: Any,
        new: Sequence[NewAlert],
        resolved: Mapping[uuid.UUID, uuid.UUID | None],
        now: datetime,
    ) -> Assignment:
        """``resolved``: alert id → incident id of the lifecycles this batch ends."""
        done = Assignment()
        self._refresh()
        ending = {incident for incident in resolved.values() if incident is not None}
        if not new and not ending:
            return done
        workloads = [workload_of(alert.labels) for alert in new]
        keys = [
            correlation_keys(
                source_name=alert.source_name,
                fingerprint=alert.fingerprint,
                labels=alert.labels,
                group_key=alert.group_key,
                workload=workload,
                label_sets=self.label_sets,
            )
            for alert, workload in zip(new, workloads, strict=True)
        ]
        # Fingerprints are not stored as keys: their previous lifecycle is in ``alerts``.
        every_key = {k.key for ks in keys for k in ks if k.kind is not KeyKind.FINGERPRINT}
        lock_keys(conn, every_key)
        reads = read_batch(conn, every_key, {(a.source_name, a.fingerprint) for a in new}, ending)
        holders, previous = reads.holders, reads.previous
        for alert, alert_keys in zip(new, keys, strict=True):
            earlier = previous.get((alert.source_name, alert.fingerprint))
            if earlier is not None:
                holders[alert_keys[0].key] = earlier
        done.incidents.update(reads.incidents)
        written: dict[str, KeyHolder] = {}
        alike: dict[tuple[str, ...], _Join] = {}
        for alert, alert_keys, workload in zip(new, keys, workloads, strict=True):
            shared = tuple(key.key for key in alert_keys[1:])
            if not self._follow(done, alert, alert_keys[0].key, alike.get(shared), holders, now):
                self._place(done, alert, alert_keys, workload, holders, written, now)
                if shared:
                    holder = holders[shared[0]]
                    alike[shared] = (done.incidents[holder.incident_id], alert_keys[1], holder)
        # An alert that fired and ended within this batch: its incident is the batch's own.
        done.to_check = ending | {
            done.of_alert[alert_id]
            for alert_id, incident in resolved.items()
            if incident is None and alert_id in done.of_alert
        }
        write_incidents(conn, done.incidents.values(), written, now)
        return done

    def _live(self, incident: IncidentRow | None, now: datetime) -> bool:
        if incident is None:
            return False
        if incident.status != RESOLVED:
            return True
        last = max(
            t for t in (incident.last_alert_at, incident.resolved_at, incident.created_at) if t
        )
        return now - last <= self.window

    def _follow(
        self,
        done: Assignment,
        alert: NewAlert,
        fingerprint_key: str,
        join: _Join | None,
        holders: dict[str, KeyHolder],
        now: datetime,
    ) -> bool:
        """Join ``alert`` the way the batch's first alert with the same keys past the
        fingerprint was placed; False when it must be placed on its own (``_place``).

        A storm's alerts share their group, workload and label keys: once one of them is
        placed, each of those keys is held by a live incident (a live holder stays for the
        batch: nothing here makes an incident less live), so every later alike alert without
        a live previous lifecycle of its own joins through the first of them, which is what
        ``_place`` would decide for it, without trying every key again.
        """
        if join is None:
            return False
        own = holders.get(fingerprint_key)
        if own is not None and self._live(done.incidents.get(own.incident_id), now):
            return False  # a refire: its own lifecycle's incident comes first
        incident, key, holder = join
        _join(incident, alert, now)
        done.relationships.append(
            Relationship(holder.alert_id, alert.alert_id, "related", incident.id, key.reason)
        )
        alert.row["incident_id"] = incident.id
        done.of_alert[alert.alert_id] = incident.id
        holders[fingerprint_key] = KeyHolder(incident.id, alert.alert_id)
        return True

    def _place(
        self,
        done: Assignment,
        alert: NewAlert,
        alert_keys: list[CorrelationKey],
        workload: Workload | None,
        holders: dict[str, KeyHolder],
        written: dict[str, KeyHolder],
        now: datetime,
    ) -> None:
        joined: tuple[IncidentRow, CorrelationKey, KeyHolder] | None = None
        for key in alert_keys:
            holder = holders.get(key.key)
            if holder is not None and self._live(done.incidents.get(holder.incident_id), now):
                joined = (done.incidents[holder.incident_id], key, holder)
                break
        if joined is None:
            incident = _opened(alert, workload, now)
            done.incidents[incident.id] = incident
            done.opened_by.add(alert.alert_id)
        else:
            incident, key, holder = joined
            _join(incident, alert, now)
            kind = "duplicate" if key.kind is KeyKind.FINGERPRINT else "related"
            done.relationships.append(
                Relationship(holder.alert_id, alert.alert_id, kind, incident.id, key.reason)
            )
        alert.row["incident_id"] = incident.id
        done.of_alert[alert.alert_id] = incident.id
        for key in alert_keys:
            holder = holders.get(key.key)
            if holder is not None and holder.incident_id == incident.id:
                continue  # already the incident's: the first alert stays the parent
            if holder is not None and self._live(done.incidents.get(holder.incident_id), now):
                continue  # another live incident holds it: it stays there
            holders[key.key] = KeyHolder(incident.id, alert.alert_id)
            if key.kind is not KeyKind.FINGERPRINT:
                written[key.key] = holders[key.key]

    def settle(self, conn: Any, done: Assignment, now: datetime) -> list[uuid.UUID]:
        """After the alert rows: the incidents joined, their relationships, and the incidents
        whose alerts all ended."""
        joined = [row for row in done.incidents.values() if row.changed and not row.new]
        write_joins(conn, joined, done.relationships, RULE_CONFIDENCE, now)
        return resolve_finished(conn, done.to_check, now)


def _opened(alert: NewAlert, workload: Workload | None, now: datetime) -> IncidentRow:
    where = f" on {workload}" if workload is not None else ""
    return IncidentRow(
        id=uuid.uuid4(),
        title=f"{alert.alert_name}{where}"[:TITLE_CHARS],
        status=OPEN if alert.firing else RESOLVED,
        severity=alert.severity or "unknown",
        alerts_count=1,
        created_at=now,
        last_alert_at=now,
        resolved_at=None if alert.firing else now,
        mttr_seconds=None if alert.firing else 0,
        workload=str(workload) if workload is not None else None,
        new=True,
        changed=True,
    )


def _join(incident: IncidentRow, alert: NewAlert, now: datetime) -> None:
    incident.alerts_count += 1
    incident.severity = higher_severity(incident.severity, alert.severity or "unknown")
    incident.last_alert_at = now
    if alert.firing and incident.status == RESOLVED:
        # Reopened within the window; its investigation, if any, still stands.
        incident.status = OPEN
        incident.resolved_at = None
        incident.mttr_seconds = None
    incident.changed = True
