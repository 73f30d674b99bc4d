"""Chat turns on SQLite and PostgreSQL: a thread's history is its answered turns, oldest
first, bounded by turns and characters; a turn begun twice keeps its first row."""

from __future__ import annotations

import uuid
from typing import Any

from punching_fist.store.chat import ChatStore, ChatTurn
from punching_fist.store.database import Database
from punching_fist.store.tables import metadata
from tests.support.store_rows import insert_run


async def new_run(db: Database) -> uuid.UUID:
    return await insert_run(db, workflow_name="chat", status="running")


async def turn(db: Database, store: ChatStore, question: str, answer: str | None) -> uuid.UUID:
    run_id = await new_run(db)
    await store.begin(
        ChatTurn(
            run_id=run_id,
            source_name="slack",
            channel="C1",
            thread_ts="100.1",
            user_id="U1",
            question=question,
            answer=None,
            reply_ts="100.2",
        )
    )
    if answer is not None:
        await store.answer(run_id, answer)
    return run_id


async def test_history_is_the_threads_answered_turns_oldest_first(database: Database) -> None:
    store = ChatStore(database)
    await turn(database, store, "why is web down?", "OOMKilled")
    await turn(database, store, "and api?", "fine")
    await turn(database, store, "unanswered", None)
    current = await turn(database, store, "what now?", None)
    history = await store.history("C1", "100.1", before=current)
    assert [(t.question, t.answer) for t in history] == [
        ("why is web down?", "OOMKilled"),
        ("and api?", "fine"),
    ]
    assert await store.history("C1", "999.9", before=current) == []


async def test_history_is_bounded_by_turns_and_characters(database: Database) -> None:
    store = ChatStore(database)
    for index in range(5):
        await turn(database, store, f"q{index}", "a" * 100)
    current = await new_run(database)
    last_two = await store.history("C1", "100.1", before=current, max_turns=2)
    assert [t.question for t in last_two] == ["q3", "q4"]
    capped = await store.history("C1", "100.1", before=current, max_chars=250)
    assert [t.question for t in capped] == ["q3", "q4"]


async def test_a_turn_begun_twice_keeps_its_first_row(database: Database) -> None:
    store = ChatStore(database)
    run_id = await turn(database, store, "q", None)
    again = await store.begin(
        ChatTurn(
            run_id=run_id,
            source_name="slack",
            channel="C1",
            thread_ts="100.1",
            user_id="U1",
            question="q",
            answer=None,
            reply_ts="999.9",
        )
    )
    assert again.reply_ts == "100.2"


async def test_the_migration_creates_the_table_the_code_uses(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.connect() as conn:
        found = await conn.run_sync(differences)
    assert [d for d in found if "chat_turns" in repr(d)] == []


async def test_a_thread_is_a_conversation_of_the_source_that_started_it(
    database: Database,
) -> None:
    store = ChatStore(database)
    await turn(database, store, "why?", None)
    assert await store.thread_source("C1", "100.1") == "slack"
    assert await store.thread_source("C1", "555.5") is None
