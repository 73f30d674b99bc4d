"""The feedback table as the code declares it is what migration 0009 creates, on both databases."""

from __future__ import annotations

from typing import Any

from punching_fist.store.database import Database
from punching_fist.store.tables import metadata


async def test_the_migration_creates_the_feedback_table(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    db = Database(database_url)
    try:
        await db.migrate()
        async with db.connect() as conn:
            found = await conn.run_sync(differences)
    finally:
        await db.close()
    assert [d for d in found if "incident_feedback" in repr(d)] == []
