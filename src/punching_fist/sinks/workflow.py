"""The ``workflow`` sink: start another workflow with this run's outputs as its source data.

``triggerCondition`` decides whether to start it (see ``expressions`` for the syntax; a Go
template works too). The child run's ``.source.data`` holds the parent's outputs (each at
the top level and all of them under ``outputs``), the parent's ``alert`` and a ``parent``
summary; it carries the parent's correlation key, so its own sinks reply in the parent's
Slack thread or Jira issue.

Loops are refused: the chain of parents (``workflow_runs.parent_run_id``) is walked, and a
workflow already in it, or a chain already ``maxDepth`` long, is not started. A parent
starts a given workflow at most once, so a retried delivery does not start a second child.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from punching_fist.engine.status import DeliveryStatus
from punching_fist.errors import DeliveryFailed
from punching_fist.resources.sink import WorkflowSinkConfig
from punching_fist.sinks.base import Delivery, DeliveryReport
from punching_fist.sinks.correlation import CORRELATION_FIELD
from punching_fist.sinks.expressions import condition_holds
from punching_fist.sinks.summary import alert_of


class WorkflowStarter(Protocol):
    """Starts chained runs; implemented by the engine, which owns runs and their dispatch."""

    async def lineage(self, run_id: uuid.UUID) -> list[str]:
        """Workflow names of ``run_id``'s run, its parent, and so on up the chain."""
        ...

    async def start(
        self, *, parent_run_id: uuid.UUID, workflow_name: str, source_context: dict[str, Any]
    ) -> tuple[uuid.UUID, bool]:
        """Start (or find the already started) child run: its id, and whether it is new."""
        ...


class WorkflowSink:
    def __init__(self, config: WorkflowSinkConfig, starter: WorkflowStarter) -> None:
        self._config = config
        self._starter = starter

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        context = delivery.context
        condition = self._config.trigger_condition
        if condition and not condition_holds(condition, context):
            return DeliveryReport(status=DeliveryStatus.SKIPPED, error="triggerCondition is false")
        target = self._config.workflow_name
        chain = await self._starter.lineage(delivery.run_id)
        if target in chain:
            path = " → ".join([*reversed(chain), target])
            raise DeliveryFailed(f"refused to start workflow {target!r}: it would loop ({path})")
        if len(chain) >= self._config.max_depth:
            raise DeliveryFailed(
                f"refused to start workflow {target!r}: the chain is already {len(chain)}"
                f" workflows long (maxDepth {self._config.max_depth})"
            )
        run_id, created = await self._starter.start(
            parent_run_id=delivery.run_id,
            workflow_name=target,
            source_context=child_source(delivery),
        )
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response={"runId": str(run_id), "workflow": target, "created": created},
            external_ref=str(run_id),
        )


def child_source(delivery: Delivery) -> dict[str, Any]:
    """The source context of the child run: the parent's outputs as its data."""
    context = delivery.context
    workflow: Mapping[str, Any] = context.get("workflow") or {}
    outputs = dict(workflow.get("outputs") or {})
    source: Mapping[str, Any] = context.get("source") or {}
    return {
        "name": f"workflow/{workflow.get('name', '')}",
        "type": "workflow",
        "context": dict(source.get("context") or {}),
        "data": {
            **outputs,
            "outputs": outputs,
            "alert": dict(alert_of(context)),
            "parent": {
                "runId": str(delivery.run_id),
                "workflow": workflow.get("name"),
                "status": workflow.get("status"),
                "source": source.get("name"),
            },
        },
        CORRELATION_FIELD: delivery.correlation_key,
    }
