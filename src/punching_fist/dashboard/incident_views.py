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
Pick = Callable[[dict[str, Any]], Any]
"""One figure of a period's KPIs, drawn as that period's bar (``None``: no bar)."""


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

        def chart(title: str, short: str, shown: Callable[[float], str], pick: Pick) -> Chart:
            points = [Point(label=name, value=pick(figures)) for name, figures in periods]
            return Chart(title=title, svg=bars(points, title=short, shown=shown))

        cost = f"Estimated LLM cost ({total['llm']['currency']})"
        charts = [
            chart("Mean time to triage (MTTT)", "MTTT", seconds, _mean("timeToTriage")),
            chart("Mean time to resolve (MTTR)", "MTTR", seconds, _mean("timeToResolve")),
            chart(
                "Auto-resolution rate", "Auto-resolution rate", percent, _rate("autoResolutionRate")
            ),
            chart(
                "AI accuracy (feedback: root cause right)",
                "AI accuracy",
                percent,
                _rate("aiAccuracy"),
            ),
            chart("LLM tokens", "LLM tokens", number, _tokens),
            chart(cost, "Estimated LLM cost", lambda v: f"{v:.2f}", _cost),
        ]
        return {"kpis": total, "charts": charts, "window": window, "windows": list(PERIODS)}


def _mean(kpi: str) -> Pick:
    return lambda k: k[kpi]["meanSeconds"]


def _rate(kpi: str) -> Pick:
    return lambda k: k[kpi]["value"]


def _tokens(k: dict[str, Any]) -> Any:
    return (k["llm"]["inputTokens"] + k["llm"]["outputTokens"]) or None


def _cost(k: dict[str, Any]) -> Any:
    return k["llm"]["pricedCost"] or None
