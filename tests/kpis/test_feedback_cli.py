"""``punching-fist incidents feedback`` against a served instance: through the REST API, under
the token's name, with ``source: cli``; a viewer token and a missing verdict are refused."""

from __future__ import annotations

import asyncio
import uuid

from typer.testing import CliRunner, Result

from punching_fist.cli import app
from punching_fist.store.feedback import feedback_of
from tests.kpis.seed import open_incident
from tests.support.api_auth import APPROVER, VIEWER, serve

runner = CliRunner()


async def invoke(args: list[str]) -> Result:
    # In a thread: the server under test runs on this event loop.
    return await asyncio.to_thread(runner.invoke, app, args)


async def test_feedback_from_the_command_line(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        db = server.service.database
        incident_id = str(await open_incident(db))
        base = ["incidents", "feedback", incident_id, "--url", server.url]

        weak = await invoke([*base, "--correct", "--token", VIEWER])
        undecided = await invoke([*base, "--token", APPROVER])
        given = await invoke(
            [
                *base,
                "--wrong",
                "--human-needed",
                "--notes",
                "it was the node, not the pod",
                "--resolution",
                "drained node-7",
                "--token",
                APPROVER,
            ]
        )
        [stored] = await feedback_of(db, uuid.UUID(incident_id))

    assert weak.exit_code == 1
    assert "403" in weak.output
    assert undecided.exit_code == 2
    assert "--correct or --wrong" in undecided.output
    assert given.exit_code == 0, given.output
    assert f"feedback on {incident_id}: root cause wrong, recorded by sre-lead" in given.output
    assert stored.source == "cli"
    assert stored.given_by == "sre-lead"
    assert stored.root_cause_correct is False
    assert stored.human_needed is True
    assert stored.notes == "it was the node, not the pod"
    assert stored.resolution == "drained node-7"
