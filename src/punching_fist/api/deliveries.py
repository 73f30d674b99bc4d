"""The delivery API: the dead-letter queue, manual re-sends, and sink status.

``GET /api/v1/deliveries?status=failed`` is the dead-letter queue;
``POST /api/v1/deliveries/{id}/retry`` re-sends one (a delivered one is re-sent as an update
where the destination allows it: the Slack message is edited, the Jira issue updated);
``GET /api/v1/sinks`` shows each sink's counters (``messagesSent``, ``lastSentTime``,
``lastError``) and the state of its circuit breaker. Reading needs a ``viewer`` token, a
re-send an ``admin`` one: it pages people again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.api.errors import http_status
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.api.routes import Offset
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.errors import Refused
from punching_fist.resources.loader import ResourceSet
from punching_fist.store.database import Database
from punching_fist.store.delivery_queries import delivery_detail, delivery_page


def deliveries_router(
    db: Database, sinks: SinkDispatch, resources: Callable[[], ResourceSet], auth: ApiAuth
) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1",
        tags=["deliveries"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )

    @router.get("/deliveries")
    async def list_deliveries(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Offset = 0,
        status: str | None = None,
        sink: str | None = None,
        run_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """Deliveries, newest first; ``status=failed`` lists the dead-lettered ones."""
        filters = {"status": status, "sink_name": sink, "run_id": run_id}
        return await delivery_page(db, filters, limit=limit, offset=offset)

    @router.get("/deliveries/{delivery_id}", responses=refusals(404))
    async def get_delivery(delivery_id: uuid.UUID) -> dict[str, Any]:
        """One delivery with its attempt log."""
        detail = await delivery_detail(db, delivery_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"delivery {delivery_id} not found")
        return detail

    @router.post(
        "/deliveries/{delivery_id}/retry",
        dependencies=[auth.requires(Role.ADMIN)],
        responses=refusals(404, 409),
    )
    async def retry_delivery(delivery_id: uuid.UUID) -> dict[str, Any]:
        """Re-send now, with a fresh attempt budget, even through an open circuit breaker."""
        try:
            await sinks.retry(delivery_id)
        except Refused as exc:
            raise HTTPException(status_code=http_status(exc), detail=exc.detail) from exc
        detail = await delivery_detail(db, delivery_id)
        assert detail is not None
        return detail

    @router.get("/sinks", tags=["sinks"])
    async def list_sinks() -> dict[str, Any]:
        """Every sink with its published status and its circuit breaker."""
        statuses = await sinks.statuses()
        breakers = sinks.breakers.states()
        items = []
        for name, sink in sorted(resources().sinks.items()):
            status = statuses.get(name)
            items.append(
                {
                    "name": name,
                    "type": sink.spec.type,
                    "status": status.model_dump(by_alias=True, exclude={"conditions"})
                    if status
                    else {"messagesSent": 0, "lastSentTime": None, "lastError": None},
                    "circuitBreaker": breakers.get(name, "closed"),
                }
            )
        return {"items": items}

    return router
