"""SQLite write transactions on one thread, many callers per commit.

SQLite has one write lock and every commit syncs the WAL to disk, so a busy server that
commits each small transaction on its own (a run claimed, a step finished, a delivery
recorded, a batch of alerts) spends its time waiting for commits one after another. Here
callers queue synchronous ``work(connection, args)`` functions; the writer thread runs all
that are waiting inside one transaction, each in its own savepoint so that one failing
caller rolls back only its own changes, commits once, and only then answers every caller.
Nobody is answered before their changes are durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, RootTransaction

from punching_fist.store.write_gate import WriteGate

T = TypeVar("T")

log = structlog.get_logger(__name__)

MAX_CALLERS_PER_COMMIT = 256
"""Bounds how long one commit keeps the write gate from other writers."""

Work = Callable[[Connection, Any], Any]


class _Call:
    __slots__ = ("args", "future", "work")

    def __init__(self, work: Work, args: Any, future: asyncio.Future[Any]) -> None:
        self.work = work
        self.args = args
        self.future = future


def use_explicit_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, say when transactions begin.

    The stdlib driver defers ``BEGIN`` until the first write, which breaks savepoints
    (SQLAlchemy's documented workaround). ``BEGIN IMMEDIATE`` also takes the write lock up
    front, so a transaction never fails half-way on upgrading a read lock.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteWriter:
    """Runs queued write work on one thread, committing whatever has queued up together."""

    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self._engine = engine
        self._gate = gate
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pf-sqlite")
        self._connection: Connection | None = None  # used on the writer thread only
        self._urgent: list[_Call] = []
        self._routine: list[_Call] = []
        self._drainer: asyncio.Task[None] | None = None
        self._last_was_urgent = False
        self.commits = 0

    async def run(self, work: Callable[[Connection, Any], T], args: Any, *, urgent: bool) -> T:
        """``work(connection, args)`` inside a committed transaction; its result or error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        (self._urgent if urgent else self._routine).append(_Call(work, args, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(), name="sqlite-writer")
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Call] = []
        try:
            while self._urgent or self._routine:
                batch = self._take()
                async with self._gate.hold(urgent=True):
                    try:
                        outcomes = await loop.run_in_executor(self._thread, self._execute, batch)
                    except Exception as exc:  # the commit failed: nothing of the batch is stored
                        outcomes = [exc] * len(batch)
                _settle(batch, outcomes)
                batch = []
        except asyncio.CancelledError:
            for call in [*batch, *self._urgent, *self._routine]:
                call.future.cancel()
            raise
        finally:
            self._drainer = None

    def _take(self) -> list[_Call]:
        # Urgent work commits without routine work beside it: its callers are waiting to
        # answer HTTP requests, and a commit's latency grows with everything in it. Yet a
        # burst of alerts must not starve the runs it starts (their claims are routine), so
        # after an urgent commit, waiting routine work gets the next one.
        if self._urgent and not (self._routine and self._last_was_urgent):
            queue, self._last_was_urgent = self._urgent, True
        else:
            queue, self._last_was_urgent = self._routine, False
        batch = queue[:MAX_CALLERS_PER_COMMIT]
        del queue[: len(batch)]
        return batch

    def _execute(self, batch: list[_Call]) -> list[Any]:
        """On the writer thread: one transaction, one savepoint per caller, one commit."""
        conn = self._connection
        if conn is None:
            conn = self._connection = self._engine.connect()
        try:
            with conn.begin() as transaction:
                if len(batch) == 1:
                    outcomes = [_alone(transaction, conn, batch[0])]
                else:
                    outcomes = [_in_savepoint(conn, call) for call in batch]
        except BaseException:
            self._connection = None  # start the next batch on a fresh connection
            conn.close()
            raise
        self.commits += 1
        return outcomes

    def close(self) -> None:
        """Close the writer's connection and thread (after every caller was answered)."""

        def close_connection() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        self._thread.submit(close_connection).result()
        self._thread.shutdown(wait=True)


def _alone(transaction: RootTransaction, conn: Connection, call: _Call) -> Any:
    try:
        return call.work(conn, call.args)
    except Exception as exc:
        transaction.rollback()
        return _Failed(exc)


def _in_savepoint(conn: Connection, call: _Call) -> Any:
    # Plain statements through the driver: SQLAlchemy compiles a new SAVEPOINT clause per
    # name, which cost more than the work it wrapped. Savepoints here are never nested.
    conn.exec_driver_sql("SAVEPOINT caller")
    try:
        result = call.work(conn, call.args)
    except Exception as exc:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT caller")
        conn.exec_driver_sql("RELEASE SAVEPOINT caller")
        return _Failed(exc)
    conn.exec_driver_sql("RELEASE SAVEPOINT caller")
    return result


class _Failed:
    """One caller's error, carried back beside the others' results."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _settle(batch: list[_Call], outcomes: list[Any]) -> None:
    for call, outcome in zip(batch, outcomes, strict=True):
        if call.future.done():
            continue  # its caller was cancelled; what it wrote is committed all the same
        if isinstance(outcome, _Failed):
            call.future.set_exception(outcome.error)
        elif isinstance(outcome, BaseException):
            call.future.set_exception(outcome)
        else:
            call.future.set_result(outcome)
