"""Who posts an incident's first message, when several of its runs deliver at once.

The first delivery of a sink about an incident makes the thing every later one refers to:
the Slack thread's parent, the Jira issue. Five alerts of one incident arrive together and
their runs deliver within milliseconds, before any has stored what it posted; each would
then start its own thread. So the first delivery claims the ``sink_correlations`` row before
it sends (a placeholder with an empty ``external_ref``), and the others wait until the claim
is filled, then reply to it. A claim whose holder went away (a crash, a dead-lettered
delivery) is taken over once it is older than ``stale``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from punching_fist.store.database import Database
from punching_fist.store.tables import sink_correlations

CLAIMED = ""
"""``external_ref`` of a claim not filled yet."""


@dataclass(frozen=True, kw_only=True)
class ClaimOutcome:
    mine: bool
    """This delivery sends the first message (the claim is its own)."""
    external_ref: str | None = None
    data: dict[str, Any] | None = None
    """What the first delivery stored, once it did (``external_ref`` set)."""


def _where(sink_name: str, key: str) -> Any:
    return and_(
        sink_correlations.c.sink_name == sink_name, sink_correlations.c.correlation_key == key
    )


def _claim(conn: Connection, args: tuple[str, str, uuid.UUID, datetime, timedelta]) -> ClaimOutcome:
    sink_name, key, run_id, now, stale = args
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    inserted = conn.execute(
        dialect_insert(sink_correlations)
        .values(
            sink_name=sink_name,
            correlation_key=key,
            external_ref=CLAIMED,
            data={},
            run_id=run_id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["sink_name", "correlation_key"])
    )
    if inserted.rowcount == 1:
        return ClaimOutcome(mine=True)
    row = conn.execute(select(sink_correlations).where(_where(sink_name, key))).one()
    if row.external_ref != CLAIMED:
        return ClaimOutcome(mine=False, external_ref=row.external_ref, data=row.data or {})
    if row.run_id == run_id:
        return ClaimOutcome(mine=True)  # our own claim: a later attempt of the same delivery
    if row.updated_at < now - stale:
        taken = conn.execute(
            update(sink_correlations)
            .where(
                and_(
                    _where(sink_name, key),
                    sink_correlations.c.external_ref == CLAIMED,
                    sink_correlations.c.updated_at == row.updated_at,
                )
            )
            .values(run_id=run_id, updated_at=now)
        )
        return ClaimOutcome(mine=taken.rowcount == 1)
    return ClaimOutcome(mine=False)


def _release(conn: Connection, args: tuple[str, str, uuid.UUID]) -> None:
    sink_name, key, run_id = args
    conn.execute(
        delete(sink_correlations).where(
            and_(
                _where(sink_name, key),
                sink_correlations.c.external_ref == CLAIMED,
                sink_correlations.c.run_id == run_id,
            )
        )
    )


class SinkClaims:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def claim(
        self, sink_name: str, key: str, run_id: uuid.UUID, *, now: datetime, stale: timedelta
    ) -> ClaimOutcome:
        """Claim the first message about ``key`` for ``run_id``, or learn who has it."""
        return await self._db.run_transaction(_claim, (sink_name, key, run_id, now, stale))

    async def release(self, sink_name: str, key: str, run_id: uuid.UUID) -> None:
        """Give up an unfilled claim (the delivery failed for good): the next one may post."""
        await self._db.run_transaction(_release, (sink_name, key, run_id))
