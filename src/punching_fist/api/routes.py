"""The JSON API: alerts, runs and health, described by the OpenAPI document.

Health probes are always open; ``/metrics`` is open unless ``spec.api.metricsAuth`` is set;
everything under ``/api/v1`` here is read-only and needs a ``viewer`` token (``api.auth``).

``/readyz`` fails (503) only when the database does not answer: a full run queue is no
reason to stop taking alerts, whose runs wait in the store (``?verbose`` shows the queue).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import text

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.observability.metrics import Metrics, RunQueueFigures
from punching_fist.store import queries
from punching_fist.store.database import Database

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
MAX_OFFSET = 10**9
"""Deeper pages mean nothing, and a database integer (2^63) would overflow into a 500."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]


def health_router(
    db: Database,
    metrics: Metrics,
    auth: ApiAuth,
    run_queue: Callable[[], RunQueueFigures] | None = None,
    *,
    investigations_waiting: Callable[[], int] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        """The process is up."""
        return "ok"

    @router.get("/readyz", response_class=PlainTextResponse, responses=refusals(503))
    async def readyz(
        verbose: Annotated[
            str | None, Query(description="Present: one line per check, and the run queue.")
        ] = None,
    ) -> str:
        """The process can serve: the database answers."""
        try:
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
            pending = await queries.pending_runs(db) if verbose is not None else 0
        except Exception as exc:  # any database failure means "not ready"
            raise HTTPException(status_code=503, detail=f"database unavailable: {exc}") from exc
        if verbose is None:
            return "ok"
        lines = ["[+]database ok"]
        if run_queue is not None:
            lines += _run_queue_lines(run_queue(), pending)
        if investigations_waiting is not None:
            lines.append(
                f"[+]investigation-limit ok: {investigations_waiting()} runs waiting for"
                " spec.limits (investigationsPerMinute, llmTokensPerHour), started in order"
            )
        return "\n".join([*lines, "readyz check passed"]) + "\n"

    @router.get(
        "/metrics",
        dependencies=[auth.metrics()],
        response_class=PrometheusText,
        responses=refusals(*AUTH),
        # A token only with spec.api.metricsAuth: none is a way in too.
        openapi_extra={"security": [{}, {"HTTPBearer": []}]},
    )
    async def prometheus_metrics() -> PrometheusText:
        """Prometheus text exposition."""
        return PrometheusText(metrics.exposition())

    return router


class PrometheusText(Response):
    """The Prometheus text format, with the Content-Type the OpenAPI document declares."""

    media_type = CONTENT_TYPE_PLAIN_0_0_4


def _run_queue_lines(queue: RunQueueFigures, pending: int) -> list[str]:
    full = queue.queued >= queue.max_queued
    lines = [
        f"[+]run-queue ok: {queue.queued} of {queue.max_queued} waiting for a worker"
        f"{' (full)' if full else ''}, {queue.running} running;"
        f" at most {queue.max_queued_per_workflow} per workflow"
    ]
    waiting = max(pending - queue.queued, 0)
    lines.append(
        f"[+]run-backlog ok: {pending} runs stored pending, {waiting} of them waiting in the"
        " store for room in the queue (none is dropped)"
    )
    return lines


def api_router(db: Database, auth: ApiAuth) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1", dependencies=[auth.requires(Role.VIEWER)], responses=refusals(*AUTH)
    )

    @router.get("/alerts", tags=["alerts"])
    async def list_alerts(
        limit: Limit = 50,
        offset: Offset = 0,
        status: str | None = None,
        severity: str | None = None,
        fingerprint: str | None = None,
        source: str | None = None,
        alertname: str | None = None,
    ) -> dict[str, Any]:
        """Alerts, newest first."""
        filters = {
            "status": status,
            "severity": severity,
            "fingerprint": fingerprint,
            "source_name": source,
            "alert_name": alertname,
        }
        return await queries.list_alerts(db, filters, limit=limit, offset=offset)

    @router.get("/runs", tags=["runs"])
    async def list_runs(
        limit: Limit = 50,
        offset: Offset = 0,
        status: str | None = None,
        workflow: str | None = None,
        alert_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """Workflow runs, newest first."""
        filters = {"status": status, "workflow_name": workflow, "alert_id": alert_id}
        return await queries.list_runs(db, filters, limit=limit, offset=offset)

    @router.get("/runs/{run_id}", tags=["runs"], responses=refusals(404))
    async def get_run(run_id: uuid.UUID) -> dict[str, Any]:
        """One run with its steps, sink deliveries, audit trail and approvals."""
        detail = await queries.run_detail(db, run_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"run {run_id} not found")
        return detail

    return router
