"""Migration 0013 creates exactly the api and kubernetes source tables ``store.tables`` declares,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from punching_fist.store.database import Database
from punching_fist.store.tables import metadata

TABLES = ("api_requests", "kubernetes_watches", "kubernetes_objects")


async def test_migration_0013_matches_the_tables(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()

        def differences(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        def tables(connection: Any) -> set[str]:
            return set(inspect(connection).get_table_names())

        async with database.connect() as conn:
            found = await conn.run_sync(differences)
            present = await conn.run_sync(tables)
        assert set(TABLES) <= present
        assert [d for d in found if any(t in repr(d) for t in TABLES)] == []
    finally:
        await database.close()
