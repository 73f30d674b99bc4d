"""One intake batch with many repeats, on SQLite and PostgreSQL: every alert counted once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from punching_fist.engine.intake import IncomingAlert, Outcome, record_alerts
from punching_fist.store.database import Database
from punching_fist.store.tables import alerts


def incoming(fingerprint: str, *, summary: str = "s", firing: bool = True) -> IncomingAlert:
    return IncomingAlert(
        source_name="am",
        workflow_name="wf",
        fingerprint=fingerprint,
        firing=firing,
        alert_name="A",
        severity="critical",
        summary=summary,
        description=None,
        labels={"alertname": "A", "fp": fingerprint},
        annotations={"summary": summary},
        starts_at=None,
        ends_at=None,
        generator_url="",
        passes_filters=True,
        run_on_resolved=False,
        source_context=lambda: {"name": "am"},
    )


async def rows(db: Database) -> dict[str, Any]:
    async with db.connect() as conn:
        result = await conn.execute(select(alerts).order_by(alerts.c.fingerprint))
        return {row.fingerprint: row for row in result}


async def test_repeats_in_one_batch(database: Database) -> None:
    first = await database.run_transaction(record_alerts, [incoming("a"), incoming("b")])
    assert [r.outcome for r in first] == [Outcome.NEW, Outcome.NEW]
    batch = [
        incoming("a", summary="a2"),
        incoming("b", summary="b2"),
        incoming("a", summary="a3"),  # the same alert twice in one batch
        incoming("c"),
    ]
    second = await database.run_transaction(record_alerts, batch)
    assert [r.outcome for r in second] == [
        Outcome.REPEAT,
        Outcome.REPEAT,
        Outcome.REPEAT,
        Outcome.NEW,
    ]
    assert second[0].alert_id == second[2].alert_id == first[0].alert_id
    stored = await rows(database)
    assert stored["a"].occurrences == 3
    assert stored["b"].occurrences == 2
    assert stored["c"].occurrences == 1
    assert stored["a"].annotations == {"summary": "a3"}  # the latest annotations win
    assert stored["b"].annotations == {"summary": "b2"}
    assert stored["a"].last_seen_at > stored["a"].received_at
    assert isinstance(stored["a"].id, uuid.UUID)
