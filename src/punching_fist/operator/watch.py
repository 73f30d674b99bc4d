"""List-then-watch of one resource collection, resuming where it left off.

The API server may end a watch at any time (timeout, restart) or answer 410 Gone when our
``resourceVersion`` is too old; both are normal. A list gives the full state (``synced``), a
watch gives changes after it (``changed``); on 410 or an error we list again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from punching_fist.errors import TemporaryFailure
from punching_fist.operator.client import KubeClient, KubernetesApiError

log = structlog.get_logger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True, kw_only=True)
class ApiResource:
    """Where a kind lives in the API: ``group`` is empty for the core group."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def collection(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


class WatchHandler(Protocol):
    async def synced(self, objects: list[dict[str, Any]]) -> None:
        """The complete current state, after every (re)list."""

    async def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        """One ADDED/MODIFIED/DELETED event after the last list."""


class _Expired(TemporaryFailure):
    """The watch's resourceVersion is gone (410); list again."""


async def run_watch(
    client: KubeClient,
    resource: ApiResource,
    handler: WatchHandler,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    retry_delay: float = 2.0,
    watch_timeout: int = 300,
) -> None:
    """Keep ``handler`` informed about ``resource`` until cancelled."""
    params = {"labelSelector": label_selector} if label_selector else {}
    path = resource.collection(namespace)
    while True:
        try:
            listed = await client.get(path, params)
            version = str(listed["metadata"].get("resourceVersion", ""))
            await handler.synced(list(listed.get("items") or []))
            while True:
                version = await _watch_once(
                    client, path, params, version, handler, server_timeout=watch_timeout
                )
        except _Expired:
            continue
        except KubernetesApiError as exc:
            log.warning("watch failed; listing again", path=path, error=str(exc))
            await asyncio.sleep(retry_delay)


async def _watch_once(
    client: KubeClient,
    path: str,
    params: dict[str, str],
    version: str,
    handler: WatchHandler,
    *,
    server_timeout: int,
) -> str:
    query = {**params, "resourceVersion": version, "allowWatchBookmarks": "true"}
    async for event in client.watch(path, query, timeout_seconds=server_timeout):
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired("the watch's resourceVersion is gone (410)")
            raise KubernetesApiError(int(obj.get("code") or 0), str(obj.get("message")))
        version = str(obj.get("metadata", {}).get("resourceVersion", version))
        if kind in (ADDED, MODIFIED, DELETED):
            await handler.changed(kind, obj)
    return version
