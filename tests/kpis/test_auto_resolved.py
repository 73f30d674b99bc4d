"""``auto_resolved`` as the resolving UPDATE decides it, on SQLite and PostgreSQL: an approved
write in a run of the alert or of another alert of its incident (investigated once), and no
escalation before; a denied write, another incident's fix or an earlier page do not count."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import bindparam, insert, select, update

from punching_fist.store.alert_record import auto_resolved_now
from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, approvals, utcnow, workflow_runs
from tests.kpis.seed import open_incident


async def _alert(db: Database, name: str, *, escalated: bool = False) -> uuid.UUID:
    alert_id, now = uuid.uuid4(), utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            insert(alerts).values(
                id=alert_id,
                fingerprint=name,
                status="triaged",
                severity="critical",
                alert_name=name,
                source_name="am",
                received_at=now,
                last_seen_at=now,
                escalated_at=now if escalated else None,
            )
        )
    return alert_id


async def _write(db: Database, alert_id: uuid.UUID, status: str) -> None:
    run_id, now = uuid.uuid4(), utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            insert(workflow_runs).values(
                id=run_id,
                workflow_name="wf",
                alert_id=alert_id,
                status="succeeded",
                source_context={},
            )
        )
        await conn.execute(
            insert(approvals).values(
                id=uuid.uuid4(),
                run_id=run_id,
                step_name="investigate",
                status=status,
                action={"tool": "kubectl"},
                expires_at=now + timedelta(hours=1),
            )
        )


async def test_which_resolutions_count_as_automatic(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        fixed = await _alert(db, "fixed")
        sibling = await _alert(db, "sibling")  # same incident; its run was attached
        await _write(db, fixed, "approved")
        await open_incident(db, [fixed, sibling])
        paged = await _alert(db, "paged", escalated=True)
        await _write(db, paged, "approved")
        denied = await _alert(db, "denied")
        await _write(db, denied, "denied")
        elsewhere = await _alert(db, "elsewhere")  # another incident, no fix of its own
        await open_incident(db, [elsewhere])
        alone = await _alert(db, "alone")  # no incident, no fix
        everyone = [fixed, sibling, paged, denied, elsewhere, alone]
        async with db.transaction() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == bindparam("b_id"))
                .values(status="resolved", active=False, auto_resolved=auto_resolved_now()),
                [{"b_id": alert_id} for alert_id in everyone],
            )
        async with db.connect() as conn:
            rows = await conn.execute(select(alerts.c.alert_name, alerts.c.auto_resolved))
            found = {row.alert_name: row.auto_resolved for row in rows}
    finally:
        await db.close()
    assert found == {
        "fixed": True,
        "sibling": True,
        "paged": False,
        "denied": False,
        "elsewhere": False,
        "alone": False,
    }
