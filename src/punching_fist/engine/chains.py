"""The engine's side of the ``workflow`` sink: child runs in the store, then dispatched."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from punching_fist.store.chains import ChainedRuns


class ChainLauncher:
    """The engine's ``WorkflowStarter``: child runs in the store, handed to the dispatcher."""

    def __init__(self, runs: ChainedRuns) -> None:
        self._runs = runs
        self._submit: Callable[[Iterable[uuid.UUID]], None] | None = None

    def bind(self, submit: Callable[[Iterable[uuid.UUID]], None]) -> None:
        """Connect to the dispatcher once it exists (it is built after the sinks)."""
        self._submit = submit

    async def lineage(self, run_id: str) -> list[str]:
        return [link.workflow_name for link in await self._runs.lineage(uuid.UUID(run_id))]

    async def start(
        self, *, parent_run_id: str, workflow_name: str, source_context: dict[str, Any]
    ) -> tuple[str, bool]:
        run_id, created = await self._runs.start(
            parent_run_id=uuid.UUID(parent_run_id),
            workflow_name=workflow_name,
            source_name=None,
            source_context=source_context,
        )
        if self._submit is not None:
            self._submit([run_id])  # harmless if it already ran: a finished run is not claimed
        return str(run_id), created
