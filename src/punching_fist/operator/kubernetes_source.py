"""The ``kubernetes`` source type: object events (created, updated, deleted, entered, exited)
start a workflow.

Each such Source gets a watch on its resource kind (``pods``, ``deployments.apps``, …); what
it reports and how it survives restarts is ``source_watch.py``. Every replica watches; the run
id comes from the object's uid and event, so one run is created per event however many
replicas saw it. Kubernetes mode (``serve --kubernetes``) and folder mode with a kubeconfig
(``serve --resources DIR --kubeconfig FILE``) both run this.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import kopf
import structlog

from punching_fist.errors import ConfigurationError
from punching_fist.operator.client import KubeClient, KubernetesApiError
from punching_fist.operator.source_watch import SourceWatch
from punching_fist.operator.watch import ApiResource
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import KubernetesSourceSpec
from punching_fist.sources.per_source import PerSourceTasks
from punching_fist.sources.schedule import Trigger
from punching_fist.store.database import Database

log = structlog.get_logger(__name__)


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


class KubernetesSourceRunner:
    """One watch per ``kubernetes`` Source, restarted when its spec changes."""

    def __init__(
        self,
        client: KubeClient,
        registry: ResourceRegistry,
        trigger: Trigger,
        *,
        database: Database | None = None,
        retry_delay: float = 2.0,
    ) -> None:
        self._client = client
        self._trigger = trigger
        self._database = database
        self._retry_delay = retry_delay
        self._problems: dict[str, str] = {}
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

    def problem(self, name: str) -> str | None:
        """Why the Source ``name`` is not watching, while it is not (its status says so)."""
        return self._problems.get(name)

    async def _watch(self, name: str, spec: KubernetesSourceSpec) -> None:
        try:
            await self._watch_resource(name, spec)
        finally:
            self._problems.pop(name, None)

    async def _watch_resource(self, name: str, spec: KubernetesSourceSpec) -> None:
        while True:
            try:
                resource = await resolve_resource(self._client, spec.config.resource)
                break
            except Exception as exc:  # discovery may fail while the API server starts
                self._problems[name] = f"not watching: {exc}"
                log.warning(
                    "kubernetes source cannot resolve its resource", source=name, error=str(exc)
                )
                await asyncio.sleep(self._retry_delay * 5)
        self._problems.pop(name, None)
        watch = SourceWatch(
            name=name,
            spec=spec,
            resource=resource,
            client=self._client,
            trigger=self._trigger,
            database=self._database,
            retry_delay=self._retry_delay,
        )
        await watch.run()


def kubeconfig_client(path: Path | None) -> KubeClient:
    """A client from ``path`` (else ``KUBECONFIG`` / ``~/.kube/config``), kopf's way."""
    settings = kopf.OperatorSettings()
    previous = os.environ.get("KUBECONFIG")
    try:
        if path is not None:
            os.environ["KUBECONFIG"] = str(path)  # kopf reads only the environment
        info = kopf.login_with_kubeconfig(settings=settings)
    except (OSError, KeyError, kopf.LoginError) as exc:
        raise ConfigurationError(f"kubernetes Sources: cannot read the kubeconfig: {exc}") from exc
    finally:
        if path is not None:
            if previous is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = previous
    if info is None:
        raise ConfigurationError(
            "kubernetes Sources need a cluster: serve --kubeconfig FILE (or set KUBECONFIG)"
        )
    return KubeClient(info)


def has_kubernetes_sources(resources: ResourceSet) -> bool:
    return any(isinstance(s.spec, KubernetesSourceSpec) for s in resources.sources.values())


class FolderKubernetesSources:
    """kubernetes Sources of a resource folder (``serve --resources DIR --kubeconfig FILE``).

    Started with the service: a kubeconfig that cannot be read, an API server that cannot
    be reached, or a resource it does not serve is an error at start, not a silent Source.
    """

    def __init__(
        self,
        registry: ResourceRegistry,
        trigger: Trigger,
        database: Database,
        kubeconfig: Path | None,
    ) -> None:
        self._registry = registry
        self._trigger = trigger
        self._database = database
        self._kubeconfig = kubeconfig
        self._client: KubeClient | None = None
        self._runner: KubernetesSourceRunner | None = None

    @property
    def watching(self) -> set[str]:
        return self._runner.watching if self._runner is not None else set()

    async def start(self) -> None:
        try:
            await self._start()
        except ConfigurationError as exc:
            log.error("kubernetes sources cannot start", error=str(exc))  # one line, never cut
            raise

    async def _start(self) -> None:
        client = kubeconfig_client(self._kubeconfig)
        self._client = client
        for name, source in sorted(self._registry.current().sources.items()):
            if not isinstance(source.spec, KubernetesSourceSpec):
                continue
            try:
                await resolve_resource(client, source.spec.config.resource)
            except KubernetesApiError as exc:
                await client.close()
                raise ConfigurationError(
                    f"Source/{name}: the Kubernetes API at {client.server} cannot be used: {exc}"
                ) from exc
            except ConfigurationError as exc:
                await client.close()
                raise ConfigurationError(f"Source/{name}: {exc}") from exc
        self._runner = KubernetesSourceRunner(
            client, self._registry, self._trigger, database=self._database
        )
        self._runner.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.stop()
        if self._client is not None:
            await self._client.close()
