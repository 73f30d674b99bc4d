"""What the incident and KPI pages show: the store's incident queries and the KPIs of
``incidents.kpis``, per period for the charts, redacted like the API's answers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException
from markupsafe import Markup

from punching_fist.dashboard.charts import Point, bars, number, percent, seconds
from punching_fist.incidents.kpis import compute_kpis
from punching_fist.resources.kpi_settings import KpiSettings
from punching_fist.resources.loader import ResourceSet
from punching_fist.store.database import Database
from punching_fist.store.incident_queries import incident_detail, list_incidents
from punching_fist.store.kpis import KpiFilter

INCIDENT_STATUSES = ["open", "investigating", "resolved"]
SEVERITIES = ["critical", "warning", "info"]
SINCE = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
PERIODS = {
    "24h": (timedelta(hours=1), 24, "%H:00"),
    "7d": (timedelta(days=1), 7, "%m-%d"),
    "30d": (timedelta(days=1), 30, "%m-%d"),
}
"""A KPI window: the length of a bar, how many bars, how a bar is labelled."""


@dataclass(frozen=True, kw_only=True)
class Chart:
    title: str
    svg: Markup


class IncidentViews:
    def __init__(
        self,
        database: Database,
        redact: Callable[[Any], Any],
        resources: Callable[[], ResourceSet],
        run: Callable[[uuid.UUID], Awaitable[dict[str, Any]]],
        now: Callable[[], datetime],
    ) -> None:
        self._db = database
        self._redact = redact
        self._resources = resources
        self._run = run
        self._now = now

    async def incidents(
        self, *, status: str | None, severity: str | None, since: str | None
    ) -> dict[str, Any]:
        start = self._now() - SINCE[since] if since in SINCE else None
        page = await list_incidents(
            self._db,
            status=status if status in INCIDENT_STATUSES else None,
            severity=severity or None,
            since=start,
            limit=200,
            offset=0,
        )
        return {
            "incidents": self._redact(page["items"]),
            "total": page["total"],
            "status": status or "",
            "severity": severity or "",
            "since": since or "",
            "statuses": INCIDENT_STATUSES,
            "severities": SEVERITIES,
            "windows": list(SINCE),
        }

    async def incident(self, incident_id: uuid.UUID) -> dict[str, Any]:
        detail = await incident_detail(self._db, incident_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"incident {incident_id} not found")
        detail = dict(self._redact(detail))
        investigation = None
        similar: list[Any] = []
        run_id = detail.get("investigation_run_id")
        if run_id:
            try:
                investigation = await self._run(uuid.UUID(run_id))
            except HTTPException:  # retention deleted the run; the incident keeps its summary
                investigation = None
        if investigation is not None:
            for step in investigation["steps"]:
                result = step.get("result")
                if isinstance(result, dict) and result.get("similar_incidents"):
                    similar = result["similar_incidents"]
        detail["investigation"] = investigation
        detail["similar"] = similar
        detail["live"] = detail["status"] != "resolved"
        return detail

    async def kpis(self, window: str) -> dict[str, Any]:
        window = window if window in PERIODS else "7d"
        step, count, label = PERIODS[window]
        config = self._resources().operator_config
        settings = config.spec.kpis if config is not None else KpiSettings()
        end = self._now()
        start = end - step * count
        total = await compute_kpis(self._db, KpiFilter(since=start, until=end), settings)
        periods = []
        for index in range(count):
            since = start + step * index
            window_filter = KpiFilter(since=since, until=since + step)
            figures = await compute_kpis(self._db, window_filter, settings)
            periods.append((since.strftime(label), figures))

        def series(pick: Callable[[dict[str, Any]], Any]) -> list[Point]:
            return [Point(label=name, value=pick(figures)) for name, figures in periods]

        charts = [
            Chart(
                title="Mean time to triage (MTTT)",
                svg=bars(
                    series(lambda k: k["timeToTriage"]["meanSeconds"]),
                    title="MTTT",
                    shown=seconds,
                ),
            ),
            Chart(
                title="Mean time to resolve (MTTR)",
                svg=bars(
                    series(lambda k: k["timeToResolve"]["meanSeconds"]),
                    title="MTTR",
                    shown=seconds,
                ),
            ),
            Chart(
                title="Auto-resolution rate",
                svg=bars(
                    series(lambda k: k["autoResolutionRate"]["value"]),
                    title="Auto-resolution rate",
                    shown=percent,
                ),
            ),
            Chart(
                title="AI accuracy (feedback: root cause right)",
                svg=bars(
                    series(lambda k: k["aiAccuracy"]["value"]),
                    title="AI accuracy",
                    shown=percent,
                ),
            ),
            Chart(
                title="LLM tokens",
                svg=bars(
                    series(lambda k: (k["llm"]["inputTokens"] + k["llm"]["outputTokens"]) or None),
                    title="LLM tokens",
                    shown=number,
                ),
            ),
            Chart(
                title=f"Estimated LLM cost ({total['llm']['currency']})",
                svg=bars(
                    series(lambda k: k["llm"]["pricedCost"] or None),
                    title="Estimated LLM cost",
                    shown=lambda v: f"{v:.2f}",
                ),
            ),
        ]
        return {"kpis": total, "charts": charts, "window": window, "windows": list(PERIODS)}
