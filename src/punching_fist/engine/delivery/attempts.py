"""One delivery to one sink, attempt by attempt: breaker, timeout, retries, dead letter.

1. the sink's circuit breaker is asked first; while it is open the delivery is parked
   (``deferred``) instead of waiting on a dead destination;
2. the attempt is counted in the database, then the driver is called under the sink's
   ``timeoutSeconds``;
3. success records the response summary, the external reference and what the sink wants
   remembered for the alert (thread ts, issue key, silence id) in one transaction;
4. a ``TemporaryFailure`` is retried per the sink's ``RetryPolicy``: short waits in-process,
   long ones parked for the retrier; the last failed attempt, or any permanent failure,
   dead-letters the delivery (``failed``), from where ``retry`` re-sends it by hand.

Errors and responses are redacted before they are stored or logged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from punching_fist.engine.delivery.circuit import Breakers, CircuitBreaker
from punching_fist.engine.delivery.first_message import FirstMessage, follows_incident
from punching_fist.engine.status import DeliveryStatus
from punching_fist.errors import DeliveryFailed, PunchingFistError, TemporaryFailure
from punching_fist.incidents.alert_record import AlertRecord
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import Attributes, Tracing, annotate
from punching_fist.resources.sink import Sink
from punching_fist.retry import RetryPolicy
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport, SinkDriver
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.registry import SinkDependencies, build_sink
from punching_fist.store.deliveries import (
    AttemptRecord,
    DeliveryRow,
    DeliveryStore,
    StoredCorrelation,
)
from punching_fist.store.tables import utcnow

log = structlog.get_logger(__name__)

_UNCORRELATED = frozenset({"stdout"})
"""Sink types whose drivers never read ``Delivery.previous``: no correlation lookup for them."""
_ROUTINE = frozenset({DeliveryStatus.DELIVERED.value, DeliveryStatus.SKIPPED.value})
DEFERRED, FAILED, PENDING = (
    DeliveryStatus.DEFERRED.value,
    DeliveryStatus.FAILED.value,
    DeliveryStatus.PENDING.value,
)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class DeliveryTuning:
    """How the engine paces deliveries (the per-sink policy is in each Sink's ``delivery``)."""

    retrier_interval: float = 1.0
    """How often the retrier looks for parked deliveries that are due."""
    inline_wait_limit: float = 30.0
    """Backoffs up to this long are waited in-process; longer ones park the delivery."""
    single_writer: bool = True
    """Only this process writes the store (SQLite): every lease at start-up is an orphan."""


class Sender:
    """Sends deliveries under the sink's policy and records every attempt."""

    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        dependencies: SinkDependencies,
        metrics: Metrics,
        redactor: Redactor,
        tuning: DeliveryTuning,
        breakers: Breakers,
        sleep: Sleep,
        rng: random.Random | None,
        tracing: Tracing | None = None,
        alert_record: AlertRecord | None = None,
        first_message: FirstMessage | None = None,
    ) -> None:
        self._tracing = tracing or Tracing.off()
        self._alert_record = alert_record
        """Told of each delivery: an escalation sink's marks the alert escalated."""
        self._first_message = first_message
        self._deliveries = deliveries
        self._dependencies = dependencies
        self._metrics = metrics
        self._redactor = redactor
        self._tuning = tuning
        self.breakers = breakers
        self._sleep = sleep
        self._rng = rng

    async def send(
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
        claimed = False
        try:
            driver = build_sink(sink, self._dependencies)
            if self._first_message is not None and follows_incident(
                sink.spec.type, row.correlation_key
            ):
                stale = timedelta(
                    seconds=2 * settings.timeout_seconds + self._tuning.inline_wait_limit
                )
                stored, claimed = await self._first_message.previous(row, stale=stale)
            elif sink.spec.type not in _UNCORRELATED:
                stored = await self._deliveries.correlation(
                    row.sink_name, row.correlation_key or ""
                )
            else:
                stored = None
        except PunchingFistError as exc:
            await self.settle(row, DeliveryStatus.FAILED, str(exc))
            return
        try:
            await self._send_attempts(
                row,
                sink,
                driver,
                context,
                policy,
                breaker,
                stored,
                manual=manual,
                delivered_ref=delivered_ref,
            )
        finally:
            if claimed and self._first_message is not None:
                await self._first_message.release(row)  # a no-op once it delivered

    async def _send_attempts(
        self,
        row: DeliveryRow,
        sink: Sink,
        driver: SinkDriver,
        context: dict[str, Any],
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        stored: StoredCorrelation | None,
        *,
        manual: bool,
        delivered_ref: str | None,
    ) -> None:
        settings = sink.spec.delivery
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
                self.count(row, DEFERRED)
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
            attributes: Attributes = {
                "punchingfist.sink.name": row.sink_name,
                "punchingfist.sink.type": sink.spec.type,
                "punchingfist.run.id": str(row.run_id),
                "punchingfist.delivery.attempt": attempt,
            }
            with self._tracing.span("sink delivery", attributes) as span:
                report, error = await self._attempt(
                    driver, delivery, settings.timeout_seconds, breaker
                )
                outcome = report.status.value if report is not None else FAILED
                failure = None if error is None else self._redactor.text(str(error))
                annotate(span, {"punchingfist.delivery.status": outcome}, error=failure)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if error is None:
                assert report is not None
                await self._finish(row, report, attempt, started_at, elapsed_ms)
                if self._alert_record is not None and report.status is DeliveryStatus.DELIVERED:
                    await self._alert_record.delivered(row.run_id, sink, row.sink_name)
                return
            message = self._redactor.text(str(error) or type(error).__name__)
            record = AttemptRecord(
                attempt=attempt,
                started_at=started_at,
                duration_ms=elapsed_ms,
                outcome=FAILED,
                error=message,
            )
            if not policy.retries(error, attempt - budget_start):
                await self._deliveries.attempt_failed(
                    row, record, status=FAILED, next_attempt_at=None
                )
                self.count(row, FAILED, message)
                return
            delay = policy.delay(error, attempt - budget_start, self._rng)
            next_at = utcnow() + timedelta(seconds=delay)
            if delay > self._tuning.inline_wait_limit:
                await self._deliveries.attempt_failed(
                    row, record, status=DEFERRED, next_attempt_at=next_at
                )
                self.count(row, DEFERRED, message)
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
            await self.settle(row, report.status, report.error, response)
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
                attempt=attempt,
                started_at=started_at,
                duration_ms=elapsed_ms,
                outcome=DeliveryStatus.DELIVERED.value,
            ),
            response=response,
            external_ref=report.external_ref,
            remember=remember,
        )
        self.count(row, DeliveryStatus.DELIVERED.value)

    async def settle(
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
        self.count(row, status.value, message)

    def count(self, row: DeliveryRow, status: str, error: str | None = None) -> None:
        self._metrics.sink_deliveries.labels(row.sink_name, status).inc()
        # Routine outcomes are on /metrics and in the delivery rows; the log line costs more
        # than the rest of a stdout delivery, so only trouble is logged at info.
        report = log.debug if error is None and status in _ROUTINE else log.info
        report("sink delivery", sink=row.sink_name, status=status, error=error)


def _fingerprint(context: dict[str, Any]) -> str | None:
    alert = ((context.get("source") or {}).get("data") or {}).get("alert") or {}
    value = alert.get("fingerprint") if isinstance(alert, dict) else None
    return str(value) if value else None
