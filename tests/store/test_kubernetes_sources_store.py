"""The kubernetes Sources' saved watch state on SQLite and PostgreSQL: a baseline, changes
(objects seen and gone, the resourceVersion reached), and a new selection starting over."""

from __future__ import annotations

from punching_fist.store.database import Database
from punching_fist.store.kubernetes_sources import (
    SeenObject,
    load_watch,
    save_baseline,
    save_changes,
)


def _seen(name: str, version: str, *, selected: bool = True) -> SeenObject:
    return SeenObject(name=name, namespace="ns", resource_version=version, selected=selected)


async def test_state_is_saved_changed_and_reset_per_selection(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()
        assert await load_watch(database, "pods", "sel-1") is None
        await save_baseline(
            database, "pods", "sel-1", {"u1": _seen("a", "10"), "u2": _seen("b", "11")}, "11"
        )
        await save_changes(
            database,
            "pods",
            {"u1": None, "u2": _seen("b", "14", selected=False), "u3": _seen("c", "15")},
            "15",
        )
        await save_changes(database, "pods", {}, "20")  # a bookmark: only the version moves
        state = await load_watch(database, "pods", "sel-1")
        assert state is not None
        assert state.resource_version == "20"
        assert state.objects == {"u2": _seen("b", "14", selected=False), "u3": _seen("c", "15")}
        assert await load_watch(database, "other", "sel-1") is None
        # Another resource, namespace or selector: no state, and a new baseline replaces it.
        assert await load_watch(database, "pods", "sel-2") is None
        await save_baseline(database, "pods", "sel-2", {"u9": _seen("z", "30")}, "30")
        state = await load_watch(database, "pods", "sel-2")
        assert state is not None
        assert state.objects == {"u9": _seen("z", "30")}
    finally:
        await database.close()
