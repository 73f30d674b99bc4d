"""Fixtures shared by the store, API and engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest


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
