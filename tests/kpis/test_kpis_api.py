"""``GET /api/v1/kpis`` on a served app with a price table in the OperatorConfig: viewer tokens
read it (401 without), windows as ISO times or ages, 422 naming the parameter; and
``validate`` refuses a price table that cannot work, naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app
from tests.kpis.kpi_seed import EXPECTED, T0, seed
from tests.support.api_auth import PIPELINE, VIEWER, bearer, secrets
from tests.support.fake_clock import FakeClock
from tests.support.server import RunningServer, resources_from_yaml, running_server

CONFIG = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: config}
spec:
  api:
    tokens:
      - {name: dashboard, secretRef: env://PF_VIEWER, role: viewer}
  kpis:
    currency: EUR
    prices:
      gpt-4o-mini: {inputPerMillion: 0.15, outputPerMillion: 0.60}
      unknown-model: {inputPerMillion: 1, outputPerMillion: 2}
"""
WINDOW = {"since": "2026-12-01T08:00:00Z", "until": "2026-12-02T09:00:00+00:00"}


@asynccontextmanager
async def served(database_url: str) -> AsyncIterator[RunningServer]:
    resources = resources_from_yaml(PIPELINE + CONFIG)
    async with running_server(resources, database_url, secrets=secrets()) as server:
        await seed(server.service.database, FakeClock(T0))
        yield server


async def test_the_kpis_of_a_window(database_url: str) -> None:
    async with served(database_url) as server:
        response = await server.client.get("/api/v1/kpis", params=WINDOW, headers=bearer(VIEWER))
        critical = await server.client.get(
            "/api/v1/kpis", params={**WINDOW, "severity": "critical"}, headers=bearer(VIEWER)
        )
        recent = await server.client.get("/api/v1/kpis?since=1h", headers=bearer(VIEWER))
    assert response.status_code == 200, response.text
    found = response.json()
    for key, expected in EXPECTED.items():
        assert found[key] == expected, key
    llm = found["llm"]
    # (1000 x 0.15 + 200 x 0.60 + 500 x 1 + 100 x 2) / 1e6, over 3 incidents.
    assert llm["estimatedCost"] == pytest.approx(0.00097)
    assert llm["estimatedCostPerIncident"] == pytest.approx(0.000323, abs=1e-6)
    assert llm["currency"] == "EUR"
    assert llm["unpricedModels"] == []
    assert critical.json()["incidents"] == 2
    assert recent.status_code == 200
    assert recent.json()["incidents"] == 0  # the seeded days are long past


async def test_who_may_read_and_what_is_refused(sqlite_url: str) -> None:
    async with served(sqlite_url) as server:
        anonymous = await server.client.get("/api/v1/kpis")
        cases = {
            "since=yesterday": ("since", "since: 'yesterday' is not an ISO 8601 time or an age"),
            "since=1h&until=2021-13-01": ("until", "until: '2021-13-01' is not an ISO 8601"),
            "since=1h&until=2h": ("since", "since: '1h' ("),
        }
        refused = {
            query: await server.client.get(f"/api/v1/kpis?{query}", headers=bearer(VIEWER))
            for query in cases
        }
        forever = await server.client.get(
            "/api/v1/kpis?since=99999999999999d", headers=bearer(VIEWER)
        )
    assert anonymous.status_code == 401
    for query, (field, message) in cases.items():
        assert refused[query].status_code == 422, query
        [error] = refused[query].json()["detail"]
        assert error["loc"] == ["query", field], query
        assert error["msg"].startswith(message), query
    assert forever.status_code == 200  # an age beyond the calendar: since the beginning
    assert forever.json()["incidents"] == 3


@pytest.mark.parametrize(
    ("kpis", "expected"),
    [
        (
            "{prices: {gpt-4o: {inputPerMillion: -1, outputPerMillion: 1}}}",
            "spec.kpis.prices.gpt-4o.inputPerMillion: Input should be greater than or equal to 0",
        ),
        (
            "{prices: {gpt-4o: {inputPerMillion: 1}}}",
            "spec.kpis.prices.gpt-4o.outputPerMillion: Field required",
        ),
        ("{currency: dollars}", "spec.kpis.currency: Value error, 'dollars' is not an ISO 4217"),
        ("{price: {}}", "spec.kpis.price"),
    ],
)
def test_validate_refuses_price_tables_that_cannot_work(
    tmp_path: Path, kpis: str, expected: str
) -> None:
    config = (
        "apiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\nmetadata: {name: op}\n"
        f"spec: {{kpis: {kpis}}}\n"
    )
    (tmp_path / "resources.yaml").write_text(PIPELINE + "\n---\n" + config)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())
