"""Waiting for the database at start: backoff between attempts, a log line for each, a bound,
and no waiting for a database that answers no (a wrong name is not an outage).

The clock and the sleeps are fakes: the backoff is asserted exactly, in no time.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError
from structlog.testing import capture_logs

from punching_fist.errors import TemporaryFailure
from punching_fist.store.database import WAIT_BACKOFF, Database
from tests.harness.postgres import PostgresServer
from tests.support.server import free_port


class FakeTime:
    """``clock`` and ``sleep`` for ``wait_until_reachable``: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_an_unreachable_database_is_retried_with_backoff_until_the_bound() -> None:
    database = Database(f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/pf")
    time = FakeTime()
    try:
        with capture_logs() as logs, pytest.raises(TemporaryFailure) as raised:
            await database.wait_until_reachable(60, sleep=time.sleep, clock=time.clock)
    finally:
        await database.close()

    # 0.5, 1, 2, 4, 8, then 10 s apart (each less up to 20 % jitter); the last one is cut to
    # what is left of the 60 s.
    nominal = [0.5, 1, 2, 4, 8, *[10.0] * 10]
    for slept, expected in zip(time.sleeps[:-1], nominal, strict=False):
        assert expected * (1 - WAIT_BACKOFF.jitter) <= slept <= expected
    assert sum(time.sleeps) == pytest.approx(60)
    attempts = len(time.sleeps) + 1
    assert 11 <= attempts <= 13  # 11 without jitter
    assert f"unreachable for 60s ({attempts} attempts)" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    waits = [entry for entry in logs if entry["event"] == "database unreachable, waiting"]
    assert [entry["attempt"] for entry in waits] == list(range(1, attempts))
    assert all(entry["log_level"] == "warning" for entry in waits)
    assert waits[0]["database"] == database.safe_url
    assert "s3cret" not in waits[0]["database"]
    assert "connect" in waits[0]["error"].lower()  # refused (uvloop), call failed (asyncio)
    assert waits[0]["gives_up_in"] == 60
    [gave_up] = [entry for entry in logs if entry["event"] == "database unreachable, giving up"]
    assert gave_up["attempts"] == attempts
    assert gave_up["log_level"] == "error"


async def test_a_database_that_answers_no_is_not_waited_for(
    postgres_server: PostgresServer,
) -> None:
    database = Database(postgres_server.with_database("no_such_database").async_url)
    time = FakeTime()
    try:
        with pytest.raises(DBAPIError, match="does not exist"):
            await database.wait_until_reachable(60, sleep=time.sleep, clock=time.clock)
    finally:
        await database.close()
    assert time.sleeps == []


async def test_a_reachable_database_is_one_attempt(database_url: str) -> None:
    database = Database(database_url)
    time = FakeTime()
    try:
        assert await database.wait_until_reachable(60, sleep=time.sleep, clock=time.clock) == 1
    finally:
        await database.close()
    assert time.sleeps == []
