"""``GET /api/v1/kpis``: MTTT, MTTR, auto-resolution, escalation, AI accuracy and LLM cost.

A ``viewer`` token reads them. ``since`` and ``until`` are ISO 8601 times or ages such as
``7d``, ``12h``, ``30m`` (before now); default the last 7 days. Definitions are in
``incidents.kpis``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.incidents.kpis import compute_kpis
from punching_fist.resources.durations import parse_duration
from punching_fist.resources.kpi_settings import KpiSettings
from punching_fist.resources.loader import ResourceSet
from punching_fist.store.database import Database
from punching_fist.store.kpis import KpiFilter
from punching_fist.store.tables import utcnow

DEFAULT_SINCE = "7d"
_MOMENT = "An ISO 8601 time (2026-12-01T00:00:00Z) or an age before now (7d, 12h, 30m)."


def moment(value: str, *, now: datetime, field: str) -> datetime:
    """``value`` as an aware time; a 422 naming ``field`` when it is neither form. An age
    beyond the calendar (``99999999d``) means the earliest time there is."""
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, value, "is not an ISO 8601 time or an age (7d)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def invalid(field: str, value: str, why: str) -> RequestValidationError:
    """A 422 shaped as FastAPI's own (``detail``: a list naming the parameter)."""
    message = f"{field}: {value!r} {why}"
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}]
    )


def kpis_router(
    database: Database,
    auth: ApiAuth,
    resources: Callable[[], ResourceSet],
    now: Callable[[], datetime] = utcnow,
) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1",
        tags=["kpis"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )

    @router.get("/kpis")
    async def kpis(
        since: Annotated[str, Query(description=_MOMENT, max_length=64)] = DEFAULT_SINCE,
        until: Annotated[str | None, Query(description=_MOMENT, max_length=64)] = None,
        source: Annotated[str | None, Query(description="Only this Source's alerts.")] = None,
        severity: Annotated[str | None, Query(description="Only this severity.")] = None,
    ) -> dict[str, Any]:
        """The incident KPIs of a window: each duration with count, mean, p50 and p90."""
        current = now()
        start = moment(since, now=current, field="since")
        end = moment(until, now=current, field="until") if until else current
        if start >= end:
            raise invalid("since", since, f"({start.isoformat()}) is not before until")
        config = resources().operator_config
        settings = config.spec.kpis if config is not None else KpiSettings()
        window = KpiFilter(since=start, until=end, source=source, severity=severity)
        return await compute_kpis(database, window, settings)

    return router
