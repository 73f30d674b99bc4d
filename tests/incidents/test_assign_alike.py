"""The alike-alert shortcut of ``Correlator.assign`` decides what placing each alert alone does.

Random batches (seeded: deterministic) of alerts over a few groups, pods, label sets and
fingerprints (stale resolutions repeat one), against incidents of every status and age and
keys held or not, are assigned twice: with ``_follow`` and with every alert through
``_place``. Incidents, joins, relationships and the keys written must be the same. The reads
are the store's shapes built in memory: what is compared is the rule, not the database.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from punching_fist.incidents import assign
from punching_fist.resources.incident_settings import IncidentSettings
from punching_fist.store.incident_reads import BatchReads
from punching_fist.store.incidents import IncidentRow, KeyHolder

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PODS = ["web-7d9f8b6c5d-x2x4z", "db-0", "cache-bcdfg", "lonely"]


def _assigned(seed: int, monkeypatch: pytest.MonkeyPatch, *, alike: bool) -> tuple[Any, ...]:
    rng = random.Random(seed)
    statuses = [rng.choice(["open", "investigating", "resolved"]) for _ in range(rng.randint(0, 4))]
    ages = [timedelta(minutes=rng.choice([1, 10, 50, 200])) for _ in statuses]
    ids = [uuid.UUID(int=1000 + n) for n in range(len(statuses))]
    new = []
    for n in range(rng.randint(1, 40)):
        labels = {"alertname": rng.choice(["A", "B"]), "namespace": rng.choice(["x", "y"])}
        if rng.random() < 0.7:
            labels["pod"] = rng.choice(PODS)
        if rng.random() < 0.3:
            labels["team"] = rng.choice(["t1", "t2"])
        new.append(
            assign.NewAlert(
                alert_id=uuid.UUID(int=10_000 + n),
                source_name="s",
                fingerprint=f"fp{rng.randint(0, 15)}",
                alert_name="A",
                severity=rng.choice(["critical", "warning", ""]),
                labels=labels,
                firing=rng.random() < 0.8,
                group_key=rng.choice([None, "g1", "g2"]),
                row={},
            )
        )
    label_sets = rng.choice([[], [["team"]], [["team", "namespace"]]])
    held = random.Random(seed * 7)

    def read(
        _conn: Any, keys: Collection[str], pairs: Collection[tuple[str, str]], _ending: Any
    ) -> BatchReads:
        holders = {
            key: KeyHolder(held.choice(ids), uuid.UUID(int=5000 + n))
            for n, key in enumerate(sorted(keys))
            if ids and held.random() < 0.4
        }
        previous = {
            pair: KeyHolder(held.choice(ids), uuid.UUID(int=6000 + n))
            for n, pair in enumerate(sorted(pairs))
            if ids and held.random() < 0.3
        }
        rows = {
            id_: IncidentRow(
                id=id_,
                title="t",
                status=status,
                severity="warning",
                alerts_count=3,
                created_at=NOW - age - timedelta(hours=1),
                last_alert_at=NOW - age,
                resolved_at=NOW - age if status == "resolved" else None,
                workload=None,
            )
            for id_, status, age in zip(ids, statuses, ages, strict=True)
        }
        return BatchReads(holders, previous, rows)

    written: dict[str, KeyHolder] = {}
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
    monkeypatch.setattr(assign, "lock_keys", lambda _conn, _keys: None)
    monkeypatch.setattr(assign, "read_batch", read)
    monkeypatch.setattr(assign, "write_incidents", lambda _c, _r, keys, _n: written.update(keys))
    if not alike:
        monkeypatch.setattr(assign.Correlator, "_follow", lambda *_args: False)
    settings = IncidentSettings.model_validate({"correlateBy": label_sets})
    done = assign.Correlator(settings, clock=lambda: NOW).assign(None, new, {}, NOW)
    incidents = sorted(
        (r.id, r.status, r.severity, r.alerts_count, r.last_alert_at, r.resolved_at, r.new)
        for r in done.incidents.values()
    )
    rows = [alert.row for alert in new]
    return done.relationships, done.of_alert, done.opened_by, incidents, written, rows


def test_alike_alerts_join_as_placing_each_alone_would(monkeypatch: pytest.MonkeyPatch) -> None:
    joins = 0
    for seed in range(600):
        with monkeypatch.context() as patch:
            alone = _assigned(seed, patch, alike=False)
        with monkeypatch.context() as patch:
            alike = _assigned(seed, patch, alike=True)
        assert alike == alone, seed
        joins += len(alone[0])
    assert joins > 1000  # the batches had joins to take the shortcut on
