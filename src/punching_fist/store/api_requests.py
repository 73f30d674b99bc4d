"""Runs started by api Sources, with their ``Idempotency-Key`` in the same transaction.

The run and its key are committed together, so a client retrying a request whose answer it
never saw finds the run its first request started, whichever replica answers. A key is
remembered per Source as long as its run is kept (retention purges both).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from punching_fist.errors import InvalidRequest, StoreUnavailable
from punching_fist.store.database import Database
from punching_fist.store.tables import api_requests, utcnow
from punching_fist.store.triggers import insert_source_run


@dataclass(frozen=True, kw_only=True)
class ApiRun:
    """The run a request started, and whether this request started it (not a retry)."""

    run_id: uuid.UUID
    created: bool


async def create_api_run(
    database: Database,
    *,
    source_name: str,
    workflow_name: str,
    source_context: dict[str, Any],
    idempotency_key: str | None,
    body_sha256: str,
) -> ApiRun:
    """Store a pending run for one request; with a key seen before, that key's run.

    The same key with another body is refused (``InvalidRequest``, 422): the client reused a
    key for a different request, and answering with the first run would hide that.
    """
    for _ in range(2):  # a concurrent first request with the same key: read its run
        if idempotency_key is not None:
            found = await _known(database, source_name, idempotency_key, body_sha256)
            if found is not None:
                return found
        try:
            return await _insert(
                database,
                source_name=source_name,
                workflow_name=workflow_name,
                source_context=source_context,
                idempotency_key=idempotency_key,
                body_sha256=body_sha256,
            )
        except IntegrityError:
            if idempotency_key is None:
                raise
        except DBAPIError as exc:
            raise StoreUnavailable(f"the run could not be stored: {exc.orig}") from exc
    raise StoreUnavailable("the idempotency key's run could not be read")


async def _known(database: Database, source_name: str, key: str, body_sha256: str) -> ApiRun | None:
    try:
        async with database.connect() as conn:
            row = (
                await conn.execute(
                    select(api_requests.c.run_id, api_requests.c.body_sha256).where(
                        api_requests.c.source_name == source_name,
                        api_requests.c.idempotency_key == key,
                    )
                )
            ).first()
    except DBAPIError as exc:
        raise StoreUnavailable(f"the idempotency key could not be read: {exc.orig}") from exc
    if row is None:
        return None
    if row.body_sha256 != body_sha256:
        raise InvalidRequest(
            "Idempotency-Key was already used with a different body: send a new key for a"
            " new request",
            unprocessable=True,
        )
    return ApiRun(run_id=row.run_id, created=False)


async def _insert(
    database: Database,
    *,
    source_name: str,
    workflow_name: str,
    source_context: dict[str, Any],
    idempotency_key: str | None,
    body_sha256: str,
) -> ApiRun:
    run_id = uuid.uuid4()
    now = utcnow()
    async with database.transaction() as conn:
        await insert_source_run(
            conn,
            run_id=run_id,
            source_name=source_name,
            workflow_name=workflow_name,
            source_context=source_context,
        )
        if idempotency_key is not None:
            await conn.execute(
                insert(api_requests).values(
                    source_name=source_name,
                    idempotency_key=idempotency_key,
                    body_sha256=body_sha256,
                    run_id=run_id,
                    created_at=now,
                )
            )
    return ApiRun(run_id=run_id, created=True)
