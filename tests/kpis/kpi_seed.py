"""Three incidents over two hours of a fake clock, written through the store functions the
engine calls (triage, escalation, feedback) and the columns correlation writes; the figures
each KPI must come to are worked out in ``EXPECTED``'s comments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from punching_fist.store import alert_record
from punching_fist.store.database import Database
from punching_fist.store.feedback import NewFeedback, record_feedback
from punching_fist.store.tables import alerts, audit_events, step_results, workflow_runs
from tests.kpis.seed import open_incident
from tests.support.fake_clock import FakeClock

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PRICES = {"gpt-4o-mini": {"inputPerMillion": 0.15, "outputPerMillion": 0.60}}


async def _alert(
    db: Database, clock: FakeClock, *, source: str, severity: str, name: str
) -> uuid.UUID:
    alert_id = uuid.uuid4()
    async with db.transaction() as conn:
        await conn.execute(
            insert(alerts).values(
                id=alert_id,
                fingerprint=name,
                status="received",
                severity=severity,
                alert_name=name,
                source_name=source,
                received_at=clock.now(),
                last_seen_at=clock.now(),
                created_at=clock.now(),
            )
        )
    return alert_id


async def _run(
    db: Database,
    clock: FakeClock,
    alert_id: uuid.UUID,
    *,
    agent: str,
    usage: tuple[str, int, int] | None = None,
) -> uuid.UUID:
    run_id = uuid.uuid4()
    async with db.transaction() as conn:
        await conn.execute(
            insert(workflow_runs).values(
                id=run_id,
                workflow_name="triage",
                alert_id=alert_id,
                status="succeeded",
                source_context={},
                created_at=clock.now(),
            )
        )
        await conn.execute(
            insert(step_results).values(
                id=uuid.uuid4(),
                run_id=run_id,
                position=0,
                name="investigate",
                type="agent",
                status=agent,
            )
        )
        if usage is not None:
            model, spent_in, spent_out = usage
            await conn.execute(
                insert(audit_events).values(
                    id=uuid.uuid4(),
                    run_id=run_id,
                    step_name="investigate",
                    kind="llm",
                    name=model,
                    usage={"input_tokens": spent_in, "output_tokens": spent_out},
                    created_at=clock.now(),
                )
            )
    return run_id


async def _triage(db: Database, clock: FakeClock, alert_id: uuid.UUID, seconds: int) -> None:
    await clock.advance(seconds)
    await alert_record.triage_completed(
        db, alert_id, clock.now(), analysis={"summary": "x"}, confidence=0.5
    )


async def _resolve(db: Database, alert_id: uuid.UUID, at: datetime, *, auto: bool) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(status="resolved", resolved_at=at, active=False, auto_resolved=auto)
        )


async def _feedback(
    db: Database, clock: FakeClock, incident_id: uuid.UUID, correct: bool, needed: bool | None
) -> None:
    await clock.advance(1)
    given = NewFeedback(
        incident_id=incident_id,
        root_cause_correct=correct,
        human_needed=needed,
        given_by="sre-lead",
        source="api",
    )
    assert await record_feedback(db, given, now=clock.now()) is not None


async def seed(db: Database, clock: FakeClock) -> dict[str, Any]:
    """Incidents A (critical, escalated, resolved in 600 s), B (warning, auto-resolved in
    1200 s), C (critical, source ``other``, escalated, open)."""
    # A: two alerts; one investigation (the second alert's step attached to it, skipped).
    a1 = await _alert(db, clock, source="am", severity="critical", name="a1")
    a1_run = await _run(db, clock, a1, agent="succeeded", usage=("gpt-4o-mini", 1000, 200))
    await _triage(db, clock, a1, 30)
    await alert_record.escalated(db, a1_run, "pd", clock.now())
    await clock.advance(30)
    a2 = await _alert(db, clock, source="am", severity="critical", name="a2")
    await _run(db, clock, a2, agent="skipped")
    await _triage(db, clock, a2, 90)
    incident_a = await open_incident(
        db, [a1, a2], created_at=T0, resolved_at=T0 + timedelta(seconds=600)
    )
    await _resolve(db, a1, T0 + timedelta(seconds=600), auto=False)
    await _resolve(db, a2, T0 + timedelta(seconds=600), auto=False)
    await _feedback(db, clock, incident_a, True, True)

    await clock.advance(3600 - (clock.now() - T0).total_seconds())
    opened_b = clock.now()
    b1 = await _alert(db, clock, source="am", severity="warning", name="b1")
    await _run(db, clock, b1, agent="succeeded")
    await _triage(db, clock, b1, 10)
    incident_b = await open_incident(
        db,
        [b1],
        created_at=opened_b,
        resolved_at=opened_b + timedelta(seconds=1200),
        severity="warning",
    )
    await _resolve(db, b1, opened_b + timedelta(seconds=1200), auto=True)
    await _feedback(db, clock, incident_b, False, None)
    await _feedback(db, clock, incident_b, True, None)

    await clock.advance(7200 - (clock.now() - T0).total_seconds())
    opened_c = clock.now()
    c1 = await _alert(db, clock, source="other", severity="critical", name="c1")
    c1_run = await _run(db, clock, c1, agent="failed", usage=("unknown-model", 500, 100))
    await _triage(db, clock, c1, 50)
    await alert_record.escalated(db, c1_run, "pd", clock.now())
    incident_c = await open_incident(db, [c1], created_at=opened_c)
    await _feedback(db, clock, incident_c, True, False)
    return {"a": incident_a, "b": incident_b, "c": incident_c}


EXPECTED = {
    "alerts": 4,
    "incidents": 3,
    # Triage 30, 90, 10, 50 s: nearest rank p50 = 2nd of 4 = 30, p90 = 4th = 90.
    "timeToTriage": {"count": 4, "meanSeconds": 45.0, "p50Seconds": 30.0, "p90Seconds": 90.0},
    # A 600 s, B 1200 s; C is open.
    "timeToResolve": {"count": 2, "meanSeconds": 900.0, "p50Seconds": 600.0, "p90Seconds": 1200.0},
    # a1, a2 resolved by people, b1 on its own fix.
    "autoResolutionRate": {"value": 0.3333, "numerator": 1, "denominator": 3},
    # A and C paged someone.
    "escalationRate": {"value": 0.6667, "numerator": 2, "denominator": 3},
    # A: a person was needed; C: not.
    "escalationAccuracy": {"value": 0.5, "numerator": 1, "denominator": 2},
    # A right, B wrong then right, C right.
    "aiAccuracy": {"value": 0.75, "numerator": 3, "denominator": 4},
    # A's first alert, B, C (failed, but it ran); A's second alert's step was attached.
    "investigations": 3,
    "investigationsPerIncident": 1.0,
}
