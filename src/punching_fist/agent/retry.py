"""Retrying LLM provider calls: the policy is data, the loop is one small function.

``rigConfig.retryPolicy`` becomes a ``RetryPolicy``; ``call_with_retry`` runs a request under
it, waiting between attempts (honouring a provider's ``Retry-After`` when it asks for
longer) and retrying only what can pass: rate limits, overloads, server errors, dropped
connections. Authentication, bad requests and unknown models fail at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelUnavailableError,
)

from punching_fist.resources.workflow import RetryPolicy as RetryPolicySpec

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_SECONDS = 120.0
"""A provider asking for a longer pause than this gets no more than this."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How many attempts, and how long to wait before each retry."""

    max_attempts: int = 3
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    initial_delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_spec(cls, spec: RetryPolicySpec | None) -> RetryPolicy:
        if spec is None:
            return cls()
        return cls(
            max_attempts=spec.max_attempts,
            backoff=spec.backoff,
            initial_delay=spec.initial_delay_seconds,
            max_delay=spec.max_delay_seconds,
        )

    def delays(self) -> Iterator[float]:
        """The wait before each retry: ``max_attempts - 1`` values."""
        for retry in range(self.max_attempts - 1):
            if self.backoff == "none":
                yield 0.0
            elif self.backoff == "fixed":
                yield min(self.initial_delay, self.max_delay)
            else:
                yield min(self.initial_delay * 2**retry, self.max_delay)


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt might succeed."""
    if isinstance(
        error,
        ModelRateLimitError
        | ModelOverloadedError
        | ModelUnavailableError
        | ModelServerError
        | ModelConnectionError,
    ):
        return True
    if isinstance(error, ModelHTTPError):
        return error.status_code in RETRYABLE_STATUS
    return False


def retry_after(error: BaseException) -> float | None:
    if isinstance(error, ModelAPIError) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
    return None


async def call_with_retry(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``attempt()`` until it succeeds, a non-retryable error, or the attempts run out."""
    delays = policy.delays()
    while True:
        try:
            return await attempt()
        except Exception as exc:
            delay = next(delays, None) if is_retryable(exc) else None
            if delay is None:
                raise
            delay = max(delay, retry_after(exc) or 0.0)
            if on_retry is not None:
                on_retry(exc, delay)
            await sleep(delay)
