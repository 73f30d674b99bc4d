"""Retries as data: how many attempts, how long to wait before each, which failures count.

One policy for everything that retries: sink deliveries (a Sink's ``delivery.retry``), LLM
requests (``rigConfig.retryPolicy``) and workflow steps. Attempt ``n`` (1-based) that failed
waits ``initial_delay * multiplier**(n-1)`` capped at ``max_delay``, less up to ``jitter`` of
it at random so many failures do not retry in step. ``multiplier=1`` is a fixed delay,
``initial_delay=0`` none at all.

What is worth retrying is the failure's type (``errors.TemporaryFailure``); callers whose
failures come from a library (an LLM SDK) pass their own ``retryable`` test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from punching_fist.errors import TemporaryFailure

Backoff = Literal["exponential", "fixed", "none"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.0
    """Up to this fraction of each delay is taken off at random."""

    @classmethod
    def of(
        cls,
        *,
        max_attempts: int,
        backoff: Backoff,
        initial_delay: float,
        max_delay: float,
        multiplier: float = 2.0,
        jitter: float = 0.0,
    ) -> RetryPolicy:
        """A policy from a resource's ``backoff`` word (what the YAML says)."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=0.0 if backoff == "none" else initial_delay,
            max_delay=max_delay,
            multiplier=1.0 if backoff == "fixed" else multiplier,
            jitter=jitter,
        )

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), jitter included."""
        base = min(self.initial_delay * self.multiplier ** max(attempt - 1, 0), self.max_delay)
        if not self.jitter:
            return base
        draw = (rng or random).random()  # spreading retries out; not cryptography
        return base * (1 - self.jitter * draw)

    def retries(self, error: BaseException, attempt: int) -> bool:
        """Whether failed attempt ``attempt`` gets another one (only temporary failures do)."""
        return isinstance(error, TemporaryFailure) and attempt < self.max_attempts

    def delay(self, error: BaseException, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before the next attempt: the backoff, or longer if the destination asked."""
        floor = error.delay if isinstance(error, TemporaryFailure) else 0.0
        return max(self.backoff(attempt, rng), floor)
