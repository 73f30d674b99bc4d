"""``POST /api/v1/incidents/{id}/feedback`` on a served app, SQLite and PostgreSQL: who may give
it (401 without a token, 403 for a viewer), 404 for an unknown incident, 422 naming the field,
and what it writes (the feedback row, lessons learned, the alerts' human actions and notes)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from punching_fist.store.feedback import feedback_of
from punching_fist.store.tables import alerts, incidents
from tests.kpis.seed import open_incident
from tests.support.api_auth import APPROVER, VIEWER, bearer, fire, serve
from tests.support.server import RunningServer

BODY = {"rootCauseCorrect": True, "notes": "OOM, as it said", "resolution": "raised the limit"}


async def _alert_of(server: RunningServer, run_id: str) -> uuid.UUID:
    page = await server.client.get(f"/api/v1/runs/{run_id}", headers=bearer(VIEWER))
    return uuid.UUID(page.json()["alert_id"])


async def test_feedback_is_recorded_under_the_callers_name(database_url: str) -> None:
    async with serve(database_url) as server:
        run_id = await fire(server, bearer(APPROVER))
        db = server.service.database
        alert_id = await _alert_of(server, run_id)
        incident_id = await open_incident(db, [alert_id])

        response = await server.client.post(
            f"/api/v1/incidents/{incident_id}/feedback",
            json={**BODY, "humanNeeded": False},
            headers=bearer(APPROVER),
        )

        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["givenBy"] == "sre-lead"
        assert answer["source"] == "api"
        assert answer["rootCauseCorrect"] is True
        assert answer["humanNeeded"] is False
        [stored] = await feedback_of(db, incident_id)
        assert stored.given_by == "sre-lead"
        assert stored.notes == "OOM, as it said"
        async with db.connect() as conn:
            lessons = (
                await conn.execute(
                    select(incidents.c.lessons_learned).where(incidents.c.id == incident_id)
                )
            ).scalar_one()
            alert = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).one()
        assert "sre-lead: root cause right" in lessons
        assert "resolution: raised the limit" in lessons
        assert alert.resolution_notes == "raised the limit"
        [action] = alert.human_actions
        assert action["kind"] == "feedback"
        assert action["by"] == "sre-lead"
        assert action["rootCauseCorrect"] is True

        second = await server.client.post(
            f"/api/v1/incidents/{incident_id}/feedback?via=cli",
            json={"rootCauseCorrect": False, "humanNeeded": True},
            headers=bearer(APPROVER),
        )
        assert second.status_code == 201, second.text
        assert second.json()["source"] == "cli"
        assert [f.root_cause_correct for f in await feedback_of(db, incident_id)] == [True, False]
        metrics = (await server.client.get("/metrics")).text
        assert 'punchingfist_feedback_total{correct="true"} 1.0' in metrics
        assert 'punchingfist_feedback_total{correct="false"} 1.0' in metrics
        # The workflow has no agent step: the run's end triaged the alert.
        assert "punchingfist_time_to_triage_seconds_count 1.0" in metrics


async def test_feedback_needs_an_approver(database_url: str) -> None:
    async with serve(database_url) as server:
        incident_id = await open_incident(server.service.database)
        path = f"/api/v1/incidents/{incident_id}/feedback"

        anonymous = await server.client.post(path, json=BODY)
        viewer = await server.client.post(path, json=BODY, headers=bearer(VIEWER))

        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert viewer.status_code == 403
        assert "needs approver" in viewer.json()["detail"]
        assert await feedback_of(server.service.database, incident_id) == []


async def test_unknown_incidents_and_invalid_bodies_are_refused(database_url: str) -> None:
    async with serve(database_url) as server:
        unknown = uuid.uuid4()
        missing = await server.client.post(
            f"/api/v1/incidents/{unknown}/feedback", json=BODY, headers=bearer(APPROVER)
        )
        assert missing.status_code == 404
        assert str(unknown) in missing.json()["detail"]

        incident_id = await open_incident(server.service.database)
        path = f"/api/v1/incidents/{incident_id}/feedback"
        cases = [
            ({"notes": "no verdict"}, "rootCauseCorrect", "missing"),
            ({"rootCauseCorrect": "yes"}, "rootCauseCorrect", "bool_type"),
            ({**BODY, "givenBy": "mallory"}, "givenBy", "extra_forbidden"),
            ({**BODY, "notes": "x" * 4001}, "notes", "string_too_long"),
        ]
        for body, field, kind in cases:
            response = await server.client.post(path, json=body, headers=bearer(APPROVER))
            assert response.status_code == 422, body
            [error] = response.json()["detail"]
            assert error["loc"] == ["body", field]
            assert error["type"] == kind
        assert await feedback_of(server.service.database, incident_id) == []
