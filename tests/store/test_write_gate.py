"""The SQLite write gate: one writer at a time, urgent writers first, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from punching_fist.store.write_gate import WriteGate


async def test_one_holder_at_a_time_and_urgent_waiters_go_first() -> None:
    gate = WriteGate()
    order: list[str] = []
    inside = 0

    async def writer(name: str, *, urgent: bool) -> None:
        nonlocal inside
        async with gate.hold(urgent=urgent):
            inside += 1
            assert inside == 1
            order.append(name)
            await asyncio.sleep(0)  # let the others try to get in meanwhile
            inside -= 1

    async with gate.hold():
        tasks = [
            asyncio.create_task(writer("routine-1", urgent=False)),
            asyncio.create_task(writer("routine-2", urgent=False)),
            asyncio.create_task(writer("urgent-1", urgent=True)),
            asyncio.create_task(writer("urgent-2", urgent=True)),
        ]
        await asyncio.sleep(0)  # one turn of the loop: each task is waiting at the gate
        assert order == []
    await asyncio.gather(*tasks)
    assert order == ["urgent-1", "urgent-2", "routine-1", "routine-2"]


async def test_a_cancelled_waiter_does_not_keep_the_gate() -> None:
    gate = WriteGate()
    async with gate.hold():
        waiter = asyncio.create_task(_hold(gate))
        await asyncio.sleep(0)  # one turn of the loop: the waiter is queued at the gate
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await asyncio.wait_for(_hold(gate), 1)


async def test_cancelled_right_after_the_handover_releases_it() -> None:
    gate = WriteGate()
    entered = asyncio.Event()
    holder = asyncio.create_task(_hold(gate, until=entered))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(gate))
    await asyncio.sleep(0)
    entered.set()
    await holder  # hands the gate to ``waiter``...
    waiter.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(waiter, return_exceptions=True)
    await asyncio.wait_for(_hold(gate), 1)


async def _hold(gate: WriteGate, until: asyncio.Event | None = None) -> None:
    async with gate.hold():
        if until is not None:
            await until.wait()
