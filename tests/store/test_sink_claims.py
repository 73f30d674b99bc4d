"""The claim on an incident's first message (issue 15), on SQLite and PostgreSQL: one holder,
its own retries keep it, others wait until it is filled, a stale claim is taken over, an
unfilled one can be given up only by its holder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from punching_fist.store.database import Database
from punching_fist.store.deliveries import StoredCorrelation
from punching_fist.store.delivery_writes import Remember, remember_correlation
from punching_fist.store.sink_claims import SinkClaims
from punching_fist.store.tables import utcnow

STALE = timedelta(seconds=90)
KEY = "incident:6f1c"


@pytest.fixture
async def claims(database_url: str) -> AsyncIterator[tuple[SinkClaims, Database]]:
    db = Database(database_url)
    await db.migrate()
    yield SinkClaims(db), db
    await db.close()


async def test_one_holder_others_wait_until_it_is_filled(
    claims: tuple[SinkClaims, Database],
) -> None:
    store, db = claims
    first, second = uuid.uuid4(), uuid.uuid4()
    now = utcnow()

    assert (await store.claim("slack", KEY, first, now=now, stale=STALE)).mine
    waiting = await store.claim("slack", KEY, second, now=now, stale=STALE)
    assert not waiting.mine
    assert waiting.external_ref is None
    assert (await store.claim("slack", KEY, first, now=now, stale=STALE)).mine  # a retry
    assert (await store.claim("jira", KEY, second, now=now, stale=STALE)).mine  # per sink

    filled = StoredCorrelation(external_ref="171.0001", data={"channel": "C1", "thread_ts": "171"})
    await db.run_transaction(remember_correlation, Remember("slack", KEY, filled, first, now))
    replying = await store.claim("slack", KEY, second, now=now, stale=STALE)
    assert not replying.mine
    assert replying.external_ref == "171.0001"
    assert replying.data == {"channel": "C1", "thread_ts": "171"}


async def test_a_stale_claim_is_taken_over_and_only_its_holder_releases(
    claims: tuple[SinkClaims, Database],
) -> None:
    store, _ = claims
    crashed, next_one, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    assert (await store.claim("slack", KEY, crashed, now=now, stale=STALE)).mine

    later = now + STALE + timedelta(seconds=1)
    assert (await store.claim("slack", KEY, next_one, now=later, stale=STALE)).mine
    await store.release("slack", KEY, crashed)  # no longer its claim: nothing happens
    assert not (await store.claim("slack", KEY, third, now=later, stale=STALE)).mine

    await store.release("slack", KEY, next_one)  # its delivery failed: the next may post
    assert (await store.claim("slack", KEY, third, now=later, stale=STALE)).mine


async def test_concurrent_claims_have_one_winner(claims: tuple[SinkClaims, Database]) -> None:
    store, _ = claims
    now = utcnow()
    outcomes = await asyncio.gather(
        *(store.claim("slack", KEY, uuid.uuid4(), now=now, stale=STALE) for _ in range(10))
    )
    assert sum(outcome.mine for outcome in outcomes) == 1
