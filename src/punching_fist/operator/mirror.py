"""Every replica's copy of the cluster's resources, kept in the engine's ``ResourceRegistry``.

This runs in every replica, not only in the elected controller: kopf pauses its watches on
replicas that lose the peering election, yet every replica must serve the webhooks of the
current Sources. A change to any of the four kinds rebuilds the ``ResourceSet`` and swaps it
in, so webhook paths appear and disappear and schedules start and stop without a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from punching_fist.operator.client import KubeClient
from punching_fist.operator.crds import KINDS
from punching_fist.operator.watch import DELETED, ApiResource, run_watch
from punching_fist.resources.base import GROUP, VERSION
from punching_fist.resources.loader import KINDS as MODELS
from punching_fist.resources.loader import Resource, ResourceSet
from punching_fist.resources.registry import ResourceRegistry

log = structlog.get_logger(__name__)

ObjectKey = tuple[str, str]  # namespace, name


def custom_resource(plural: str) -> ApiResource:
    return ApiResource(group=GROUP, version=VERSION, plural=plural)


def parse_object(kind: str, obj: dict[str, Any]) -> Resource:
    """An API object as the engine's model; raises ``ValidationError``."""
    return MODELS[kind].model_validate(obj)


def build_set(objects: dict[str, dict[ObjectKey, dict[str, Any]]]) -> ResourceSet:
    """Index valid objects by name; with equal names in two namespaces the first one wins."""
    by_kind: dict[str, dict[str, Any]] = {kind.kind: {} for kind in KINDS}
    for kind, items in objects.items():
        for (namespace, name), obj in sorted(items.items()):
            try:
                resource = parse_object(kind, obj)
            except ValidationError as exc:
                log.warning(
                    "resource skipped: invalid",
                    kind=kind,
                    namespace=namespace,
                    name=name,
                    errors=exc.error_count(),
                )
                continue
            by_kind[kind].setdefault(name, resource)
    configs = list(by_kind["OperatorConfig"].values())
    return ResourceSet(
        sources=by_kind["Source"],
        workflows=by_kind["Workflow"],
        sinks=by_kind["Sink"],
        operator_config=configs[0] if configs else None,
    )


@dataclass(kw_only=True)
class _KindWatch:
    mirror: ResourceMirror
    kind: str
    namespace: str | None
    synced_once: asyncio.Event = field(default_factory=asyncio.Event)

    async def synced(self, objects: list[dict[str, Any]]) -> None:
        items = self.mirror.objects[self.kind]
        for key in [k for k in items if self.namespace is None or k[0] == self.namespace]:
            del items[key]
        for obj in objects:
            items[_key(obj)] = obj
        self.synced_once.set()
        self.mirror.rebuild()

    async def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        items = self.mirror.objects[self.kind]
        key = _key(obj)
        previous = items.pop(key, None) if event_type == DELETED else items.get(key)
        if event_type != DELETED:
            items[key] = obj
        # Status writes and kopf's annotations change objects too; only the spec matters here.
        if previous is None or event_type == DELETED or previous.get("spec") != obj.get("spec"):
            self.mirror.rebuild()


def _key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata", {})
    return str(meta.get("namespace") or ""), str(meta.get("name"))


class ResourceMirror:
    """Watches Source/Workflow/Sink/OperatorConfig and keeps ``registry`` current."""

    def __init__(
        self, client: KubeClient, registry: ResourceRegistry, *, namespaces: tuple[str, ...]
    ) -> None:
        self._client = client
        self._registry = registry
        self._namespaces: tuple[str | None, ...] = namespaces or (None,)
        self.objects: dict[str, dict[ObjectKey, dict[str, Any]]] = {k.kind: {} for k in KINDS}
        self._watches = [
            _KindWatch(mirror=self, kind=kind.kind, namespace=namespace)
            for kind in KINDS
            for namespace in self._namespaces
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    async def start(self, *, list_deadline: float = 60.0) -> None:
        """Start watching; returns once every kind was listed (the first full picture)."""
        plurals = {k.kind: k.plural for k in KINDS}
        self._tasks = [
            asyncio.create_task(
                run_watch(
                    self._client,
                    custom_resource(plurals[watch.kind]),
                    watch,
                    namespace=watch.namespace,
                ),
                name=f"mirror-{watch.kind}-{watch.namespace or 'all'}",
            )
            for watch in self._watches
        ]
        self._started = True
        waits = [asyncio.create_task(w.synced_once.wait()) for w in self._watches]
        _, pending = await asyncio.wait(waits, timeout=list_deadline)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "resources not fully listed yet; serving what is known", missing=len(pending)
            )
        self.rebuild()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def rebuild(self) -> None:
        if not self._started:
            return
        self._registry.replace(build_set(self.objects))
