"""``GET /api/v1/incidents`` and ``/api/v1/incidents/{id}`` through a served app: filters,
pages, the detail's alerts, relationships, runs and timeline, viewer tokens."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from punching_fist.cli import app
from tests.support.api_auth import VIEWER, bearer, serve
from tests.support.payloads import alert, notification


def pods(*names: str, status: str = "firing", namespace: str = "shop") -> dict[str, object]:
    return notification(
        *(
            alert(
                status=status,
                fingerprint=f"{namespace}-{name}",
                severity="critical" if name.endswith("5") else "warning",
                labels={"pod": name, "namespace": namespace},
            )
            for name in names
        )
    )


async def test_list_and_detail(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        web = ("web-7c9f8d6b5-bbbb5", "web-7c9f8d6b5-bbbb2", "web-7c9f8d6b5-bbbb4")
        for body in (pods(*web), pods("db-0", namespace="other")):
            body["groupLabels"] = {}  # no group: correlated by workload only
            response = await server.post_alert("/hook", body)
            assert response.status_code == 202, response.text
        await server.settle()
        viewer = bearer(VIEWER)
        assert (await server.client.get("/api/v1/incidents")).status_code == 401

        listed = (await server.client.get("/api/v1/incidents", headers=viewer)).json()
        assert listed["total"] == 2
        web_incident = next(i for i in listed["items"] if i["alerts_count"] == 3)
        assert web_incident["workload"] == "shop/web (Deployment)"
        assert web_incident["severity"] == "critical"
        page = (
            await server.client.get("/api/v1/incidents?limit=1&offset=0", headers=viewer)
        ).json()
        assert (len(page["items"]), page["nextOffset"]) == (1, 1)
        assert (
            await server.client.get("/api/v1/incidents?status=bogus", headers=viewer)
        ).status_code == 422

        resolved = pods(*web, status="resolved")
        resolved["groupLabels"] = {}
        assert (await server.post_alert("/hook", resolved)).status_code == 202
        await server.settle()
        only = (await server.client.get("/api/v1/incidents?status=resolved", headers=viewer)).json()
        assert [i["id"] for i in only["items"]] == [web_incident["id"]]
        future = "2999-01-01T00:00:00Z"
        later = (
            await server.client.get(f"/api/v1/incidents?since={future}", headers=viewer)
        ).json()
        assert later["total"] == 0
        recent = (await server.client.get("/api/v1/incidents?since=1h", headers=viewer)).json()
        assert recent["total"] == 2
        bad = await server.client.get("/api/v1/incidents?since=yesterday", headers=viewer)
        assert bad.status_code == 422
        assert "since" in bad.text

        detail = (
            await server.client.get(f"/api/v1/incidents/{web_incident['id']}", headers=viewer)
        ).json()
        assert detail["status"] == "resolved"
        assert detail["mttr_seconds"] is not None
        assert len(detail["alerts"]) == 3
        assert len(detail["runs"]) == 3
        assert [r["relationship_type"] for r in detail["relationships"]] == ["related"] * 2
        events = [e["event"] for e in detail["timeline"]]
        # The alerts' own ends (Alertmanager's endsAt, here in the past) come as reported.
        assert events.index("opened") < events.index("alert_joined")
        assert events.count("alert_joined") == 3
        assert events.count("alert_resolved") == 3
        assert events[-1] == "resolved"
        assert detail["feedback"] == []
        missing = "00000000-0000-0000-0000-000000000000"
        assert (
            await server.client.get(f"/api/v1/incidents/{missing}", headers=viewer)
        ).status_code == 404

        # The same through the command line (the API client, a viewer token).
        cli = ["--url", server.url, "--token", VIEWER]
        runner = CliRunner()
        listed_cli = await asyncio.to_thread(
            runner.invoke, app, ["incidents", "list", "--status", "resolved", *cli]
        )
        assert listed_cli.exit_code == 0, listed_cli.output
        assert web_incident["id"] in listed_cli.output
        assert "alerts=3" in listed_cli.output
        shown = await asyncio.to_thread(
            runner.invoke, app, ["incidents", "show", web_incident["id"], *cli]
        )
        assert shown.exit_code == 0, shown.output
        assert "KubePodCrashLooping" in shown.output or "PodCrashLooping" in shown.output
        assert "alert_joined" in shown.output
        assert "resolved" in shown.output
