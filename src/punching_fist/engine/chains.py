"""The engine's side of the ``workflow`` sink: child runs in the store, then queued."""

from __future__ import annotations

from typing import Any

from punching_fist.engine.queue import RunQueue
from punching_fist.engine.status import RunId
from punching_fist.observability.tracing import TRACEPARENT, current_traceparent
from punching_fist.store.chains import ChainedRuns


class ChainLauncher:
    """The engine's ``WorkflowStarter``: child runs in the store, handed to the run queue."""

    def __init__(self, runs: ChainedRuns, queue: RunQueue) -> None:
        self._runs = runs
        self._queue = queue

    async def lineage(self, run_id: RunId) -> list[str]:
        return [link.workflow_name for link in await self._runs.lineage(run_id)]

    async def start(
        self, *, parent_run_id: RunId, workflow_name: str, source_context: dict[str, Any]
    ) -> tuple[RunId, bool]:
        traceparent = current_traceparent()  # the parent's delivery: the child joins its trace
        if traceparent is not None:
            source_context = {**source_context, TRACEPARENT: traceparent}
        run_id, created = await self._runs.start(
            parent_run_id=parent_run_id,
            workflow_name=workflow_name,
            source_name=None,
            source_context=source_context,
        )
        self._queue.submit([run_id])  # harmless if it already ran: a finished run is not claimed
        return run_id, created
