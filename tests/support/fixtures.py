"""Fixtures shared by the store, API and engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from punching_fist.store.database import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs against SQLite (a file, WAL) and a real PostgreSQL 15."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each of SQLite and PostgreSQL, closed after the test."""
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.close()
