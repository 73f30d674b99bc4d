"""Group commit: many concurrent callers, one transaction.

Every accepted alert must be committed before its request is answered, yet one commit per
request would make the disk the bottleneck. Callers queue their items; a single writer drains
whatever is waiting into one transaction, commits, and wakes all of them. Under light load a
batch is one request (no added latency); under heavy load batches grow on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection

from punching_fist.errors import TemporaryFailure
from punching_fist.store.database import Database

Item = TypeVar("Item")
Result = TypeVar("Result")

BatchHandler = Callable[[Connection, list[Item]], list[Result]]

log = structlog.get_logger(__name__)


@dataclass(kw_only=True)
class _Request(Generic[Item, Result]):
    items: list[Item]
    done: asyncio.Future[list[Result]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
        self._queue: asyncio.Queue[_Request[Item, Result]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.batches_committed = 0

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop the writer."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def submit(self, items: list[Item]) -> list[Result]:
        """Returns once ``items`` are committed; raises ``TemporaryFailure`` if they cannot be."""
        if self._writer is None or self._writer.done():
            raise TemporaryFailure("the store writer is not running", delay=1.0)
        request: _Request[Item, Result] = _Request(items=items)
        self._queue.put_nowait(request)
        return await request.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].items)
            while size < self._max_batch_items and not self._queue.empty():
                request = self._queue.get_nowait()
                batch.append(request)
                size += len(request.items)
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Request[Item, Result]]) -> None:
        try:
            results = await self._transaction([item for request in batch for item in request.items])
        except Exception as exc:  # the batch failed as a whole: isolate the culprit
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning("group commit failed, retrying requests one by one", error=str(exc))
            for request in batch:
                await self._commit([request])
            return
        offset = 0
        for request in batch:
            count = len(request.items)
            if not request.done.done():
                request.done.set_result(results[offset : offset + count])
            offset += count
        self.batches_committed += 1
        if self._on_committed is not None:
            self._on_committed(results)

    async def _transaction(self, items: list[Item]) -> list[Result]:
        return await self._database.run_transaction(self._handler, items, urgent=True)

    @staticmethod
    def _fail(request: _Request[Item, Result], exc: Exception) -> None:
        log.error("could not store a request", error=str(exc), error_type=type(exc).__name__)
        if not request.done.done():
            request.done.set_exception(TemporaryFailure("could not store the alerts", delay=1.0))
