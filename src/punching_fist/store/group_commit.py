"""Group commit: many concurrent callers, one transaction.

Every accepted alert must be committed before its request is answered, yet one commit per
request would make the disk the bottleneck. Callers add their items to the open batch; a
single writer takes the whole batch into one transaction, commits, and wakes every caller of
it at once. Under light load a batch is one request (no added latency); under heavy load
batches grow on their own while the previous one commits.

This sits on the intake's hot path: a request costs a list append and a future, no queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection

from punching_fist.errors import TemporaryFailure
from punching_fist.store.database import Database

Item = TypeVar("Item")
Result = TypeVar("Result")
T = TypeVar("T")

BatchHandler = Callable[[Connection, list[Item]], list[Result]]

log = structlog.get_logger(__name__)


class _Batch(Generic[Item, Result]):
    """Items of several requests, committed together, and each request's future."""

    __slots__ = ("futures", "items", "sizes")

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.sizes: list[int] = []
        self.futures: list[asyncio.Future[list[Result]]] = []

    def add(self, items: list[Item], future: asyncio.Future[list[Result]]) -> None:
        self.items.extend(items)
        self.sizes.append(len(items))
        self.futures.append(future)

    def requests(self) -> list[list[Item]]:
        return _split(self.items, self.sizes)

    def settle(self, outcomes: Sequence[list[Result] | BaseException]) -> None:
        for future, outcome in zip(self.futures, outcomes, strict=True):
            if future.done():  # its caller gave up (cancelled); the items are stored anyway
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(TemporaryFailure("could not store the alerts", delay=1.0))
            else:
                future.set_result(outcome)


def _split(values: list[T], sizes: list[int]) -> list[list[T]]:
    """``values`` cut into consecutive runs of the given sizes (one per request)."""
    out, offset = [], 0
    for size in sizes:
        out.append(values[offset : offset + size])
        offset += size
    return out


class GroupCommitter(Generic[Item, Result]):
    """Runs ``handler`` over batches of submitted items, one transaction per batch."""

    def __init__(
        self,
        database: Database,
        handler: BatchHandler[Item, Result],
        *,
        max_batch_items: int = 1000,
        on_committed: Callable[[Sequence[Result]], None] | None = None,
    ) -> None:
        self._database = database
        self._handler = handler
        self._max_batch_items = max_batch_items
        self._on_committed = on_committed
        self._batches: deque[_Batch[Item, Result]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self.batches_committed = 0

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop the writer."""
        if self._writer is None:
            return
        while self._batches or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def submit(self, items: list[Item]) -> list[Result]:
        """Returns once ``items`` are committed; raises ``TemporaryFailure`` if they cannot be."""
        writer = self._writer
        if writer is None or writer.done():
            raise TemporaryFailure("the store writer is not running", delay=1.0)
        batches = self._batches
        # Only the newest batch is open: the writer takes batches from the other end.
        if not batches or len(batches[-1].items) >= self._max_batch_items:
            batches.append(_Batch())
            self._wakeup.set()
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        batches[-1].add(items, future)
        return await future

    async def _run(self) -> None:
        while True:
            if not self._batches:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._idle.clear()
            batch = self._batches.popleft()
            try:
                outcomes = await self._commit(batch)
            except BaseException as exc:  # cancelled mid-batch: nobody may wait forever
                batch.settle([exc] * len(batch.sizes))
                raise
            batch.settle(outcomes)

    async def _commit(self, batch: _Batch[Item, Result]) -> list[list[Result] | BaseException]:
        try:
            results = await self._transaction(batch.items)
        except Exception as exc:  # the batch failed as a whole: isolate the culprit
            if len(batch.sizes) == 1:
                self._log_failure(exc)
                return [exc]
            log.warning("group commit failed, retrying requests one by one", error=str(exc))
            return [await self._commit_alone(items) for items in batch.requests()]
        self._committed(results)
        return list(_split(results, batch.sizes))

    async def _commit_alone(self, items: list[Item]) -> list[Result] | BaseException:
        try:
            results = await self._transaction(items)
        except Exception as exc:
            self._log_failure(exc)
            return exc
        self._committed(results)
        return results

    def _committed(self, results: list[Result]) -> None:
        self.batches_committed += 1
        if self._on_committed is not None:
            self._on_committed(results)

    async def _transaction(self, items: list[Item]) -> list[Result]:
        return await self._database.run_transaction(self._handler, items, urgent=True)

    @staticmethod
    def _log_failure(exc: Exception) -> None:
        log.error("could not store a request", error=str(exc), error_type=type(exc).__name__)
