"""Relationship ids written straight to SQLite are version-4 UUIDs as SQLAlchemy stores them."""

from __future__ import annotations

import uuid

from punching_fist.store.incident_joins import _hex_ids


def test_relationship_ids_are_distinct_version_4_uuids_in_sqlite_form() -> None:
    ids = _hex_ids(5_000)
    assert len(set(ids)) == 5_000
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == text  # 32 lowercase hex digits, as ``Uuid`` is stored on SQLite
    assert _hex_ids(0) == []
