""" "Try this workflow" on a stored alert: the replay runs in the serving process and shows
what the sinks would send, and the server's own database and sinks see nothing of it."""

from __future__ import annotations

from sqlalchemy import func, select

from punching_fist.replay.dashboard import try_workflow_for
from punching_fist.server.service import Service
from punching_fist.store.tables import sink_deliveries, workflow_runs
from tests.dashboard.test_dashboard_access import csrf_of, sign_in
from tests.support.api_auth import APPROVER, VIEWER, fire, serve
from tests.support.server import RunningServer


def offer(service: Service) -> None:
    service.try_workflow = try_workflow_for(service)  # as serve does


async def counts(server: RunningServer) -> tuple[int, int]:
    async with server.service.database.connect() as conn:
        runs = (await conn.execute(select(func.count()).select_from(workflow_runs))).scalar()
        sent = (await conn.execute(select(func.count()).select_from(sink_deliveries))).scalar()
    return int(runs or 0), int(sent or 0)


async def test_an_approver_replays_a_stored_alert_and_nothing_is_stored_or_sent(
    database_url: str,
) -> None:
    async with serve(database_url, configure=offer) as server:
        run_id = await fire(server)
        before = (await counts(server), server.sink_output())
        async with sign_in(server, VIEWER) as viewer, sign_in(server, APPROVER) as approver:
            run_page = await approver.get(f"/ui/runs/{run_id}")
            [alert_id] = {
                part.split("/")[0] for part in run_page.text.split('href="/ui/alerts/')[1:]
            }
            path = f"/ui/alerts/{alert_id}/try"
            shown = await viewer.get(path)
            assert shown.status_code == 200
            assert "PodCrashLooping" in shown.text
            assert 'id="try"' not in shown.text  # viewers read; replays are an approver's
            refused = await viewer.post(path, data={"csrf": csrf_of(shown.text)})
            assert refused.status_code == 403

            form = await approver.get(path)
            assert 'id="try"' in form.text
            unknown = await approver.post(
                path, data={"csrf": csrf_of(form.text), "workflow": "nope"}
            )
            assert unknown.status_code == 422
            replayed = await approver.post(path, data={"csrf": csrf_of(form.text)})
            assert replayed.status_code == 200, replayed.text
            assert "Replay of workflow &#39;wf&#39;" in replayed.text
            assert "-- step s (cli): succeeded" in replayed.text
            assert "stdout sinks" in replayed.text
            assert "PodCrashLooping" in replayed.text.split('id="replay-timeline"')[1]
        assert (await counts(server), server.sink_output()) == before


async def test_a_server_without_replays_says_so(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server)
        async with sign_in(server, APPROVER) as approver:
            run_page = await approver.get(f"/ui/runs/{run_id}")
            alert_id = run_page.text.split('href="/ui/alerts/')[1].split("/")[0]
            page = await approver.get(f"/ui/alerts/{alert_id}/try")
            assert "does not offer replays" in page.text
            posted = await approver.post(
                f"/ui/alerts/{alert_id}/try", data={"csrf": csrf_of(page.text)}
            )
            assert posted.status_code == 404
