"""Delivering results to sinks: concurrently, retried, recorded, and never twice.

Every sink of a finished run gets a ``sink_deliveries`` row, owned through a lease while it
is sent (``store.deliveries``). One delivery goes like this:

1. the sink's circuit breaker is asked first; while it is open the delivery is parked
   (``deferred``) instead of waiting on a dead destination;
2. the attempt is counted in the database, then the driver is called under the sink's
   ``timeoutSeconds``;
3. success records the response summary, the external reference and what the sink wants
   remembered for the alert (thread ts, issue key, silence id) in one transaction;
4. a ``TemporaryFailure`` is retried per the sink's ``RetryPolicy``: short waits in-process,
   long ones parked for the retrier; the last failed attempt, or any permanent failure,
   dead-letters the delivery (``failed``), from where ``retry`` re-sends it by hand.

The retrier is a background loop that takes parked deliveries when they are due, and
deliveries of finished runs whose owner vanished. Errors and responses are redacted before
they are stored or logged.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from punching_fist.engine.delivery.circuit import Breakers, CircuitBreaker
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import DeliveryStatus, StepStatus
from punching_fist.errors import DeliveryFailed, PunchingFistError, TemporaryFailure
from punching_fist.observability.metrics import Metrics
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import Sink, SinkStatus
from punching_fist.resources.workflow import SinkRef, Workflow
from punching_fist.retry import RetryPolicy
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport, SinkDriver
from punching_fist.sinks.correlation import correlation_key
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.registry import SinkDependencies, build_sink
from punching_fist.store.chains import run_snapshot
from punching_fist.store.database import Database
from punching_fist.store.deliveries import (
    DEFERRED,
    FAILED,
    PENDING,
    RETRYABLE_BY_HAND,
    AttemptRecord,
    DeliveryRow,
    DeliveryStore,
    StoredCorrelation,
)
from punching_fist.store.runs import ClaimedRun
from punching_fist.store.tables import utcnow
from punching_fist.templating import evaluate_condition

log = structlog.get_logger(__name__)

_UNCORRELATED = frozenset({"stdout"})
"""Sink types whose drivers never read ``Delivery.previous``: no correlation lookup for them."""
_ROUTINE = frozenset({DeliveryStatus.DELIVERED.value, DeliveryStatus.SKIPPED.value})

Sleep = Callable[[float], Awaitable[None]]


class RetryRefused(Exception):
    """A manual retry that cannot happen now; ``status_code`` is the HTTP answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, kw_only=True)
