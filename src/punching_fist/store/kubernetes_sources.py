"""Where each kubernetes Source's watch left off, and the objects it has seen.

With these a watch resumes after a restart from its last resourceVersion, and a relist (410
Gone, or a resourceVersion the server no longer has) is compared with what was seen: an object
created or deleted meanwhile is reported once, never missed, never twice. ``selection`` names
what was watched (resource, namespace, selector); a Source whose selection changed starts over
with a new baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store.database import Database
from punching_fist.store.tables import kubernetes_objects, kubernetes_watches, utcnow


@dataclass(frozen=True, kw_only=True)
class SeenObject:
    """An object as last seen: ``selected`` when it matched the Source's label selector."""

    name: str
    namespace: str | None
    resource_version: str
    selected: bool


@dataclass(frozen=True, kw_only=True)
class WatchState:
    resource_version: str | None
    objects: dict[str, SeenObject]
    """By uid."""


async def load_watch(database: Database, source: str, selection: str) -> WatchState | None:
    """The saved state, or None when there is none for this selection (a new baseline)."""
    async with database.connect() as conn:
        row = (
            await conn.execute(
                select(kubernetes_watches).where(kubernetes_watches.c.source_name == source)
            )
        ).first()
        if row is None or row.selection != selection:
            return None
        rows = await conn.execute(
            select(kubernetes_objects).where(kubernetes_objects.c.source_name == source)
        )
        objects = {
            r.uid: SeenObject(
                name=r.name,
                namespace=r.namespace,
                resource_version=r.resource_version,
                selected=r.selected,
            )
            for r in rows
        }
    return WatchState(resource_version=row.resource_version, objects=objects)


async def save_baseline(
    database: Database,
    source: str,
    selection: str,
    objects: Mapping[str, SeenObject],
    resource_version: str | None,
) -> None:
    """Replace everything saved for ``source``: a first list or a changed selection."""
    async with database.transaction() as conn:
        await conn.execute(
            delete(kubernetes_objects).where(kubernetes_objects.c.source_name == source)
        )
        await conn.execute(
            delete(kubernetes_watches).where(kubernetes_watches.c.source_name == source)
        )
        await conn.execute(
            insert(kubernetes_watches).values(
                source_name=source,
                selection=selection,
                resource_version=resource_version,
                updated_at=utcnow(),
            )
        )
        await _upsert(conn, source, objects)


async def save_changes(
    database: Database,
    source: str,
    changed: Mapping[str, SeenObject | None],
    resource_version: str | None,
) -> None:
    """Record objects seen (None: gone) and the resourceVersion reached, in one commit."""
    async with database.transaction() as conn:
        gone = [uid for uid, seen in changed.items() if seen is None]
        present = {uid: seen for uid, seen in changed.items() if seen is not None}
        if gone or present:
            await conn.execute(
                delete(kubernetes_objects).where(
                    kubernetes_objects.c.source_name == source,
                    kubernetes_objects.c.uid.in_([*gone, *present]),
                )
            )
        await _upsert(conn, source, present)
        await conn.execute(
            update(kubernetes_watches)
            .where(kubernetes_watches.c.source_name == source)
            .values(resource_version=resource_version, updated_at=utcnow())
        )


async def _upsert(conn: AsyncConnection, source: str, objects: Mapping[str, SeenObject]) -> None:
    if not objects:
        return
    await conn.execute(
        insert(kubernetes_objects),
        [
            {
                "source_name": source,
                "uid": uid,
                "name": seen.name,
                "namespace": seen.namespace,
                "resource_version": seen.resource_version,
                "selected": seen.selected,
            }
            for uid, seen in objects.items()
        ],
    )
