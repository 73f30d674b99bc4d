"""The bounded run queue: limits overall and per workflow, a backlog instead of dropped runs.

A run the queue has no room for is already ``pending`` in the store; the queue notes it and
wakes the dispatcher only once it has drained enough to take many at once.
"""

from __future__ import annotations

import asyncio
import uuid

from punching_fist.engine.queue import QueueLimits, RunQueue
from punching_fist.engine.status import RunId

LIMITS = QueueLimits(max_queued=6, max_queued_per_workflow=3)


def ids(count: int) -> list[RunId]:
    return [uuid.uuid4() for _ in range(count)]


async def room(queue: RunQueue) -> bool:
    """Whether the dispatcher's ``wait_for_room`` returns now (consuming the wake-up)."""
    try:
        await asyncio.wait_for(queue.wait_for_room(), 0.01)
    except TimeoutError:
        return False
    return True


async def test_a_workflow_fills_only_its_share_and_the_rest_waits_in_the_store() -> None:
    queue = RunQueue(lambda: LIMITS)
    assert queue.submit(ids(5), workflow="a") == 3
    assert queue.submit(ids(5), workflow="b") == 3
    assert queue.submit(ids(1), workflow="c") == 0  # full overall
    state = queue.state()
    assert (state.queued, dict(state.by_workflow)) == (6, {"a": 3, "b": 3})
    assert state.backlog
    assert state.deferred == 2 + 2 + 1  # counted, never dropped: their rows stay pending
    assert not await room(queue)  # nothing drained yet: no reason to read the store


async def test_the_dispatcher_is_woken_once_half_of_a_waiting_share_drained() -> None:
    queue = RunQueue(lambda: LIMITS)
    queue.submit(ids(4), workflow="a")  # one waits in the store
    await queue.take()
    assert not await room(queue)  # 2 of a's 3 still waiting: more than half its share
    await queue.take()
    assert await room(queue)
    assert not await room(queue)  # one wake-up per drain, not one per run taken


async def test_runs_over_a_request_allowance_are_a_backlog_until_a_refill_takes_them() -> None:
    queue = RunQueue(lambda: LIMITS)
    queue.defer(4, workflow="a")  # stored pending, not queued: their request used its share
    assert await room(queue)  # the queue is empty: take them from the store now
    idle = asyncio.create_task(queue.wait_idle())
    await asyncio.sleep(0)
    assert not idle.done()  # nothing is running, but runs wait in the store

    queue.refill_starting()
    waiting = ids(4)
    assert queue.offer([(run_id, "a") for run_id in waiting], from_store=True) == 3
    queue.refilled(exhausted=True)  # read everything there was; one did not fit
    state = queue.state()
    assert state.backlog
    assert state.deferred == 4  # the refused one is not counted twice

    for _ in range(3):
        queue.done(await queue.take())
    assert await room(queue)
    queue.refill_starting()
    assert queue.offer([(waiting[3], "a")], from_store=True) == 1
    queue.refilled(exhausted=True)
    queue.done(await queue.take())
    await asyncio.wait_for(idle, 1)
    assert not queue.state().backlog


async def test_a_full_read_of_the_store_means_more_may_wait_there() -> None:
    queue = RunQueue(lambda: LIMITS)
    queue.refill_starting()
    queue.offer([(run_id, None) for run_id in ids(6)], from_store=True)
    queue.refilled(exhausted=False)
    assert queue.state().backlog
    for _ in range(2):
        await queue.take()
    assert not await room(queue)
    await queue.take()  # half the queue drained
    assert await room(queue)


async def test_an_id_is_queued_once_and_limits_are_read_live() -> None:
    limits = [LIMITS]
    queue = RunQueue(lambda: limits[0])
    run_id = uuid.uuid4()
    assert queue.submit([run_id, run_id]) == 1
    limits[0] = QueueLimits(max_queued=1, max_queued_per_workflow=1)
    assert queue.submit(ids(1)) == 0
    assert queue.state().max_queued == 1
