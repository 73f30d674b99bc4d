"""The ``kubernetes`` source type: object events (created/updated/deleted) start a workflow.

Each such Source gets a watch on its resource kind (``pods``, ``deployments.apps``, …) with its
``labelSelector``. The first list only sets the baseline: objects that already exist were not
"created" now. Every replica watches; the run id comes from the object's uid, event and
resourceVersion, so one run is created per event however many replicas saw it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog

from punching_fist.errors import ConfigurationError
from punching_fist.operator.client import KubeClient
from punching_fist.operator.watch import ADDED, DELETED, MODIFIED, ApiResource, run_watch
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import KubernetesSourceSpec
from punching_fist.sources.per_source import PerSourceTasks
from punching_fist.sources.schedule import Trigger

log = structlog.get_logger(__name__)

EVENT_TYPES = {"created": ADDED, "updated": MODIFIED, "deleted": DELETED}


async def resolve_resource(client: KubeClient, name: str) -> ApiResource:
    """Find ``pods`` / ``deployments.apps`` / ``Deployment`` through API discovery."""
    plural, _, group = name.lower().partition(".")
    if not group:
        found = _find(await client.get("/api/v1"), plural, "")
        if found is not None:
            return found
    for api_group in (await client.get("/apis")).get("groups", []):
        if group and api_group["name"] != group:
            continue
        version = api_group["preferredVersion"]["groupVersion"]
        found = _find(await client.get(f"/apis/{version}"), plural, api_group["name"])
        if found is not None:
            return found
    raise ConfigurationError(f"spec.config.resource: the API server has no resource {name!r}")


def _find(listing: dict[str, Any], plural: str, group: str) -> ApiResource | None:
    version = str(listing.get("groupVersion", "v1")).rsplit("/", 1)[-1]
    for item in listing.get("resources", []):
        if "/" in item["name"]:
            continue
        names = {item["name"], item.get("singularName", ""), item["kind"].lower()}
        if plural in names:
            return ApiResource(
                group=group, version=version, plural=item["name"], namespaced=item["namespaced"]
            )
    return None


@dataclass(kw_only=True)
class _SourceWatch:
    name: str
    spec: KubernetesSourceSpec
    trigger: Trigger
    baseline: bool = False

    async def synced(self, objects: list[dict[str, Any]]) -> None:
        # Only the first list is a baseline; after a relist we cannot tell what we missed,
        # and firing "created" for every object would flood the workflow.
        if not self.baseline:
            log.info("kubernetes source watching", source=self.name, existing=len(objects))
        self.baseline = True

    async def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type != EVENT_TYPES[self.spec.config.event]:
            return
        meta = obj.get("metadata", {})
        key = f"kubernetes/{self.name}/{meta.get('uid')}/{event_type}"
        if event_type != ADDED:
            key += f"/{meta.get('resourceVersion')}"
        run_id = await self.trigger(
            trigger_key=key,
            source_name=self.name,
            workflow_name=self.spec.trigger_workflow,
            source_context={
                "name": self.name,
                "type": "kubernetes",
                "context": self.spec.context,
                "data": {
                    "event": self.spec.config.event,
                    "resource": self.spec.config.resource,
                    "object": obj,
                },
            },
        )
        log.info(
            "kubernetes event",
            source=self.name,
            event=self.spec.config.event,
            object=meta.get("name"),
            run_id=str(run_id) if run_id else None,
        )


class KubernetesSourceRunner:
    """One watch per ``kubernetes`` Source, restarted when its spec changes."""

    def __init__(self, client: KubeClient, registry: ResourceRegistry, trigger: Trigger) -> None:
        self._client = client
        self._trigger = trigger
        self._tasks = PerSourceTasks(
            registry, KubernetesSourceSpec, self._watch, kind="kubernetes source"
        )

    def start(self) -> None:
        self._tasks.start()

    async def stop(self) -> None:
        await self._tasks.stop()

    @property
    def watching(self) -> set[str]:
        return self._tasks.names

    async def _watch(self, name: str, spec: KubernetesSourceSpec) -> None:
        while True:
            try:
                resource = await resolve_resource(self._client, spec.config.resource)
                break
            except Exception as exc:  # discovery may fail while the API server starts
                log.warning(
                    "kubernetes source cannot resolve its resource", source=name, error=str(exc)
                )
                await asyncio.sleep(10)
        handler = _SourceWatch(name=name, spec=spec, trigger=self._trigger)
        await run_watch(
            self._client,
            resource,
            handler,
            namespace=spec.config.namespace,
            label_selector=spec.config.label_selector,
        )
