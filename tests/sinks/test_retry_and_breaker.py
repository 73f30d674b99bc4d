"""Retries as data and the circuit breaker, on a fake clock: delays and transitions exactly."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from punching_fist.engine.delivery.circuit import Breakers, BreakerState, CircuitBreaker
from punching_fist.errors import DeliveryFailed, SecretResolutionError, TemporaryFailure
from punching_fist.retry import RetryPolicy
from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.sinks.http import retry_after
from punching_fist.sinks.redaction import Redactor


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read afresh (mypy keeps ``breaker.state`` narrowed across calls)."""
    return breaker.state


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(initial_delay=1, multiplier=2, max_delay=10, jitter=0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@given(
    attempt=st.integers(1, 30),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_jitter_only_ever_shortens_the_delay_by_at_most_its_fraction(
    attempt: int, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(initial_delay=0.5, multiplier=3, max_delay=60, jitter=jitter)
    base = RetryPolicy(initial_delay=0.5, multiplier=3, max_delay=60, jitter=0).backoff(attempt)
    delay = policy.backoff(attempt, random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= base + 1e-9


def test_only_temporary_failures_are_retried_and_only_within_the_budget() -> None:
    policy = RetryPolicy(max_attempts=3)
    temporary = TemporaryFailure("503", delay=0)
    assert policy.retries(temporary, 1)
    assert policy.retries(temporary, 2)
    assert not policy.retries(temporary, 3)
    assert not policy.retries(DeliveryFailed("400 invalid"), 1)
    assert not policy.retries(SecretResolutionError("not set"), 1)


def test_retry_after_is_a_floor_never_shortened_by_the_backoff() -> None:
    policy = RetryPolicy(initial_delay=0.1, jitter=0)
    assert policy.delay(TemporaryFailure("429", delay=7.5), 1) == 7.5
    assert policy.delay(TemporaryFailure("503", delay=0), 1) == 0.1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
def test_retry_after_header_forms(header: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": header}) == seconds


def test_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30, clock=clock)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # not consecutive any more
    breaker.failed()
    breaker.failed()
    assert state(breaker) is BreakerState.CLOSED
    breaker.failed()
    assert state(breaker) is BreakerState.OPEN
    refused = breaker.admit()
    assert not refused.allowed
    assert refused.retry_in == 30


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    breaker.failed()
    clock.now += 9.9
    assert not breaker.admit().allowed
    clock.now += 0.1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.admit().allowed  # the probe
    assert not breaker.admit().allowed  # everyone else waits for its verdict
    breaker.succeeded()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.admit().allowed


def test_a_failed_probe_opens_the_breaker_again_for_a_full_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_seconds=10, clock=clock)
    for _ in range(5):
        breaker.failed()
    clock.now += 10
    assert breaker.admit().allowed
    breaker.failed()  # one failure is enough while probing
    assert breaker.state is BreakerState.OPEN
    clock.now += 9
    assert not breaker.admit().allowed
    clock.now += 1
    assert breaker.admit().allowed


def test_a_probe_without_verdict_frees_the_slot_for_the_next_one() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=1, clock=clock)
    breaker.failed()
    clock.now += 1
    assert breaker.admit().allowed
    breaker.released()  # e.g. the request was refused as invalid: says nothing about health
    assert breaker.admit().allowed


def test_a_manual_retry_goes_through_an_open_breaker_as_its_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=60, clock=clock)
    breaker.failed()
    assert breaker.admit(force=True).allowed
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_breakers_are_per_sink_and_follow_edited_settings() -> None:
    breakers = Breakers(clock=FakeClock())
    slack = breakers.get("slack", failure_threshold=1, reset_seconds=5)
    slack.failed()
    assert breakers.get("pd", failure_threshold=1, reset_seconds=5).state is BreakerState.CLOSED
    assert breakers.get("slack", failure_threshold=9, reset_seconds=5) is slack
    assert slack.failure_threshold == 9
    assert breakers.states() == {"slack": BreakerState.OPEN, "pd": BreakerState.CLOSED}


def test_redaction_masks_resolved_secrets_and_known_token_shapes() -> None:
    async def resolved() -> SecretResolver:
        resolver = SecretResolver({"env": EnvResolver({"KEY": "s3cr3t-value-123"})})
        await resolver.resolve("env://KEY")
        return resolver

    import asyncio

    redactor = Redactor(asyncio.run(resolved()))
    text = 'got s3cr3t-value-123 and xoxb-999-abc and Bearer abcdefghijkl and "routing_key": "R1"'
    assert redactor.text(text) == (
        'got [redacted] and [redacted] and Bearer [redacted] and "routing_key": "[redacted]"'
    )
    assert redactor.document({"a": ["s3cr3t-value-123"]}) == {"a": ["[redacted]"]}
