"""Keeping a claimed run's lease, and stopping the run before the lease can lapse.

A run's lease is a time in the database after which another worker may claim the run and
start its steps again. So the steps must never outlive the lease, whatever happens to the
database: ``LeaseKeeper`` renews the lease every quarter of its length and retries a renewal
that fails (an error, a request that hangs), but when no renewal has succeeded for three
quarters of the lease it cancels the run. Cancelling a step kills its process group and
reaps it before ``hold`` returns, so the run stops a quarter of a lease before anyone else
may take it; that margin also absorbs clock differences between replicas, since expiries are
wall-clock times. A renewal answered "not yours" (taken over, or finished elsewhere) stops
the run at once. The run's writes are fenced as well (``store.runs``), so nothing it still
tries to record after losing the lease lands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog

from punching_fist.errors import LeaseLost

T = TypeVar("T")
Clock = Callable[[], float]
"""Monotonic seconds (``time.monotonic``)."""
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)

RENEW_FRACTION = 0.25
"""A renewal is due every this fraction of the lease."""
RETRY_SECONDS = 1.0
"""After a failed renewal the next is tried this soon (or at half the interval, if sooner),
so that an outage shorter than the margin allows is ridden out."""
MARGIN_FRACTION = 0.25
"""The run stops when this fraction of the lease is all that may be left of it."""


class LeaseKeeper:
    """Renews one run's lease while ``hold`` runs its work; cancels the work when it cannot.

    ``renew`` returns False when the run is no longer this worker's and raises when it could
    not tell. ``since`` is a ``clock`` reading taken before the claim (or renewal) that
    granted the lease, so the lease surely lasts until ``since + lease``.
    """

    def __init__(
        self,
        renew: Callable[[], Awaitable[bool]],
        *,
        lease: float,
        since: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if lease <= 0:
            raise ValueError("the lease must be positive")
        self._renew = renew
        self._lease = lease
        self._confirmed = since
        self._clock = clock
        self._sleep = sleep
        self.renewals = 0
        self.failures = 0
        self._lost: str | None = None

    @property
    def deadline(self) -> float:
        """When the work is stopped unless a renewal succeeds before."""
        return self._confirmed + self._lease * (1 - MARGIN_FRACTION)

    def check(self) -> None:
        """``LeaseLost`` once the lease is lost: a step about to start must not.

        The work is cancelled then anyway; this holds even where a library swallowed that.
        """
        if self._lost is not None:
            raise LeaseLost(self._lost)

    async def hold(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` under the lease; ``LeaseLost`` once it was cancelled for losing it."""
        task = asyncio.ensure_future(work)
        keeper = asyncio.ensure_future(self._keep())
        try:
            await asyncio.wait({task, keeper}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            keeper.cancel()
            await asyncio.wait({task, keeper})
            raise
        if task.done():
            keeper.cancel()
            await asyncio.wait({keeper})
            return task.result()
        reason = keeper.result()
        log.error("lease lost; stopping the run's steps", reason=reason)
        task.cancel()
        # Cancelled steps kill and reap their process groups before this wait ends.
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.warning("the stopped run ended with an error", error=repr(task.exception()))
        raise LeaseLost(reason)

    async def _renewed_by(self, deadline: float) -> bool:
        """One renewal, given up at ``deadline`` without waiting for it to unwind.

        A request cut off mid-way may take long to cancel (the driver rolls back over the same
        dead connection), and the lease does not wait for that: it is left to end alone.
        """
        renewal = asyncio.ensure_future(self._renew())
        done, _ = await asyncio.wait({renewal}, timeout=max(deadline - self._clock(), 0.0))
        if renewal in done:
            return renewal.result()
        renewal.cancel()
        renewal.add_done_callback(_retrieve)
        raise TimeoutError("the renewal did not answer in time")

    async def _keep(self) -> str:
        """Renew until the lease is lost; returns why it was."""
        self._lost = await self._renew_until_lost()
        return self._lost

    async def _renew_until_lost(self) -> str:
        every = self._lease * RENEW_FRACTION
        next_try = self._confirmed + every
        while True:
            now = self._clock()
            if now >= self.deadline:
                return f"no renewal succeeded for {now - self._confirmed:.1f}s"
            await self._sleep(max(min(next_try, self.deadline) - now, 0.0))
            sent = self._clock()
            if sent >= self.deadline:
                continue  # reported at the top
            try:
                ours = await self._renewed_by(self.deadline)
            except Exception as exc:  # a heartbeat that dies on an error is what broke leases
                self.failures += 1
                log.warning("lease renewal failed; retrying", error=repr(exc))
                next_try = sent + min(every / 2, RETRY_SECONDS)
                continue
            if not ours:
                return "the run was taken over or finished by another worker"
            self.renewals += 1
            self._confirmed = sent
            next_try = sent + every


def _retrieve(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()  # seen: the renewal was given up on already
