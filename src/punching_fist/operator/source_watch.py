"""One kubernetes Source's watch: every created, updated, deleted, entered and exited object
reported once, across watch restarts, 410 Gone and server restarts.

The whole collection (in the Source's namespace, if any) is watched and the label selector
applied here (``resources.label_selector``), so an object that gains the selected label is
``entered``, not ``created``, and one that loses it ``exited``, not ``deleted``. What was seen
(uid, resourceVersion, selected) and the last resourceVersion are saved after each event
(``store.kubernetes_sources``):

- a watch that ends or breaks resumes from the last resourceVersion, losing nothing;
- on 410 Gone the collection is listed again and compared with what was seen: objects new
  since are ``created``, those missing ``deleted``, changed ones ``updated``/``entered``/
  ``exited``;
- a server restart resumes the same way from the saved state; a Source without one (new, or
  its resource, namespace or selector changed) takes the objects that exist as its baseline.

A run is created before its event is saved, and the run's id comes from the object's uid and
event (and resourceVersion for updates), so an event replayed after a crash, or seen by several
replicas, starts one run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import structlog

from punching_fist.operator.client import KubeClient, KubernetesApiError
from punching_fist.operator.watch import DELETED, ApiResource
from punching_fist.resources.label_selector import LabelSelector
from punching_fist.resources.source import KubernetesSourceSpec
from punching_fist.sources.schedule import Trigger
from punching_fist.store.database import Database
from punching_fist.store.kubernetes_sources import (
    SeenObject,
    load_watch,
    save_baseline,
    save_changes,
)

log = structlog.get_logger(__name__)


class SourceWatch:
    """Watches one Source's collection until cancelled."""

    def __init__(
        self,
        *,
        name: str,
        spec: KubernetesSourceSpec,
        resource: ApiResource,
        client: KubeClient,
        trigger: Trigger,
        database: Database | None,
        retry_delay: float = 2.0,
        watch_timeout: int = 300,
    ) -> None:
        self.name = name
        self._spec = spec
        self._path = resource.collection(spec.config.namespace)
        self._client = client
        self._trigger = trigger
        self._database = database
        self._retry_delay = retry_delay
        self._watch_timeout = watch_timeout
        self._selector = LabelSelector.parse(spec.config.label_selector)
        config = spec.config
        self._selection = json.dumps([config.resource, config.namespace, config.label_selector])
        self.seen: dict[str, SeenObject] = {}
        self.version: str | None = None

    async def run(self) -> None:
        await self._start()
        while True:
            try:
                if self.version is None:
                    await self._relist()
                await self._watch()
            except KubernetesApiError as exc:
                if exc.status == 410:
                    # The resourceVersion is too old: list again and compare with what was seen.
                    log.info("kubernetes source relisting after 410 Gone", source=self.name)
                    self.version = None
                    continue
                log.warning(
                    "kubernetes source watch failed; resuming",
                    source=self.name,
                    error=str(exc),
                    resource_version=self.version,
                )
                await asyncio.sleep(self._retry_delay)
            except Exception:  # the store: the next events are replayed from version
                log.exception("kubernetes source could not record an event", source=self.name)
                await asyncio.sleep(self._retry_delay)

    async def _start(self) -> None:
        state = None
        if self._database is not None:
            state = await load_watch(self._database, self.name, self._selection)
        if state is not None:
            self.seen, self.version = state.objects, state.resource_version
            log.info(
                "kubernetes source watching",
                source=self.name,
                resumed_from=self.version,
                known=len(self.seen),
            )
            return
        while True:
            try:
                listed = await self._client.get(self._path)
                break
            except KubernetesApiError as exc:
                log.warning("kubernetes source cannot list", source=self.name, error=str(exc))
                await asyncio.sleep(self._retry_delay)
        items = list(listed.get("items") or [])
        self.seen = {_uid(obj): self._seen(obj) for obj in items}
        self.version = _version(listed)
        if self._database is not None:
            await save_baseline(self._database, self.name, self._selection, self.seen, self.version)
        log.info("kubernetes source watching", source=self.name, existing=len(items))

    async def _relist(self) -> None:
        listed = await self._client.get(self._path)
        current = {_uid(obj): obj for obj in listed.get("items") or []}
        changes: dict[str, SeenObject | None] = {}
        for uid, obj in current.items():
            changes |= await self._observe(uid, obj, gone=False)
        for uid in [uid for uid in self.seen if uid not in current]:
            changes |= await self._observe(uid, self._remains(uid), gone=True)
        self.version = _version(listed)
        await self._save(changes)

    async def _watch(self) -> None:
        query = {"resourceVersion": self.version or "", "allowWatchBookmarks": "true"}
        async for event in self._client.watch(
            self._path, query, timeout_seconds=self._watch_timeout
        ):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                raise KubernetesApiError(int(obj.get("code") or 0), str(obj.get("message")))
            version = str(obj.get("metadata", {}).get("resourceVersion") or self.version)
            changes = {}
            if kind != "BOOKMARK":
                changes = await self._observe(_uid(obj), obj, gone=kind == DELETED)
            self.version = version
            await self._save(changes)

    async def _observe(
        self, uid: str, obj: dict[str, Any], *, gone: bool
    ) -> dict[str, SeenObject | None]:
        """Report what ``obj`` did since it was last seen; the change to record."""
        previous = self.seen.get(uid)
        now = None if gone else self._seen(obj)
        event = self._event(previous, now, obj)
        if event is not None:
            await self._report(event, uid, obj)
        if now is None:
            self.seen.pop(uid, None)
            return {uid: None} if previous is not None else {}
        if previous == now:
            return {}
        self.seen[uid] = now
        return {uid: now}

    def _event(
        self, previous: SeenObject | None, now: SeenObject | None, obj: dict[str, Any]
    ) -> str | None:
        if now is None:  # deleted: reported if it was selected when last seen
            was_selected = previous.selected if previous else self._selected(obj)
            return "deleted" if was_selected else None
        if previous is None:
            return "created" if now.selected else None
        if previous.resource_version == now.resource_version:
            return None  # seen already (a replayed event)
        if previous.selected and now.selected:
            return "updated"
        if now.selected:
            return "entered"
        return "exited" if previous.selected else None

    async def _report(self, event: str, uid: str, obj: dict[str, Any]) -> None:
        if event != self._spec.config.event:
            return
        key = f"kubernetes/{self.name}/{uid}/{event}"
        if event not in ("created", "deleted"):
            key += f"/{obj.get('metadata', {}).get('resourceVersion')}"
        config = self._spec.config
        run_id = await self._trigger(
            trigger_key=key,
            source_name=self.name,
            workflow_name=self._spec.trigger_workflow,
            source_context={
                "name": self.name,
                "type": "kubernetes",
                "context": self._spec.context,
                "data": {"event": event, "resource": config.resource, "object": obj},
            },
        )
        log.info(
            "kubernetes event",
            source=self.name,
            change=event,
            object=obj.get("metadata", {}).get("name"),
            run_id=str(run_id) if run_id else None,
        )

    async def _save(self, changes: Mapping[str, SeenObject | None]) -> None:
        if self._database is not None:
            await save_changes(self._database, self.name, changes, self.version)

    def _seen(self, obj: dict[str, Any]) -> SeenObject:
        meta = obj.get("metadata", {})
        return SeenObject(
            name=str(meta.get("name", "")),
            namespace=meta.get("namespace"),
            resource_version=str(meta.get("resourceVersion", "")),
            selected=self._selected(obj),
        )

    def _selected(self, obj: dict[str, Any]) -> bool:
        return self._selector.matches(obj.get("metadata", {}).get("labels"))

    def _remains(self, uid: str) -> dict[str, Any]:
        """What is known of an object deleted while nobody watched: its metadata's keys."""
        seen = self.seen[uid]
        meta = {"uid": uid, "name": seen.name, "resourceVersion": seen.resource_version}
        if seen.namespace is not None:
            meta["namespace"] = seen.namespace
        return {"metadata": meta}


def _uid(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("uid", ""))


def _version(listed: Mapping[str, Any]) -> str | None:
    version = listed.get("metadata", {}).get("resourceVersion")
    return str(version) if version else None
