"""The global investigation budget in the database: admissions, waiting runs, token usage.

An agent step starts an investigation only once admitted (``spec.limits``
``investigationsPerMinute`` and ``llmTokensPerHour``). Admissions are ``audit_events`` rows
(kind ``investigation``, name ``admitted``) so every replica counts the same rolling window,
and token usage is what the ``llm`` audit rows recorded. A run that finds no budget is parked
``waiting_limit`` with a ``waiting`` row naming its step: durable, found again after a
restart, and released oldest first (by creation) by whichever replica sees budget free.

Each decision is one transaction; on PostgreSQL it first takes a transaction-scoped advisory
lock, so two replicas cannot both spend the last slot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection

from punching_fist.engine.status import RunStatus
from punching_fist.errors import LeaseLost
from punching_fist.store.database import Database
from punching_fist.store.tables import audit_events, workflow_runs

KIND = "investigation"
ADMITTED = "admitted"
WAITING = "waiting"
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
_LOCK_KEY = 0x5046_494E_5645_5354  # "PFINVEST": one advisory lock for every replica
_RELEASE_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class Budget:
    """The limits in force; ``None``: that limit is off."""

    per_minute: int | None = None
    tokens_per_hour: int | None = None

    @property
    def enabled(self) -> bool:
        return self.per_minute is not None or self.tokens_per_hour is not None


@dataclass(frozen=True, kw_only=True)
class Fence:
    """The claimed run asking: written only while it is still this worker's."""

    run_id: uuid.UUID
    owner: str
    attempt: int
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Released:
    """What one pass of the waker did."""

    run_ids: list[uuid.UUID]
    """Runs admitted and put back to ``pending``, oldest first."""
    waiting: int
    """Runs still waiting."""
    frees_at: datetime | None
    """When budget is next expected to free (None: free now, or nothing is spent)."""


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY - 2**63})


def _row(run_id: uuid.UUID, step: str, name: str, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "run_id": run_id,
        "step_name": step,
        "kind": KIND,
        "name": name,
        "created_at": now,
    }


def _admitted_since(conn: Connection, since: datetime) -> list[datetime]:
    events = audit_events.c
    rows = conn.execute(
        select(events.created_at)
        .where(and_(events.kind == KIND, events.name == ADMITTED, events.created_at > since))
        .order_by(events.created_at)
    )
    return [row.created_at for row in rows]


def _tokens_since(conn: Connection, since: datetime) -> list[tuple[datetime, int]]:
    events = audit_events.c
    rows = conn.execute(
        select(events.created_at, events.usage)
        .where(and_(events.kind == "llm", events.created_at > since, events.usage.is_not(None)))
        .order_by(events.created_at)
    )
    used = []
    for row in rows:
        usage = row.usage if isinstance(row.usage, dict) else {}
        tokens = sum(int(usage.get(key) or 0) for key in ("input_tokens", "output_tokens"))
        if tokens:
            used.append((row.created_at, tokens))
    return used


def _token_total(conn: Connection, since: datetime) -> int:
    """Tokens the ``llm`` audit rows recorded since ``since``, summed by the database."""
    usage = audit_events.c.usage
    tokens = func.coalesce(usage["input_tokens"].as_integer(), 0) + func.coalesce(
        usage["output_tokens"].as_integer(), 0
    )
    total = conn.execute(
        select(func.coalesce(func.sum(tokens), 0)).where(
            and_(audit_events.c.kind == "llm", audit_events.c.created_at > since)
        )
    ).scalar_one()
    return int(total)


def _room(
    conn: Connection, budget: Budget, now: datetime, *, when: bool = False
) -> tuple[int | None, datetime | None]:
    """How many may be admitted now (None: no count limit), and with ``when`` the moment
    more budget frees (reading the hour's usage row by row only then, and only when over)."""
    room: int | None = None
    frees: list[datetime] = []
    if budget.per_minute is not None:
        admitted = _admitted_since(conn, now - MINUTE)
        room = max(budget.per_minute - len(admitted), 0)
        if admitted:
            # The oldest admission leaves the window first; with no room, that is the wait.
            frees.append(admitted[0] + MINUTE)
    if budget.tokens_per_hour is not None:
        total = _token_total(conn, now - HOUR)
        if total >= budget.tokens_per_hour:
            room = 0
            for at, tokens in _tokens_since(conn, now - HOUR) if when else ():
                total -= tokens
                if total < budget.tokens_per_hour:
                    frees.append(at + HOUR)
                    break
    return room, (min(frees) if frees else None)


