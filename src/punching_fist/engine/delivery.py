"""Delivering a finished run to its sinks, concurrently, each delivery recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from punching_fist.engine.state import RunState
from punching_fist.errors import PunchingFistError
from punching_fist.observability.metrics import Metrics
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.workflow import SinkRef, Workflow
from punching_fist.sinks.base import Delivery, DeliveryReport, DeliveryStatus
from punching_fist.sinks.registry import SinkDependencies, build_sink
from punching_fist.store.deliveries import DeliveryStore
from punching_fist.store.runs import ClaimedRun
from punching_fist.templating import evaluate_condition

log = structlog.get_logger(__name__)


class SinkDispatch:
    """Sends a run's result to every sink of its workflow whose condition holds."""

    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        resources: Callable[[], ResourceSet],
        dependencies: SinkDependencies,
        metrics: Metrics,
    ) -> None:
        self._deliveries = deliveries
        self._resources = resources
        self._dependencies = dependencies
        self._metrics = metrics

    async def deliver(self, run: ClaimedRun, workflow: Workflow, state: RunState) -> None:
        done = await self._deliveries.finished_sinks(run.id)
        pending = [ref for ref in workflow.spec.sink_refs() if ref.name not in done]
        await asyncio.gather(*(self._deliver_one(run, ref, state) for ref in pending))

    async def _deliver_one(self, run: ClaimedRun, ref: SinkRef, state: RunState) -> None:
        sink = self._resources().sinks.get(ref.name)
        sink_type = sink.spec.type if sink is not None else "missing"
        delivery_id = await self._deliveries.started(run.id, ref.name, sink_type)
        report = await self._attempt(run, ref, state, sink_type)
        await self._deliveries.finished(
            delivery_id,
            status=report.status.value,
            attempts=0 if report.status is DeliveryStatus.SKIPPED else 1,
            response=dict(report.response),
            error=report.error,
            external_ref=report.external_ref,
        )
        self._metrics.sink_deliveries.labels(ref.name, report.status.value).inc()
        log.info("sink delivery", sink=ref.name, status=report.status.value, error=report.error)

    async def _attempt(
        self, run: ClaimedRun, ref: SinkRef, state: RunState, sink_type: str
    ) -> DeliveryReport:
        context = state.template_context()
        sink = self._resources().sinks.get(ref.name)
        if sink is None:
            return DeliveryReport(
                status=DeliveryStatus.FAILED, error=f"sink {ref.name!r} does not exist"
            )
        try:
            if ref.condition and not evaluate_condition(ref.condition, context):
                return DeliveryReport(status=DeliveryStatus.SKIPPED, error="condition is false")
            alert = (context["source"].get("data") or {}).get("alert") or {}
            delivery = Delivery(
                run_id=str(run.id),
                sink_name=ref.name,
                context=context,
                fingerprint=alert.get("fingerprint"),
            )
            return await build_sink(sink, self._dependencies).deliver(delivery)
        except PunchingFistError as exc:
            return DeliveryReport(status=DeliveryStatus.FAILED, error=str(exc))
        except Exception as exc:  # one broken sink must not keep the others from delivering
            log.exception("sink crashed", sink=ref.name, sink_type=sink_type)
            return DeliveryReport(
                status=DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
