"""Chat conversations: one row per run a chat Source started, grouped by Slack thread.

A thread is a session: a follow-up mention in it starts a new run whose agent is handed the
thread's earlier questions and answers. What is handed over is bounded (``history``): the
last ``max_turns`` answered turns, fewer when their text exceeds ``max_chars``, newest kept
first, so a long thread never grows a prompt past the model's window.

A row is written before the answer is posted (with the placeholder's ``ts``) and finished
after, so a step that runs again (after a crash, or resumed after an approval) edits the same
message instead of posting a second one, and posts nothing once it was answered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from punching_fist.store.database import Database
from punching_fist.store.tables import chat_turns, utcnow

DEFAULT_MAX_TURNS = 10
DEFAULT_MAX_CHARS = 24_000
"""About 6,000 tokens of earlier turns (four characters a token)."""


@dataclass(frozen=True, kw_only=True)
class ChatTurn:
    run_id: uuid.UUID
    source_name: str
    channel: str
    thread_ts: str
    user_id: str | None
    question: str
    answer: str | None
    reply_ts: str | None
    created_at: datetime | None = None


class ChatStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def turn(self, run_id: uuid.UUID) -> ChatTurn | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(select(chat_turns).where(chat_turns.c.run_id == run_id))
            ).first()
        return None if row is None else _turn(row._mapping)

    async def thread_source(self, channel: str, thread_ts: str) -> str | None:
        """The chat Source whose conversation the thread is, if it is one."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(
                    select(chat_turns.c.source_name)
                    .where(chat_turns.c.channel == channel, chat_turns.c.thread_ts == thread_ts)
                    .order_by(chat_turns.c.created_at)
                    .limit(1)
                )
            ).scalar()
        return None if found is None else str(found)

    async def begin(self, turn: ChatTurn) -> ChatTurn:
        """Record the question and its placeholder reply; the stored turn if it exists."""
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    insert(chat_turns).values(
                        run_id=turn.run_id,
                        source_name=turn.source_name,
                        channel=turn.channel,
                        thread_ts=turn.thread_ts,
                        user_id=turn.user_id,
                        question=turn.question,
                        reply_ts=turn.reply_ts,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            stored = await self.turn(turn.run_id)
            assert stored is not None, "the conflicting row exists"
            return stored
        return turn

    async def answer(self, run_id: uuid.UUID, answer: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                update(chat_turns)
                .where(chat_turns.c.run_id == run_id)
                .values(answer=answer, answered_at=utcnow())
            )

    async def history(
        self,
        channel: str,
        thread_ts: str,
        *,
        before: uuid.UUID,
        max_turns: int = DEFAULT_MAX_TURNS,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> list[ChatTurn]:
        """The thread's answered turns before run ``before``, oldest first, bounded."""
        async with self._db.connect() as conn:
            rows = (
                await conn.execute(
                    select(chat_turns)
                    .where(
                        chat_turns.c.channel == channel,
                        chat_turns.c.thread_ts == thread_ts,
                        chat_turns.c.answer.is_not(None),
                        chat_turns.c.run_id != before,
                    )
                    .order_by(chat_turns.c.created_at.desc())
                    .limit(max_turns)
                )
            ).all()
        kept: list[ChatTurn] = []
        used = 0
        for row in rows:  # newest first: the oldest turns are the ones left out
            turn = _turn(row._mapping)
            used += len(turn.question) + len(turn.answer or "")
            if used > max_chars:
                break
            kept.append(turn)
        return list(reversed(kept))


def _turn(row: RowMapping) -> ChatTurn:
    get = row.__getitem__
    return ChatTurn(
        run_id=get("run_id"),
        source_name=get("source_name"),
        channel=get("channel"),
        thread_ts=get("thread_ts"),
        user_id=get("user_id"),
        question=get("question"),
        answer=get("answer"),
        reply_ts=get("reply_ts"),
        created_at=get("created_at"),
    )
