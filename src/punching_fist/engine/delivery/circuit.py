"""A circuit breaker per sink, so a dead destination does not pile up work.

::

    closed ──(failureThreshold failures in a row)──► open
      ▲                                               │ resetSeconds pass
      │                                               ▼
      └──────────(the probe succeeds)────────── half-open ──(the probe fails)──► open

While open, deliveries are not attempted: they are parked (``deferred``) until the breaker
lets a probe through. Half-open admits exactly one delivery at a time as the probe; its
outcome decides. Breakers live in memory, one set per process: after a restart every
destination gets a fresh chance, which is what an operator restarting a server expects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class Admission:
    """The breaker's answer to "may I call the destination now?"."""

    allowed: bool
    retry_in: float = 0.0
    """When not allowed: seconds until it is worth asking again."""


@dataclass(kw_only=True)
class CircuitBreaker:
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = 0
    _opened_at: float | None = None
    _probing: bool = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self.clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def admit(self, *, force: bool = False) -> Admission:
        """Ask before an attempt. ``force`` (a manual retry) always goes, as a probe if open."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission(allowed=True)
        if force or (state is BreakerState.HALF_OPEN and not self._probing):
            self._probing = True
            return Admission(allowed=True)
        assert self._opened_at is not None
        remaining = self.reset_seconds - (self.clock() - self._opened_at)
        return Admission(allowed=False, retry_in=max(remaining, self.reset_seconds / 10))

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self.clock()
        self._probing = False

    def released(self) -> None:
        """The admitted attempt ended without a verdict on the destination (e.g. cancelled)."""
        self._probing = False


@dataclass(kw_only=True)
class Breakers:
    """The breakers of one process, by sink name, created on first use."""

    clock: Callable[[], float] = time.monotonic
    _by_sink: dict[str, CircuitBreaker] = field(default_factory=dict)

    def get(
        self, sink_name: str, *, failure_threshold: int, reset_seconds: float
    ) -> CircuitBreaker:
        breaker = self._by_sink.get(sink_name)
        if breaker is None:
            breaker = CircuitBreaker(clock=self.clock)
            self._by_sink[sink_name] = breaker
        # Settings follow the live resource, so an edited Sink applies without a restart.
        breaker.failure_threshold = failure_threshold
        breaker.reset_seconds = reset_seconds
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {name: breaker.state for name, breaker in self._by_sink.items()}
