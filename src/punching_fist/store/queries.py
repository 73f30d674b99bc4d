"""Read-side queries behind the HTTP API: filterable, paginated lists and run details."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, and_, func, select

from punching_fist.engine.status import RunStatus
from punching_fist.store.database import Database
from punching_fist.store.notifications import select_runs, with_notification
from punching_fist.store.pages import jsonable, page
from punching_fist.store.tables import (
    alerts,
    approvals,
    audit_events,
    sink_deliveries,
    step_results,
    workflow_runs,
)


async def _page(
    db: Database, table: Table, filters: Mapping[str, Any], order: Any, limit: int, offset: int
) -> dict[str, Any]:
    conditions = [table.c[name] == value for name, value in filters.items() if value is not None]
    return await page(db, table, and_(True, *conditions), [order], limit=limit, offset=offset)


async def list_alerts(
    db: Database, filters: Mapping[str, Any], *, limit: int, offset: int
) -> dict[str, Any]:
    return await _page(db, alerts, filters, alerts.c.received_at.desc(), limit, offset)


async def list_runs(
    db: Database, filters: Mapping[str, Any], *, limit: int, offset: int
) -> dict[str, Any]:
    page = await _page(db, workflow_runs, filters, workflow_runs.c.created_at.desc(), limit, offset)
    for item in page["items"]:
        item.pop("source_context", None)  # large; the run detail has it
        _waiting_for(item)
    return page


async def pending_runs(db: Database) -> int:
    """Runs stored ``pending``: queued for a worker, or waiting in the store for room."""
    async with db.connect() as conn:
        query = select(func.count()).select_from(workflow_runs)
        count = await conn.execute(query.where(workflow_runs.c.status == RunStatus.PENDING.value))
        return int(count.scalar_one())


async def run_detail(db: Database, run_id: uuid.UUID) -> dict[str, Any] | None:
    async with db.connect() as conn:
        run = (
            (await conn.execute(select_runs().where(workflow_runs.c.id == run_id)))
            .mappings()
            .one_or_none()
        )
        if run is None:
            return None
        detail = jsonable(run)
        notification = detail.pop("notification_data")
        detail["source_context"] = with_notification(detail["source_context"], notification)
        for key, table, order in (
            ("steps", step_results, step_results.c.position),
            ("deliveries", sink_deliveries, sink_deliveries.c.created_at),
            ("audit", audit_events, audit_events.c.created_at),
            ("approvals", approvals, approvals.c.requested_at),
        ):
            rows = (
                await conn.execute(select(table).where(table.c.run_id == run_id).order_by(order))
            ).mappings()
            detail[key] = [jsonable(row) for row in rows]
    for approval in detail["approvals"]:
        approval.pop("state", None)  # the saved conversation is internal
    for step in detail["steps"]:
        step["retried"] = step["attempts"] > 1  # run again: after a failure, or a crash
    _waiting_for(detail)
    return detail


def _waiting_for(run: dict[str, Any]) -> None:
    """What a parked run waits for, in words an SRE can search the docs for."""
    if run.get("status") == RunStatus.WAITING_LIMIT.value:
        run["waitingFor"] = "investigation-limit"
    elif run.get("status") == RunStatus.WAITING_APPROVAL.value:
        run["waitingFor"] = "approval"
