"""Delivering results to sinks: concurrently, retried, recorded, and never twice.

Every sink of a finished run gets a ``sink_deliveries`` row, owned through a lease while it
is sent (``store.deliveries``); ``attempts`` sends it under the sink's policy. The retrier is
a background loop that takes parked deliveries when they are due, and deliveries of finished
runs whose owner vanished; ``retry`` re-sends a dead letter by hand.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from punching_fist.engine.delivery.attempts import DeliveryTuning, Sender, Sleep
from punching_fist.engine.delivery.circuit import Breakers
from punching_fist.engine.delivery.first_message import FirstMessage
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import DeliveryStatus, StepStatus
from punching_fist.errors import Conflict, NotFound, PunchingFistError
from punching_fist.incidents.alert_record import AlertRecord
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import SinkStatus
from punching_fist.resources.workflow import SinkRef, Workflow
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.correlation import correlation_key
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.registry import SinkDependencies
from punching_fist.store.chains import run_snapshot
from punching_fist.store.database import Database
from punching_fist.store.deliveries import (
    DEFERRED,
    PENDING,
    RETRYABLE_BY_HAND,
    DeliveryRow,
    DeliveryStore,
)
from punching_fist.store.incident_state import incident_status
from punching_fist.store.runs import ClaimedRun
from punching_fist.store.sink_claims import SinkClaims
from punching_fist.store.tables import utcnow
from punching_fist.templating import evaluate_condition

log = structlog.get_logger(__name__)


class SinkDispatch:
    """Sends a run's result to every sink of its workflow whose condition holds."""

    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        database: Database,
        resources: Callable[[], ResourceSet],
        dependencies: SinkDependencies,
        metrics: Metrics,
        secrets: SecretResolver,
        tuning: DeliveryTuning | None = None,
        breakers: Breakers | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        owned_http: httpx.AsyncClient | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._database = database
        self._resources = resources
        self._tuning = tuning or DeliveryTuning()
        self._sleep = sleep
        self._sender = Sender(
            deliveries=deliveries,
            dependencies=dependencies,
            metrics=metrics,
            redactor=Redactor(secrets),
            tuning=self._tuning,
            breakers=breakers or Breakers(),
            sleep=sleep,
            rng=rng,
            tracing=tracing,
            alert_record=AlertRecord(database, metrics.kpis),
            first_message=FirstMessage(SinkClaims(database), deliveries, sleep),
        )
        self._retrier: asyncio.Task[None] | None = None
        self._inflight: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._owned_http = owned_http

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tuning.single_writer:
            await self._deliveries.release_orphans()
        self._retrier = asyncio.create_task(self._retry_loop(), name="sink-retrier")

    async def stop(self) -> None:
        tasks = [t for t in (self._retrier, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retrier = None
        self._inflight.clear()
        if self._owned_http is not None:
            await self._owned_http.aclose()

    # --- the run's deliveries -------------------------------------------------------------

    async def deliver(self, run: ClaimedRun, workflow: Workflow, state: RunState) -> None:
        settled, incident = await self._deliveries.outstanding(run.id, run.alert_id)
        pending = [ref for ref in workflow.spec.sink_refs() if ref.name not in settled]
        if not pending:
            return
        context = state.template_context()
        # perAlert workflows keep a thread, issue and dedup key per alert, as before incidents.
        per_incident = incident is not None and workflow.spec.investigate != "perAlert"
        key = correlation_key(
            run.source_context,
            incident_id=str(incident) if per_incident else None,
            run_id=str(run.id),
        )
        if per_incident and incident is not None:
            # As it stands now: PagerDuty resolves only once every alert of it resolved.
            status = await incident_status(self._database, incident)
            known = context.get("incident") or {}
            context = {**context, "incident": {**known, "id": str(incident), "status": status}}
        await asyncio.gather(*(self._deliver_ref(run.id, ref, context, key) for ref in pending))

    async def _deliver_ref(
        self, run_id: uuid.UUID, ref: SinkRef, context: dict[str, Any], key: str
    ) -> None:
        sink = self._resources().sinks.get(ref.name)
        sink_type = sink.spec.type if sink is not None else "missing"
        row = await self._deliveries.open(run_id, ref.name, sink_type, key)
        if row is None:
            return  # settled meanwhile, or another worker holds it
        if sink is None:
            await self._sender.settle(
                row, DeliveryStatus.FAILED, f"sink {ref.name!r} does not exist"
            )
            return
        if ref.condition:
            try:
                holds = evaluate_condition(ref.condition, context)
            except PunchingFistError as exc:
                await self._sender.settle(row, DeliveryStatus.FAILED, f"condition: {exc}")
                return
            if not holds:
                await self._sender.settle(row, DeliveryStatus.SKIPPED, "condition is false")
                return
        await self._sender.send(row, sink, context)

    @property
    def breakers(self) -> Breakers:
        """Each sink's circuit breaker (the API shows their states)."""
        return self._sender.breakers

    async def statuses(self) -> dict[str, SinkStatus]:
        """Each sink's published counters (``messagesSent``, ``lastSentTime``, ``lastError``)."""
        return await self._deliveries.statuses()

    # --- deliveries of finished runs: the retrier and manual retries ----------------------

    async def retry(self, delivery_id: uuid.UUID) -> DeliveryRow:
        """Re-send a delivery now (the dead-letter queue's way out); returns its new state."""
        row = await self._deliveries.get(delivery_id)
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        if row.status not in RETRYABLE_BY_HAND:
            raise Conflict(f"delivery is {row.status}; only {RETRYABLE_BY_HAND} retry")
        claimed = await self._deliveries.claim(delivery_id, statuses=RETRYABLE_BY_HAND)
        if claimed is None:
            raise Conflict("delivery is being sent right now")
        delivered_ref = row.external_ref if row.status == DeliveryStatus.DELIVERED.value else None
        await self._resume(claimed, manual=True, delivered_ref=delivered_ref)
        after = await self._deliveries.get(delivery_id)
        assert after is not None
        return after

    async def _retry_loop(self) -> None:
        while True:
            await self._sleep(self._tuning.retrier_interval)
            try:
                for row in await self._deliveries.due():
                    if row.id not in self._inflight:
                        self._spawn(row)
            except Exception:  # the database may be briefly away; try again next round
                log.exception("looking for due sink deliveries failed")

    def _spawn(self, row: DeliveryRow) -> None:
        async def take() -> None:
            claimed = await self._deliveries.claim(row.id, statuses=(DEFERRED, PENDING))
            if claimed is not None:
                await self._resume(claimed)

        task = asyncio.create_task(take(), name=f"sink-delivery-{row.id}")
        self._inflight[row.id] = task
        task.add_done_callback(lambda _t: self._inflight.pop(row.id, None))

    async def _resume(
        self, row: DeliveryRow, *, manual: bool = False, delivered_ref: str | None = None
    ) -> None:
        snapshot = await run_snapshot(self._database, row.run_id)
        resources = self._resources()
        sink = resources.sinks.get(row.sink_name)
        if snapshot is None or sink is None:
            missing = "run" if snapshot is None else "sink"
            await self._sender.settle(row, DeliveryStatus.FAILED, f"the {missing} no longer exists")
            return
        workflow = resources.workflows.get(snapshot.workflow_name)
        state = RunState(
            run_id=str(snapshot.id),
            workflow_name=snapshot.workflow_name,
            source=snapshot.source_context,
            environment=dict(workflow.spec.runtime.environment) if workflow else {},
            started_at=snapshot.started_at or utcnow(),
            outputs=dict(snapshot.outputs),
            status=snapshot.status,
            completed_at=snapshot.completed_at,
        )
        for step in snapshot.steps.values():
            outcome = StepOutcome(
                status=StepStatus(step.status), result=step.result, error=step.error
            )
            state.record(step.name, step.type, outcome)
        try:
            await self._sender.send(
                row, sink, state.template_context(), manual=manual, delivered_ref=delivered_ref
            )
        except Exception:  # keep the retrier alive; the lease lets a later round try again
            log.exception("sink delivery failed unexpectedly", sink=row.sink_name)
