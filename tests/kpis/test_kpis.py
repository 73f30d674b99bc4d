"""Each KPI over seeded incidents on SQLite and PostgreSQL, times from a fake clock
(``kpi_seed``): the figures, the filters (window, source, severity), the cost estimate with
a price table and with a model that has no price."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from punching_fist.incidents.kpis import compute_kpis, percentile
from punching_fist.resources.kpi_settings import KpiSettings
from punching_fist.store.database import Database
from punching_fist.store.kpis import KpiFilter
from tests.kpis.kpi_seed import EXPECTED, PRICES, T0, seed
from tests.support.fake_clock import FakeClock

UNTIL = T0 + timedelta(days=1)


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    await seed(db, FakeClock(T0))
    yield db
    await db.close()


async def kpis(db: Database, **window: Any) -> dict[str, Any]:
    settings = KpiSettings.model_validate({"prices": PRICES})
    since = window.pop("since", T0 - timedelta(hours=1))
    return await compute_kpis(db, KpiFilter(since=since, until=UNTIL, **window), settings)


async def test_every_kpi_of_the_window(seeded: Database) -> None:
    found = await kpis(seeded)
    for key, expected in EXPECTED.items():
        assert found[key] == expected, key
    llm = found["llm"]
    assert llm["inputTokens"] == 1500
    assert llm["outputTokens"] == 300
    assert llm["tokensPerIncident"] == 600.0
    # gpt-4o-mini: (1000 x 0.15 + 200 x 0.60) / 1e6; unknown-model has no price.
    assert llm["pricedCost"] == pytest.approx(0.00027)
    assert llm["estimatedCost"] is None
    assert llm["unpricedModels"] == ["unknown-model"]
    assert llm["currency"] == "USD"
    assert [m["model"] for m in llm["byModel"]] == ["gpt-4o-mini", "unknown-model"]


async def test_filters_by_source_severity_and_window(seeded: Database) -> None:
    other = await kpis(seeded, source="other")
    warning = await kpis(seeded, severity="warning")
    later = await kpis(seeded, since=T0 + timedelta(minutes=30))

    assert (other["alerts"], other["incidents"]) == (1, 1)
    assert other["escalationRate"]["value"] == 1.0
    assert other["timeToResolve"]["count"] == 0
    assert other["timeToResolve"]["p50Seconds"] is None
    assert other["llm"]["unpricedModels"] == ["unknown-model"]
    assert (warning["alerts"], warning["incidents"]) == (1, 1)
    assert warning["autoResolutionRate"]["value"] == 1.0
    assert warning["aiAccuracy"] == {"value": 0.5, "numerator": 1, "denominator": 2}
    assert warning["escalationAccuracy"] == {"value": None, "numerator": 0, "denominator": 0}
    assert warning["llm"]["estimatedCost"] == 0.0
    assert (later["alerts"], later["incidents"]) == (2, 2)
    assert later["timeToTriage"]["p50Seconds"] == 10.0


async def test_an_empty_window_has_no_figures(seeded: Database) -> None:
    empty = await kpis(seeded, source="nobody")
    assert empty["incidents"] == 0
    assert empty["timeToTriage"] == {
        "count": 0,
        "meanSeconds": None,
        "p50Seconds": None,
        "p90Seconds": None,
    }
    assert empty["investigationsPerIncident"] is None
    assert empty["llm"]["estimatedCostPerIncident"] is None
    assert empty["llm"]["estimatedCost"] == 0.0


def test_percentiles_by_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    values = [float(n) for n in range(1, 11)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.9) == 9.0
    assert percentile(list(reversed(values)), 0.9) == 9.0
