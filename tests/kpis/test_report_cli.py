"""``punching-fist report`` against a served instance: the table people read and the JSON
scripts read, both from ``GET /api/v1/kpis``; a missing token is refused."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner, Result

from punching_fist.cli import app
from tests.kpis.kpi_seed import EXPECTED
from tests.kpis.test_kpis_api import WINDOW, served
from tests.support.api_auth import VIEWER

runner = CliRunner()


async def invoke(args: list[str]) -> Result:
    # In a thread: the server under test runs on this event loop; wide, so rows stay whole.
    return await asyncio.to_thread(runner.invoke, app, args, env={"COLUMNS": "160"})


async def test_the_report_as_json_and_as_a_table(sqlite_url: str) -> None:
    async with served(sqlite_url) as server:
        base = [
            "report",
            "--url",
            server.url,
            "--since",
            WINDOW["since"],
            "--until",
            WINDOW["until"],
        ]
        as_json = await invoke([*base, "--json", "--token", VIEWER])
        as_table = await invoke([*base, "--token", VIEWER])
        by_source = await invoke([*base, "--source", "other", "--json", "--token", VIEWER])
        refused = await invoke([*base, "--token", ""])

    assert as_json.exit_code == 0, as_json.output
    figures = json.loads(as_json.output)
    for key, expected in EXPECTED.items():
        assert figures[key] == expected, key
    assert json.loads(by_source.output)["incidents"] == 1

    assert as_table.exit_code == 0, as_table.output
    lines = [" ".join(line.split()) for line in as_table.output.splitlines()]
    assert "Incident KPIs 2026-12-01T08:00 → 2026-12-02T09:00 UTC" in lines[0]
    expected_rows = [
        "│ Incidents │ 3 │ 4 alerts │",
        "│ MTTT (time to triage) │ 45s │ p50 30s · p90 1m 30s · 4 measured │",
        "│ MTTR │ 15m 00s │ p50 10m 00s · p90 20m 00s · 2 measured │",
        "│ Auto-resolution rate │ 33.3% │ 1 of 3 │",
        "│ Escalation rate │ 66.7% │ 2 of 3 │",
        "│ Escalation accuracy │ 50.0% │ 1 of 2 │",
        "│ AI accuracy │ 75.0% │ 3 of 4 │",
        "│ Investigations per incident │ 1 │ 3 investigations │",
        "│ LLM tokens per incident │ 600 │ 1500 in · 300 out │",
        "│ Est. cost per incident │ 0.0003 EUR │ │",
    ]
    for row in expected_rows:
        assert row in lines, (row, lines)
    assert refused.exit_code == 1
    assert "401" in refused.output
