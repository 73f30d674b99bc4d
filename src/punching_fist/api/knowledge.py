"""``/api/v1/knowledge``: the knowledge base of past incidents (docs/memory.md).

``GET ?q=`` searches it with the database's full text (every word must match; without
``q``, newest first); ``POST`` adds a postmortem written by a person (markdown ``body``,
counted as confirmed: people wrote it); ``PUT`` replaces what a person may write, ``PATCH``
changes some of it (feedback too: ``correct``, ``resolution``, ``notes``); ``DELETE``
forgets an entry. Reading needs a ``viewer`` token, every change an ``approver`` one: what
is in memory steers later investigations.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from punching_fist.api.auth import ApiAuth, Identity, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.api.routes import Offset
from punching_fist.incidents.correlation import workload_of
from punching_fist.knowledge.signature import Signature
from punching_fist.store.knowledge import KnowledgeEntry, KnowledgeStore, NewEntry
from punching_fist.store.knowledge_search import search

TEXT = 20_000
BODY = 100_000
Labels = dict[Annotated[str, Field(max_length=255)], Annotated[str, Field(max_length=1024)]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PostmortemBody(_Body):
    """A postmortem: what happened, why, and what fixed it."""

    title: str = Field(min_length=1, max_length=500)
    alertname: str | None = Field(default=None, max_length=255)
    labels: Labels = Field(default_factory=dict, max_length=64)
    """Identifying labels: ``namespace``, ``container``, and the workload's (``deployment``,
    ``statefulset``, ``pod`` ...), or ``workload`` to name it outright."""
    body: str = Field(default="", max_length=BODY, description="Markdown.")
    root_cause: str = Field(alias="rootCause", min_length=1, max_length=TEXT)
    fix: str = Field(default="", max_length=TEXT)


class EntryPatch(_Body):
    """Some of an entry's fields; those left out keep their values."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    alertname: str | None = Field(default=None, max_length=255)
    labels: Labels | None = Field(default=None, max_length=64)
    body: str | None = Field(default=None, max_length=BODY)
    root_cause: str | None = Field(default=None, alias="rootCause", max_length=TEXT)
    fix: str | None = Field(default=None, max_length=TEXT)
    correct: Literal["yes", "no", "unknown"] | None = None
    """Whether the root cause was right; recorded under the caller's token name."""
    resolution: str | None = Field(default=None, max_length=TEXT)
    notes: str | None = Field(default=None, max_length=TEXT)


def _signature_columns(alertname: str | None, labels: dict[str, str]) -> dict[str, Any]:
    named = labels.get("workload")
    found = workload_of(labels)
    signature = Signature.of(
        {**labels, "alertname": alertname or ""}, named or (found.name if found else None)
    )
    return {
        "alertname": signature.alertname,
        "namespace": signature.namespace,
        "workload": signature.workload,
        "container": signature.container,
        "labels": labels,
    }


def _written(body: PostmortemBody, identity: Identity) -> dict[str, Any]:
    return {
        "title": body.title,
        **_signature_columns(body.alertname, body.labels),
        "body": body.body,
        "root_cause": body.root_cause,
        "fix": body.fix,
        "feedback_by": identity.name,
    }


def knowledge_router(store: KnowledgeStore, auth: ApiAuth) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/knowledge",
        tags=["knowledge"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )
    approver = auth.requires(Role.APPROVER)

    async def found(entry_id: uuid.UUID, entry: KnowledgeEntry | None) -> dict[str, Any]:
        if entry is None:
            raise HTTPException(status_code=404, detail=f"knowledge entry {entry_id} not found")
        return entry.as_json()

    @router.get("")
    async def list_knowledge(
        q: Annotated[
            str | None, Query(max_length=1000, description="Words every match contains.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """Past incidents: best matches of ``q`` first (``score`` 0..1), else newest first."""
        if q and q.strip():
            hits, total = await search(store.database, q, every=True, limit=limit, offset=offset)
            items = [{**hit.entry.as_json(), "score": hit.score} for hit in hits]
        else:
            entries, total = await store.page(limit=limit, offset=offset)
            items = [entry.as_json() for entry in entries]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @router.get("/{entry_id}", responses=refusals(404))
    async def get_entry(entry_id: uuid.UUID) -> dict[str, Any]:
        """One entry."""
        return await found(entry_id, await store.get(entry_id))

    @router.post("", status_code=201, responses=refusals(400))
    async def add_postmortem(body: PostmortemBody, identity: Identity = approver) -> dict[str, Any]:
        """Add a postmortem; it counts as confirmed (``correct: yes``)."""
        written = _written(body, identity)
        entry = await store.add(
            NewEntry(
                kind="postmortem",
                title=written["title"],
                alertname=written["alertname"],
                namespace=written["namespace"],
                workload=written["workload"],
                container=written["container"],
                labels=written["labels"],
                root_cause=written["root_cause"],
                fix=written["fix"],
                body=written["body"],
                outcome="postmortem",
            )
        )
        confirmed = await store.update(entry.id, {"correct": "yes", "feedback_by": identity.name})
        return await found(entry.id, confirmed)

    @router.put("/{entry_id}", responses=refusals(400, 404))
    async def replace_entry(
        entry_id: uuid.UUID, body: PostmortemBody, identity: Identity = approver
    ) -> dict[str, Any]:
        """Replace what a person may write of an entry."""
        return await found(entry_id, await store.update(entry_id, _written(body, identity)))

    @router.patch("/{entry_id}", responses=refusals(400, 404))
    async def change_entry(
        entry_id: uuid.UUID, body: EntryPatch, identity: Identity = approver
    ) -> dict[str, Any]:
        """Change some fields (none: nothing changes); ``correct`` is recorded under the
        caller's name."""
        given = body.model_dump(exclude_unset=True)
        current = await store.get(entry_id)
        if current is None or not given:  # nothing to change: the entry as it is
            return await found(entry_id, current)
        changes = {k: v for k, v in given.items() if k not in ("labels", "alertname")}
        if "labels" in given or "alertname" in given:
            labels = given.get("labels")
            changes |= _signature_columns(
                given.get("alertname", current.alertname),
                dict(current.labels) if labels is None else labels,
            )
        if "correct" in given:
            changes["feedback_by"] = identity.name
        return await found(entry_id, await store.update(entry_id, changes))

    @router.delete("/{entry_id}", status_code=204, responses=refusals(404))
    async def delete_entry(entry_id: uuid.UUID, _identity: Identity = approver) -> Response:
        """Forget an entry."""
        if not await store.delete(entry_id):
            raise HTTPException(status_code=404, detail=f"knowledge entry {entry_id} not found")
        return Response(status_code=204)

    return router
