"""Group commit: many concurrent callers, one transaction.

Every accepted alert must be committed before its request is answered, yet one commit per
request would make the disk the bottleneck. Callers add their items to the open batch; a
single writer takes the whole batch into one transaction, commits, and wakes every caller of
it at once. Under light load a batch is one request (no added latency); under heavy load
batches grow on their own while the previous one commits.

This sits on the intake's hot path: a request costs a list append and a future, no queue.

A request of more than ``max_batch_items`` is committed in slices of that size, one after
another, each in a batch of its own or beside other requests: no single commit grows with
one request, so no other request waits for a whole large one. A request that fails because
the database refuses one of its values (``DataError``: too long, a NUL character) fails
with ``PermanentFailure``, since sending it again cannot help; anything else (a lost
connection, a full disk) is a ``TemporaryFailure``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError

from punching_fist.errors import PermanentFailure, TemporaryFailure
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
                future.set_exception(_failure(outcome))
            else:
                future.set_result(outcome)


def _failure(error: BaseException) -> PermanentFailure | TemporaryFailure:
    if isinstance(error, DataError):
        # The driver's first line names the problem; the rest repeats the statement.
        reason = str(error.orig).splitlines()[0] if error.orig is not None else "invalid value"
        return PermanentFailure(f"the database cannot hold a value: {reason}")
    text = str(error).lower()
    if "disk is full" in text or "could not extend file" in text or "no space left" in text:
        return TemporaryFailure("could not store the alerts: the database is full", delay=30.0)
    return TemporaryFailure("could not store the alerts: the database is unavailable", delay=1.0)


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
        writers: int = 1,
        on_committed: Callable[[Sequence[Result]], None] | None = None,
    ) -> None:
        self._database = database
        self._handler = handler
        self._max_batch_items = max_batch_items
        self._writer_count = writers
        self._on_committed = on_committed
        self._batches: deque[_Batch[Item, Result]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writers: list[asyncio.Task[None]] = []
        self._committing = 0
        self.batches_committed = 0

    def start(self) -> None:
        self._writers = [
            asyncio.create_task(self._run(), name=f"group-commit-writer-{n}")
            for n in range(self._writer_count)
        ]

    async def stop(self) -> None:
        """Finish what is queued, then stop the writers."""
        if not self._writers:
            return
        while self._batches or self._committing:
            await self._idle.wait()
            await asyncio.sleep(0)
        for writer in self._writers:
            writer.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        self._writers = []

    async def submit(self, items: list[Item]) -> list[Result]:
        """Returns once ``items`` are committed; raises ``TemporaryFailure`` if they cannot be
        for now, ``PermanentFailure`` if the database refuses them."""
        most = self._max_batch_items
        if len(items) <= most:
            return await self._submit(items)
        results: list[Result] = []
        for start in range(0, len(items), most):
            results += await self._submit(items[start : start + most])
        return results

    async def _submit(self, items: list[Item]) -> list[Result]:
        if not self._writers or any(writer.done() for writer in self._writers):
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
                if not self._committing:
                    self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._idle.clear()
            batch = self._batches.popleft()
            self._committing += 1
            try:
                outcomes = await self._commit(batch)
            except BaseException as exc:  # cancelled mid-batch: nobody may wait forever
                batch.settle([exc] * len(batch.sizes))
                raise
            finally:
                self._committing -= 1
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
        try:
            return await self._database.run_transaction(self._handler, items, urgent=True)
        except IntegrityError:
            # With several writers (PostgreSQL), two batches may open the same lifecycle at
            # once; the second waits for the first's commit, then fails on the unique index.
            # Again, it finds the lifecycle open and counts a repeat.
            return await self._database.run_transaction(self._handler, items, urgent=True)

    @staticmethod
    def _log_failure(exc: Exception) -> None:
        log.error("could not store a request", error=str(exc), error_type=type(exc).__name__)
