"""The knowledge base on SQLite (FTS5) and PostgreSQL (tsvector + GIN): rows, full-text search
through one API, the entries of a signature, and the migration against the metadata."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from punching_fist.store.database import Database
from punching_fist.store.knowledge import KnowledgeStore, NewEntry
from punching_fist.store.knowledge_search import search, words
from punching_fist.store.tables import metadata, utcnow


def entry(**fields: Any) -> NewEntry:
    values: dict[str, Any] = {
        "kind": "investigation",
        "title": "PodCrashLooping shop/checkout",
        "alertname": "PodCrashLooping",
        "namespace": "shop",
        "workload": "checkout",
        "root_cause": "the container exits: DATABASE_URL is not set",
        "fix": "set DATABASE_URL in the deployment",
        "findings": ["Error: DATABASE_URL is not set"],
        "result": {"root_cause": "x"},
        **fields,
    }
    return NewEntry(**values)


async def test_full_text_search_finds_stemmed_words_best_first(database: Database) -> None:
    store = KnowledgeStore(database)
    oom = await store.add(
        entry(
            alertname="KubePodOOMKilled",
            workload="cart",
            title="cart OOM",
            root_cause="the cart container was OOMKilled: memory limit 256Mi exceeded",
            fix="raise the memory limit to 512Mi",
        )
    )
    env = await store.add(entry())
    await store.add(
        entry(
            kind="postmortem",
            title="Certificates expired",
            alertname=None,
            workload=None,
            root_cause="the TLS certificate expired",
            fix="renew it",
            findings=[],
            body="# Postmortem\nThe ingress certificate was not renewed.",
        )
    )

    hits, total = await search(database, "memory limits", every=True, limit=10)
    assert [h.entry.id for h in hits] == [oom.id]
    assert total == 1
    assert 0 < hits[0].score < 1

    hits, total = await search(database, "renewing certificates", every=False, limit=10)
    assert [h.entry.title for h in hits] == ["Certificates expired"]

    # any word: both crash causes match "container", the one naming the database first
    hits, total = await search(database, "container DATABASE_URL", every=False, limit=10)
    assert total == 2
    assert hits[0].entry.id == env.id
    hits, _ = await search(
        database, "container", every=False, limit=10, exclude=frozenset({env.id})
    )
    assert [h.entry.id for h in hits] == [oom.id]


async def test_query_syntax_is_never_read_as_operators(database: Database) -> None:
    store = KnowledgeStore(database)
    await store.add(entry())
    for query in ['"', "NOT", "a:b*", "(x OR", "' OR 1=1 --", "&|!<->", ""]:
        await search(database, query, every=True, limit=5)
        await search(database, query, every=False, limit=5)
    assert words("OOM-killed: x_y 'z'") == ["oom", "killed", "x", "y", "z"]


async def test_edits_and_deletes_reach_the_index(database: Database) -> None:
    store = KnowledgeStore(database)
    stored = await store.add(entry())
    changed = await store.update(stored.id, {"root_cause": "a quota of persistentvolumeclaims"})
    assert changed is not None
    assert changed.root_cause.startswith("a quota")
    assert (await search(database, "quota", every=True, limit=5))[1] == 1
    assert (await search(database, "exits", every=True, limit=5))[1] == 0
    assert await store.delete(stored.id)
    assert not await store.delete(stored.id)
    assert (await search(database, "quota", every=True, limit=5))[1] == 0
    assert await store.update(uuid.uuid4(), {"notes": "x"}) is None
    with pytest.raises(ValueError, match="not editable: result"):
        await store.update(stored.id, {"result": {}})


async def test_signature_entries_put_confirmed_first_and_wrong_last(database: Database) -> None:
    store = KnowledgeStore(database)
    now = utcnow()
    wrong = await store.add(entry(root_cause="wrong"), now=now - timedelta(minutes=1))
    await store.update(wrong.id, {"correct": "no", "feedback_by": "alice"})
    unknown = await store.add(entry(root_cause="unknown"), now=now - timedelta(minutes=2))
    right = await store.add(entry(root_cause="right"), now=now - timedelta(minutes=3))
    await store.update(right.id, {"correct": "yes"})
    await store.add(entry(workload="cart"))
    found = await store.of_signature("PodCrashLooping", "checkout", "shop", limit=3)
    assert [e.id for e in found] == [right.id, unknown.id, wrong.id]


async def test_the_cache_takes_the_newest_reusable_investigation(database: Database) -> None:
    store = KnowledgeStore(database)
    now = utcnow()
    await store.add(entry(title="old"), now=now - timedelta(minutes=30))
    fresh = await store.add(entry(title="fresh"), now=now - timedelta(minutes=5))
    newer_wrong = await store.add(entry(title="wrong"), now=now - timedelta(minutes=1))
    await store.update(newer_wrong.id, {"correct": "no"})
    signature: dict[str, Any] = {
        "alertname": "PodCrashLooping",
        "namespace": "shop",
        "workload": "checkout",
        "container": None,
    }
    found = await store.latest_investigation(**signature, since=now - timedelta(minutes=15))
    assert found is not None
    assert found.id == fresh.id
    other: dict[str, Any] = {**signature, "container": "app"}
    assert await store.latest_investigation(**other, since=now - timedelta(minutes=15)) is None
    await store.mark_reused(fresh.id)
    again = await store.get(fresh.id)
    assert again is not None
    assert again.reused == 1


async def test_the_migration_creates_what_the_code_uses(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.connect() as conn:
        found = await conn.run_sync(differences)
        if database.is_sqlite:
            triggers = await conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'knowledge%'"
                )
            )
            assert sorted(r[0] for r in triggers) == [
                "knowledge_fts_delete",
                "knowledge_fts_insert",
                "knowledge_fts_update",
            ]
        else:
            index = await conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_knowledge_entries_search'"
                )
            )
            assert "gin (search)" in index.scalar_one()
    # The full-text parts live in the migration only (not expressible in the metadata).
    fts_only = ("knowledge_fts", "'search'", "ix_knowledge_entries_search")
    relevant = [d for d in found if "knowledge" in repr(d)]
    assert [d for d in relevant if not any(name in repr(d) for name in fts_only)] == []
