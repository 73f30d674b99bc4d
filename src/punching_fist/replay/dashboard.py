"""The dashboard's "try this workflow": a stored alert replayed by the serving process.

The dashboard sits below the server and replay above it, so the command line hands this
function to the service (``Service.try_workflow``) and the dashboard calls it: the same
replay as ``punching-fist replay`` (a temporary database, sinks recorded, read-only agent
tools), on the resources the server has loaded now.
"""

from __future__ import annotations

from typing import Any

from punching_fist.replay.report import timeline
from punching_fist.replay.run import replay
from punching_fist.server.service import Service, TryWorkflow

TRY_TIMEOUT = 300.0
"""Seconds a replay from the dashboard may take; the page waits for it."""


def try_workflow_for(service: Service) -> TryWorkflow:
    async def run(notification: bytes, workflow: str | None) -> tuple[str, dict[str, Any]]:
        result = await replay(
            notification,
            service.registry.current(),
            workflow=workflow,
            settings=service.settings,
            secrets=service.secrets,
            timeout=TRY_TIMEOUT,
        )
        return timeline(result), result.as_json()

    return run