def _older_waiting(conn: Connection, fence: Fence) -> bool:
    runs = workflow_runs.c
    older = or_(
        runs.created_at < fence.created_at,
        and_(runs.created_at == fence.created_at, runs.id < fence.run_id),
    )
    found = conn.execute(
        select(runs.id)
        .where(and_(runs.status == RunStatus.WAITING_LIMIT.value, runs.id != fence.run_id, older))
        .limit(1)
    ).first()
    return found is not None


def _fenced_park(conn: Connection, fence: Fence, now: datetime) -> None:
    runs = workflow_runs.c
    parked = conn.execute(
        update(workflow_runs)
        .where(
            and_(runs.id == fence.run_id, runs.lease_owner == fence.owner),
            runs.attempt == fence.attempt,
        )
        .values(status=RunStatus.WAITING_LIMIT.value, updated_at=now)
    )
    if parked.rowcount != 1:
        raise LeaseLost(f"run {fence.run_id} is no longer this worker's")


def _admit_or_park(conn: Connection, args: tuple[Fence, str, Budget, datetime]) -> bool:
    fence, step, budget, now = args
    _lock(conn)
    events = audit_events.c
    already = conn.execute(
        select(events.id)
        .where(
            and_(
                events.run_id == fence.run_id,
                events.step_name == step,
                events.kind == KIND,
                events.name == ADMITTED,
            )
        )
        .limit(1)
    ).first()
    if already is not None:  # a retry, a re-run after a crash, a resume after approval
        return True
    room, _ = _room(conn, budget, now)
    if (room is None or room > 0) and not _older_waiting(conn, fence):
        conn.execute(insert(audit_events), _row(fence.run_id, step, ADMITTED, now))
        return True
    _fenced_park(conn, fence, now)
    conn.execute(insert(audit_events), _row(fence.run_id, step, WAITING, now))
    return False


def _waiting(conn: Connection, limit: int) -> list[tuple[uuid.UUID, str]]:
    """Waiting runs, oldest first, each with the step it waits to start."""
    runs = workflow_runs.c
    events = audit_events.c
    ids = [
        row.id
        for row in conn.execute(
            select(runs.id)
            .where(runs.status == RunStatus.WAITING_LIMIT.value)
            .order_by(runs.created_at, runs.id)
            .limit(limit)
        )
    ]
    if not ids:
        return []
    steps: dict[uuid.UUID, str] = {}
    for row in conn.execute(
        select(events.run_id, events.step_name)
        .where(and_(events.run_id.in_(ids), events.kind == KIND, events.name == WAITING))
        .order_by(events.created_at)
    ):
        steps[row.run_id] = row.step_name  # the latest wait of each run
    return [(run_id, steps.get(run_id, "")) for run_id in ids]


def _count_waiting(conn: Connection) -> int:
    count = conn.execute(
        select(func.count())
        .select_from(workflow_runs)
        .where(workflow_runs.c.status == RunStatus.WAITING_LIMIT.value)
    )
    return int(count.scalar_one())


def _release(conn: Connection, args: tuple[Budget, datetime]) -> Released:
    budget, now = args
    _lock(conn)
    room, frees_at = _room(conn, budget, now, when=True) if budget.enabled else (None, None)
    take = _RELEASE_BATCH if room is None else min(room, _RELEASE_BATCH)
    released: list[uuid.UUID] = []
    if take > 0:
        for run_id, step in _waiting(conn, take):
            moved = conn.execute(
                update(workflow_runs)
                .where(
                    and_(
                        workflow_runs.c.id == run_id,
                        workflow_runs.c.status == RunStatus.WAITING_LIMIT.value,
                    )
                )
                .values(status=RunStatus.PENDING.value, updated_at=now)
            )
            if moved.rowcount == 1:
                conn.execute(insert(audit_events), _row(run_id, step, ADMITTED, now))
                released.append(run_id)
        if budget.enabled and released:
            _, frees_at = _room(conn, budget, now, when=True)
    return Released(run_ids=released, waiting=_count_waiting(conn), frees_at=frees_at)


class InvestigationBudgetStore:
    """The budget's transactions."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def admit_or_park(self, fence: Fence, step: str, budget: Budget, now: datetime) -> bool:
        """Admit the step's investigation now (True), or park the run ``waiting_limit``.

        Admitted when budget is left and no older run waits (first come, first served).
        """
        return await self._db.run_transaction(_admit_or_park, (fence, step, budget, now))

    async def release(self, budget: Budget, now: datetime) -> Released:
        """Admit waiting runs, oldest first, as far as the budget allows (all without one)."""
        return await self._db.run_transaction(_release, (budget, now))

    async def waiting(self) -> int:
        async with self._db.connect() as conn:
            return await conn.run_sync(_count_waiting)
