"""``GET /api/v1/incidents`` and ``GET /api/v1/incidents/{id}``: alerts correlated into
incidents (``incidents.assign``), read with a ``viewer`` token like the other lists.

The detail holds the incident's alerts, the relationships that joined them, its runs (the
investigating one marked), feedback (``POST .../feedback``, ``api/feedback.py``) and a
timeline: opened, alerts joined and resolved, investigation started and completed,
feedback, resolved.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.api.kpis import moment
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.api.routes import Limit, Offset
from punching_fist.store.database import Database
from punching_fist.store.incident_queries import incident_detail, list_incidents
from punching_fist.store.tables import utcnow

Status = Literal["open", "investigating", "resolved"]


def incidents_router(db: Database, auth: ApiAuth) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/incidents",
        tags=["incidents"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )

    @router.get("")
    async def get_incidents(
        limit: Limit = 50,
        offset: Offset = 0,
        status: Status | None = None,
        severity: Annotated[str | None, Query(max_length=20)] = None,
        since: Annotated[
            str | None,
            Query(
                description="Opened, or taking alerts, at or after this time: ISO 8601"
                " (2026-12-01T00:00:00Z) or an age before now (7d, 12h, 30m).",
                max_length=64,
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Incidents, newest first."""
        start = moment(since, now=utcnow(), field="since") if since is not None else None
        return await list_incidents(
            db, status=status, severity=severity, since=start, limit=limit, offset=offset
        )

    @router.get("/{incident_id}", responses=refusals(404))
    async def get_incident(incident_id: uuid.UUID) -> dict[str, Any]:
        """One incident: its alerts, relationships, runs, feedback and timeline."""
        detail = await incident_detail(db, incident_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"incident {incident_id} not found")
        return detail

    return router