class DeliveryTuning:
    """How the engine paces deliveries (the per-sink policy is in each Sink's ``delivery``)."""

    retrier_interval: float = 1.0
    """How often the retrier looks for parked deliveries that are due."""
    inline_wait_limit: float = 30.0
    """Backoffs up to this long are waited in-process; longer ones park the delivery."""
    single_writer: bool = True
    """Only this process writes the store (SQLite): every lease at start-up is an orphan."""


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
    ) -> None:
        self._deliveries = deliveries
        self._database = database
        self._resources = resources
        self._dependencies = dependencies
        self._metrics = metrics
        self._redactor = Redactor(secrets)
        self._tuning = tuning or DeliveryTuning()
        self.breakers = breakers or Breakers()
        self._sleep = sleep
        self._rng = rng
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
        key = correlation_key(
            run.source_context,
            incident_id=str(incident) if incident else None,
            run_id=str(run.id),
        )
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
            await self._settle(row, DeliveryStatus.FAILED, f"sink {ref.name!r} does not exist")
            return
        if ref.condition:
            try:
                holds = evaluate_condition(ref.condition, context)
            except PunchingFistError as exc:
                await self._settle(row, DeliveryStatus.FAILED, f"condition: {exc}")
                return
            if not holds:
                await self._settle(row, DeliveryStatus.SKIPPED, "condition is false")
                return
        await self._send(row, sink, context)

    # --- one delivery, attempt by attempt -------------------------------------------------

    async def _send(
        self,
        row: DeliveryRow,
        sink: Sink,
        context: dict[str, Any],
        *,
        manual: bool = False,
        delivered_ref: str | None = None,
    ) -> None:
        settings = sink.spec.delivery
        retry = settings.retry
        policy = RetryPolicy(
            max_attempts=retry.max_attempts,
            initial_delay=retry.initial_delay_seconds,
            max_delay=retry.max_delay_seconds,
            multiplier=retry.multiplier,
            jitter=retry.jitter,
        )
        breaker = self.breakers.get(
            sink.metadata.name or row.sink_name,
            failure_threshold=settings.circuit_breaker.failure_threshold,
            reset_seconds=settings.circuit_breaker.reset_seconds,
        )
        try:
            driver = build_sink(sink, self._dependencies)
            stored = (
                await self._deliveries.correlation(row.sink_name, row.correlation_key or "")
                if sink.spec.type not in _UNCORRELATED
                else None
            )
        except PunchingFistError as exc:
            await self._settle(row, DeliveryStatus.FAILED, str(exc))
            return
        previous = (
            Correlation(external_ref=stored.external_ref, data=stored.data) if stored else None
        )
        budget_start = row.attempts if manual else 0  # a manual retry gets a fresh budget
        force = manual
        while True:
            admission = breaker.admit(force=force)
            force = False
            if not admission.allowed:
                until = utcnow() + timedelta(seconds=admission.retry_in)
                await self._deliveries.defer(row, until=until, reason="circuit breaker open")
                self._count(row, DEFERRED)
                log.warning("sink circuit open; delivery parked", sink=row.sink_name)
                return
            hold = timedelta(seconds=settings.timeout_seconds * 2)
            attempt = await self._deliveries.attempt_started(row.id, hold_for=hold)
            delivery = Delivery(
                run_id=row.run_id,
                sink_name=row.sink_name,
                context=context,
                fingerprint=_fingerprint(context),
                delivery_id=str(row.id),
                idempotency_key=f"pf-{row.id}",
                attempt=attempt,
                correlation_key=row.correlation_key or "",
                previous=previous,
                delivered_ref=delivered_ref,
            )
            started_at, started = utcnow(), time.perf_counter()
            report, error = await self._attempt(driver, delivery, settings.timeout_seconds, breaker)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if error is None:
                assert report is not None
                await self._finish(row, report, attempt, started_at, elapsed_ms)
                return
            message = self._redactor.text(str(error) or type(error).__name__)
            record = AttemptRecord(
                attempt=attempt,
                started_at=started_at,
                duration_ms=elapsed_ms,
                outcome="failed",
                error=message,
            )
            if not policy.retries(error, attempt - budget_start):
                await self._deliveries.attempt_failed(
                    row, record, status=FAILED, next_attempt_at=None
                )
                self._count(row, FAILED, message)
                return
            delay = policy.delay(error, attempt - budget_start, self._rng)
            next_at = utcnow() + timedelta(seconds=delay)
            if delay > self._tuning.inline_wait_limit:
                await self._deliveries.attempt_failed(
                    row, record, status=DEFERRED, next_attempt_at=next_at
                )
                self._count(row, DEFERRED, message)
                return
            await self._deliveries.attempt_failed(
                row, record, status=PENDING, next_attempt_at=next_at
            )
            await self._deliveries.hold(row.id, hold_for=timedelta(seconds=delay))
            log.info("sink delivery will retry", sink=row.sink_name, delay=round(delay, 3))
            await self._sleep(delay)

    async def _attempt(
        self,
        driver: SinkDriver,
        delivery: Delivery,
        limit_seconds: float,
        breaker: CircuitBreaker,
    ) -> tuple[DeliveryReport | None, BaseException | None]:
        """One call to the driver: its report, or the failure with its retry meaning."""
        try:
            async with asyncio.timeout(limit_seconds):
                report = await driver.deliver(delivery)
        except TimeoutError:
            breaker.failed()
            message = f"attempt timed out after {limit_seconds:g}s"
            return None, TemporaryFailure(message, delay=0.0)
        except TemporaryFailure as exc:
            breaker.failed()
            return None, exc
        except PunchingFistError as exc:
            breaker.released()  # the destination answered; the request itself is wrong
            return None, exc
        except asyncio.CancelledError:
            breaker.released()
            raise
        except Exception as exc:  # a broken driver must not take the other sinks down
            breaker.released()
            log.exception("sink driver crashed", sink=delivery.sink_name)
            return None, DeliveryFailed(f"{type(exc).__name__}: {exc}")
        if report.status is DeliveryStatus.DELIVERED:
            breaker.succeeded()
        else:
            breaker.released()
        return report, None

    async def _finish(
        self,
        row: DeliveryRow,
        report: DeliveryReport,
        attempt: int,
        started_at: datetime,
        elapsed_ms: float,
    ) -> None:
        response = self._redactor.document(dict(report.response))
        if report.status is not DeliveryStatus.DELIVERED:
            await self._settle(row, report.status, report.error, response)
            return
        remember = (
            StoredCorrelation(
                external_ref=report.remember.external_ref, data=dict(report.remember.data)
            )
            if report.remember is not None
            else None
        )
        await self._deliveries.delivered(
            row,
            AttemptRecord(
                attempt=attempt, started_at=started_at, duration_ms=elapsed_ms, outcome="delivered"
            ),
            response=response,
            external_ref=report.external_ref,
            remember=remember,
        )
        self._count(row, DeliveryStatus.DELIVERED.value)

    async def _settle(
        self,
        row: DeliveryRow,
        status: DeliveryStatus,
        error: str | None,
        response: dict[str, Any] | None = None,
    ) -> None:
        message = self._redactor.text(error) if error else None
        await self._deliveries.settle(
            row, status=status.value, error=message, response=response or {}
        )
        self._count(row, status.value, message)

    def _count(self, row: DeliveryRow, status: str, error: str | None = None) -> None:
        self._metrics.sink_deliveries.labels(row.sink_name, status).inc()
        # Routine outcomes are on /metrics and in the delivery rows; the log line costs more
        # than the rest of a stdout delivery, so only trouble is logged at info.
        report = log.debug if error is None and status in _ROUTINE else log.info
        report("sink delivery", sink=row.sink_name, status=status, error=error)

    async def statuses(self) -> dict[str, SinkStatus]:
        """Each sink's published counters (``messagesSent``, ``lastSentTime``, ``lastError``)."""
        return await self._deliveries.statuses()

    # --- deliveries of finished runs: the retrier and manual retries ----------------------

    async def retry(self, delivery_id: uuid.UUID) -> DeliveryRow:
        """Re-send a delivery now (the dead-letter queue's way out); returns its new state."""
        row = await self._deliveries.get(delivery_id)
        if row is None:
            raise RetryRefused(404, f"delivery {delivery_id} not found")
        if row.status not in RETRYABLE_BY_HAND:
            raise RetryRefused(409, f"delivery is {row.status}; only {RETRYABLE_BY_HAND} retry")
        claimed = await self._deliveries.claim(delivery_id, statuses=RETRYABLE_BY_HAND)
        if claimed is None:
            raise RetryRefused(409, "delivery is being sent right now")
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
            await self._settle(row, DeliveryStatus.FAILED, f"the {missing} no longer exists")
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
            await self._send(
                row, sink, state.template_context(), manual=manual, delivered_ref=delivered_ref
            )
        except Exception:  # keep the retrier alive; the lease lets a later round try again
            log.exception("sink delivery failed unexpectedly", sink=row.sink_name)


def _fingerprint(context: dict[str, Any]) -> str | None:
    alert = ((context.get("source") or {}).get("data") or {}).get("alert") or {}
    value = alert.get("fingerprint") if isinstance(alert, dict) else None
    return str(value) if value else None
