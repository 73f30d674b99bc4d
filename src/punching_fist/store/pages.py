"""One page of a read-side listing, as the HTTP API answers it: rows as JSON, newest first.

Shared by the alert, run, incident and delivery listings so their ``items``/``total``/
``nextOffset`` answers and their JSON spelling of ids and times cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.engine import RowMapping

from punching_fist.store.database import Database


def jsonable(row: RowMapping) -> dict[str, Any]:
    """A row as JSON values: UUIDs as strings, dates and times in ISO 8601."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


async def page(
    db: Database,
    table: Table,
    where: ColumnElement[bool],
    order: Sequence[Any],
    *,
    limit: int,
    offset: int,
    shown: Callable[[RowMapping], dict[str, Any]] = jsonable,
) -> dict[str, Any]:
    """``limit`` rows of ``table`` matching ``where`` from ``offset``, each as ``shown`` makes
    it, with the total count."""
    query = select(table).where(where).order_by(*order).limit(limit).offset(offset)
    count = select(func.count()).select_from(table).where(where)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        total = (await conn.execute(count)).scalar() or 0
    items = [shown(row) for row in rows]
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "nextOffset": offset + len(items) if offset + len(items) < total else None,
    }
