"""The incident, feedback and KPI pages over real HTTP: an alert becomes an incident with its
alerts and timeline, an approver's feedback through the page is the incident's feedback, and
the KPIs page draws its charts as inline SVG."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.dashboard.test_dashboard_access import csrf_of, sign_in
from tests.support.api_auth import ADMIN, APPROVER, VIEWER, bearer, serve
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer


async def one_incident(server: RunningServer, **annotations: str) -> dict[str, Any]:
    payload = notification(alert(annotations=annotations or None))
    response = await server.post_alert("/hook", payload)
    assert response.status_code == 202, response.text
    await server.settle()
    listed = await server.client.get("/api/v1/incidents", headers=bearer(ADMIN))
    [incident] = listed.json()["items"]
    detail: dict[str, Any] = (
        await server.client.get(f"/api/v1/incidents/{incident['id']}", headers=bearer(ADMIN))
    ).json()
    return detail


async def test_incidents_list_filters_and_the_detail_shows_alerts_and_timeline(
    database_url: str,
) -> None:
    async with serve(database_url) as server:
        incident = await one_incident(server, summary="<b>checkout</b> is down")
        async with sign_in(server, VIEWER) as viewer:
            page = await viewer.get("/ui/incidents")
            assert page.status_code == 200
            assert f'data-incident="{incident["id"]}"' in page.text
            assert incident["title"] in page.text
            for query in ("status=resolved", "severity=info", "since=1h&status=resolved"):
                filtered = await viewer.get(f"/ui/incidents?{query}")
                assert f'data-incident="{incident["id"]}"' not in filtered.text, query
            kept = await viewer.get(f"/ui/incidents?status={incident['status']}&since=24h")
            assert f'data-incident="{incident["id"]}"' in kept.text

            detail = await viewer.get(f"/ui/incidents/{incident['id']}")
            assert detail.status_code == 200
            assert "PodCrashLooping" in detail.text
            assert "alert joined" in detail.text
            assert "Root cause right" not in detail.text  # a viewer has no feedback buttons
            assert "<b>checkout</b>" not in detail.text
            missing = await viewer.get(f"/ui/incidents/{uuid.uuid4()}")
            assert missing.status_code == 404


async def test_feedback_through_the_page_needs_an_approver_and_its_csrf_token(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        incident = await one_incident(server)
        path = f"/ui/incidents/{incident['id']}"
        async with sign_in(server, VIEWER) as viewer, sign_in(server, APPROVER) as approver:
            viewer_page = await viewer.get(path)
            refused = await viewer.post(
                f"{path}/feedback", data={"csrf": csrf_of(viewer_page.text), "correct": "true"}
            )
            assert refused.status_code == 403
            page = await approver.get(path)
            assert "Root cause right" in page.text
            no_token = await approver.post(f"{path}/feedback", data={"correct": "false"})
            assert no_token.status_code == 403
            given = await approver.post(
                f"{path}/feedback",
                data={
                    "csrf": csrf_of(page.text),
                    "correct": "false",
                    "notes": "it was the node, not the pod",
                    "resolution": "cordoned node-3",
                    "human_needed": "true",
                },
            )
            assert given.status_code == 303
            assert given.headers["location"] == path
            shown = await approver.get(path)
            assert "it was the node, not the pod" in shown.text
            assert "by sre-lead" in shown.text or "sre-lead via api" in shown.text
        detail = await server.client.get(
            f"/api/v1/incidents/{incident['id']}", headers=bearer(ADMIN)
        )
        [feedback] = detail.json()["feedback"]
        assert feedback["rootCauseCorrect"] is False
        assert feedback["humanNeeded"] is True
        assert feedback["givenBy"] == "sre-lead"
        assert feedback["resolution"] == "cordoned node-3"


async def test_the_kpis_page_shows_figures_and_svg_charts(database_url: str) -> None:
    async with serve(database_url) as server:
        await one_incident(server)
        async with sign_in(server, VIEWER) as viewer:
            for window, bars in (("24h", 24), ("7d", 7), ("30d", 30)):
                page = await viewer.get(f"/ui/kpis?window={window}")
                assert page.status_code == 200
                assert page.text.count('<svg class="chart"') == 6
                assert "Mean time to triage (MTTT)" in page.text
                assert "AI accuracy" in page.text
                figure = re.search(r'id="kpi-incidents">([^<]*)<', page.text)
                assert figure is not None
                assert figure.group(1).strip() == "1 / 1"
                first = page.text.split('<svg class="chart"')[1]
                assert first.count('<text x="') >= min(bars, 8)
            odd = await viewer.get("/ui/kpis?window=forever")
            assert odd.status_code == 200  # an unknown window is the default one
            assert 'value="7d" selected' in odd.text
