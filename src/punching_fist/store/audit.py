"""The audit trail: every LLM request and tool call an agent makes, as rows in ``audit_events``.

Writes are cheap: ``record`` queues a row and returns at once; one writer commits whatever
is queued in a single transaction, so many concurrent investigations share commits. Callers
that must know a row is stored before acting (an approved change to the cluster) await the
returned future.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from punching_fist.errors import TemporaryFailure
from punching_fist.store.database import Database
from punching_fist.store.tables import audit_events, utcnow

AUDIT_OUTPUT_LIMIT = 4_000
"""Characters of output stored per event; the head and tail survive."""

log = structlog.get_logger(__name__)

AuditKind = Literal["llm", "tool", "approval", "correction"]


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One row of the trail. ``output`` must already be redacted."""

    run_id: uuid.UUID | None
    step_name: str | None
    kind: AuditKind
    name: str
    arguments: dict[str, Any] | None = None
    exit_code: int | None = None
    duration_ms: float | None = None
    output: str | None = None
    usage: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        output = None if self.output is None else _trim(self.output, AUDIT_OUTPUT_LIMIT)
        return {
            "id": uuid.uuid4(),
            "run_id": self.run_id,
            "step_name": self.step_name,
            "kind": self.kind,
            "name": self.name[:255],
            "arguments": self.arguments,
            "exit_code": self.exit_code,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 2),
            "output": output,
            "usage": self.usage,
            "created_at": self.created_at,
        }


_INSERT = insert(audit_events)


def _insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_INSERT, rows)


def _trim(text: str, limit: int) -> str:
    # Callers cap output for the LLM already; this only bounds what one row can hold.
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


class AuditLog:
    """Queues audit rows and commits them in batches; ``start``/``stop`` bound its writer."""

    def __init__(self, database: Database, *, linger: float = 0.05) -> None:
        """``linger``: how long a routine row may wait for others to share its commit."""
        self._db = database
        self._linger = linger
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._writer is None:
            return
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None
        await self._write_batch()

    def record(self, event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]:
        """Queue ``event``; the future completes once it is committed.

        Routine rows wait up to ``linger`` for company; ``urgent`` ones (and everything
        queued with them) are written at once.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._writer is None:
            done.set_exception(TemporaryFailure("the audit writer is not running"))
            return done
        self._queue.append((event.row(), done))
        self._wakeup.set()
        if urgent:
            self._urgent.set()
        return done

    def expedite(self) -> None:
        """Write what is queued now (someone is waiting for it)."""
        if self._queue:
            self._urgent.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self._linger)
            self._wakeup.clear()
            self._urgent.clear()
            await self._write_batch()

    async def _write_batch(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            await self._db.run_transaction(_insert_rows, [row for row, _ in batch])
        except Exception as exc:  # the trail must not take investigations down with it
            log.error("could not store audit events", count=len(batch), error=str(exc))
            for _, done in batch:
                if not done.done():
                    done.set_exception(TemporaryFailure("could not store audit events"))
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
