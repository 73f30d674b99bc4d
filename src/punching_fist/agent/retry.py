"""Retrying LLM provider calls: the policy is data, the loop is one small function.

``rigConfig.retryPolicy`` becomes the shared ``retry.RetryPolicy``; ``call_with_retry`` runs
a request under it, waiting between attempts (honouring a provider's ``Retry-After`` when it
asks for longer) and retrying only what can pass: rate limits, overloads, server errors, dropped
connections. Authentication, bad requests and unknown models fail at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelUnavailableError,
)

from punching_fist.resources.workflow import RetryPolicySpec
from punching_fist.retry import RetryPolicy

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_SECONDS = 120.0
"""A provider asking for a longer pause than this gets no more than this."""


def policy_for(spec: RetryPolicySpec | None) -> RetryPolicy:
    """``rigConfig.retryPolicy`` as the shared ``RetryPolicy`` (no jitter: one caller)."""
    spec = spec or RetryPolicySpec()
    return RetryPolicy.of(
        max_attempts=spec.max_attempts,
        backoff=spec.backoff,
        initial_delay=spec.initial_delay_seconds,
        max_delay=spec.max_delay_seconds,
    )


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
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as exc:
            if not is_retryable(exc) or attempts >= policy.max_attempts:
                raise
            delay = max(policy.backoff(attempts), retry_after(exc) or 0.0)
            if on_retry is not None:
                on_retry(exc, delay)
            await sleep(delay)
