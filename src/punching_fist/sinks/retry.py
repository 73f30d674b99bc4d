"""Retries as data: how long to wait before attempt n, and which failures are worth it.

Only ``TemporaryFailure`` is retried; its ``delay`` is a floor (a ``Retry-After`` from the
destination), never shortened by the backoff. Everything else (``DeliveryFailed``, a refused
secret, a template error) is the same on the next attempt, so it is dead-lettered at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from punching_fist.errors import TemporaryFailure
from punching_fist.resources.sink import RetrySettings


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2
    """Up to this fraction of each delay is taken off at random."""

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            initial_delay=settings.initial_delay_seconds,
            max_delay=settings.max_delay_seconds,
            multiplier=settings.multiplier,
            jitter=settings.jitter,
        )

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), jitter included."""
        base = min(self.initial_delay * self.multiplier ** max(attempt - 1, 0), self.max_delay)
        if not self.jitter:
            return base
        draw = (rng or random).random()  # spreading retries out; not cryptography
        return base * (1 - self.jitter * draw)

    def retries(self, error: BaseException, attempt: int) -> bool:
        """Whether failed attempt ``attempt`` gets another one."""
        return isinstance(error, TemporaryFailure) and attempt < self.max_attempts

    def delay(self, error: BaseException, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before the next attempt: the backoff, or longer if the destination asked."""
        floor = error.delay if isinstance(error, TemporaryFailure) else 0.0
        return max(self.backoff(attempt, rng), floor)
