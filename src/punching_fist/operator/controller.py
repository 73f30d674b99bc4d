"""The kopf controller: checks resources, posts Events and writes ``status``.

Only the replica that wins kopf's peering election runs these handlers; the others pause.
Handlers live on a private ``kopf.OperatorRegistry`` (never kopf's global one) so two
controllers in one process, as in tests, do not share handlers.

kopf installs its own SIGINT/SIGTERM handlers when started on the main thread, which would
take shutdown away from uvicorn; the controller puts the previous handlers back once kopf is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any, cast

import kopf
import structlog
from pydantic import BaseModel

from punching_fist.operator.checks import Problem, ResourceChecker
from punching_fist.operator.client import KubeClient, KubernetesApiError, login
from punching_fist.operator.crds import KINDS, Kind
from punching_fist.operator.mirror import custom_resource
from punching_fist.operator.runbooks_condition import SyncStatus, runbooks_condition
from punching_fist.operator.status import (
    ready_condition,
    sink_status,
    source_status,
    workflow_status,
)
from punching_fist.resources.base import GROUP, VERSION
from punching_fist.resources.operator_config import OperatorConfigStatus
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.store.database import Database

log = structlog.get_logger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
ObjectKey = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True, kw_only=True)
class ControllerSettings:
    """How the controller runs; built from ``Settings`` by the service."""

    namespaces: tuple[str, ...]
    """Namespaces to watch; empty means all (cluster-wide peering)."""
    peering_name: str
    priority: int
    """This replica's peering priority; the highest live one leads, ties pause everyone."""
    peering_lifetime: int
    status_interval: float
    """Seconds between status refreshes of each resource."""


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch turning ``old`` into ``new`` (None deletes); {} when equal."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            sub = merge_patch(old[key], value)
            patch[key] = sub
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


class Controller:
    """Runs kopf with peering, the handlers bound to this instance."""

    def __init__(
        self,
        *,
        client: KubeClient,
        database: Database,
        registry: ResourceRegistry,
        checker: ResourceChecker,
        settings: ControllerSettings,
        runbooks: SyncStatus | None = None,
    ) -> None:
        self._client = client
        self._database = database
        self._registry = registry
        self._checker = checker
        self._settings = settings
        self._runbooks = runbooks
        self._problems: dict[ObjectKey, list[Problem]] = {}
        self.registry = kopf.OperatorRegistry()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        kopf.on.login(registry=self.registry)(_login)
        for kind in KINDS:
            self._register(kind)

    def _register(self, kind: Kind) -> None:
        resource = (GROUP, VERSION, kind.plural)

        async def on_spec(body: kopf.Body, **_: Any) -> None:
            await self.reconcile(kind, body)

        async def on_timer(body: kopf.Body, **_: Any) -> None:
            await self.write_status(kind, dict(body))

        def on_delete(body: kopf.Body, **_: Any) -> None:
            self._problems.pop(_object_key(kind.kind, dict(body)), None)

        for decorator in (kopf.on.resume, kopf.on.create, kopf.on.update):
            decorator(*resource, registry=self.registry, id=f"check-{kind.plural}")(on_spec)
        kopf.timer(
            *resource,
            registry=self.registry,
            id=f"status-{kind.plural}",
            interval=self._settings.status_interval,
        )(on_timer)
        kopf.on.event(
            *resource,
            registry=self.registry,
            id=f"forget-{kind.plural}",
            when=lambda type, **_: type == "DELETED",
        )(on_delete)

    def _kopf_settings(self) -> kopf.OperatorSettings:
        settings = kopf.OperatorSettings()
        settings.peering.name = self._settings.peering_name
        settings.peering.priority = self._settings.priority
        settings.peering.lifetime = self._settings.peering_lifetime
        settings.peering.mandatory = True
        settings.peering.stealth = True
        settings.posting.level = logging.WARNING
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.watching.server_timeout = 300
        return settings

    async def start(self) -> None:
        """Start kopf in the background; returns once it runs, with our signals restored."""
        loop = asyncio.get_running_loop()
        previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
        ready = asyncio.Event()
        self._task = loop.create_task(self._run(ready), name="kopf-controller")
        waiter = loop.create_task(ready.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
                if handler is not None:
                    signal.signal(sig, handler)
        if self._task.done():
            self._task.result()  # kopf failed to start: raise its error

    async def _run(self, ready: asyncio.Event) -> None:
        clusterwide = not self._settings.namespaces
        await kopf.operator(
            registry=self.registry,
            settings=self._kopf_settings(),
            clusterwide=clusterwide,
            namespaces=list(self._settings.namespaces),
            priority=self._settings.priority,
            peering_name=self._settings.peering_name,
            stop_flag=self._stop,
            ready_flag=ready,
        )

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=15)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        except Exception:  # kopf's own failure while stopping; nothing left to save
            log.exception("controller stopped with an error")
        self._task = None

    async def reconcile(self, kind: Kind, body: kopf.Body) -> None:
        """Check the resource, report problems as Events, and write its status."""
        data = dict(body)
        problems = await self._checker.check(kind.kind, data, self._registry.current())
        self._problems[_object_key(kind.kind, data)] = problems
        for problem in problems:
            kopf.warn(body, reason=problem.reason, message=problem.message)
        await self.write_status(kind, data)

    async def write_status(self, kind: Kind, body: dict[str, Any]) -> None:
        key = _object_key(kind.kind, body)
        problems = self._problems.get(key)
        if problems is None:
            problems = await self._checker.check(kind.kind, body, self._registry.current())
            self._problems[key] = problems
        problems = problems + self._checker.runtime_problems(kind.kind, body)
        status = await self._status(kind, body, problems)
        current = body.get("status") or {}
        if kind.kind == "Workflow":
            self._report_failed_run(body, current, status)
        patch = merge_patch(current, status)
        if not patch:
            return
        _, namespace, name = key
        path = custom_resource(kind.plural).item(namespace, name) + "/status"
        try:
            await self._client.merge_patch(path, {"status": patch})
        except KubernetesApiError as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to report on
                log.warning("status not written", kind=kind.kind, name=name, error=str(exc))

    def _report_failed_run(
        self, body: dict[str, Any], current: dict[str, Any], status: dict[str, Any]
    ) -> None:
        """A Warning Event when a newer run of the workflow failed (once per run)."""
        run_id = status.get("lastRunId")
        if status.get("phase") != "Failed" or run_id == current.get("lastRunId"):
            return
        failed = [name for name, phase in (status.get("steps") or {}).items() if phase == "failed"]
        message = f"run {run_id} failed" + (f" in step(s) {', '.join(failed)}" if failed else "")
        kopf.warn(kopf.Body(cast(Any, body)), reason="RunFailed", message=message)

    async def _status(
        self, kind: Kind, body: dict[str, Any], problems: list[Problem]
    ) -> dict[str, Any]:
        name = str(body["metadata"]["name"])
        errors = [p for p in problems if not p.warning]  # warnings are Events only
        messages = [f"{p.reason}: {p.message}" for p in errors]
        previous = _previous_ready(body)
        condition = ready_condition(
            messages,
            since=previous[1] if previous[0] == ("False" if messages else "True") else None,
        )
        served = not errors and self._served(kind.kind, body)
        model: BaseModel
        if kind.kind == "Source":
            source = await source_status(self._database, name)
            source.ready, source.conditions = served, [condition]
            model = source
        elif kind.kind == "Workflow":
            workflow = await workflow_status(self._database, name)
            workflow.conditions = [condition]
            model = workflow
        elif kind.kind == "Sink":
            sink = await sink_status(self._database, name)
            sink.conditions = [condition]
            model = sink
        else:
            synced = runbooks_condition(self._runbooks, body)
            conditions = [condition] if synced is None else [condition, synced]
            model = OperatorConfigStatus(ready=served, conditions=conditions)
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped

    def _served(self, kind: str, body: dict[str, Any]) -> bool:
        resources = self._registry.current()
        tables: dict[str, dict[str, Any]] = {
            "Source": resources.sources,
            "Workflow": resources.workflows,
            "Sink": resources.sinks,
        }
        table = tables.get(kind, {})
        if kind == "OperatorConfig":
            return resources.operator_config is not None
        current = table.get(str(body["metadata"]["name"]))
        namespace = body["metadata"].get("namespace")
        return current is not None and current.metadata.namespace == namespace


def _login(**_: Any) -> Any:
    # A private registry has no default login handlers; use the same login as our client.
    return login()


def _object_key(kind: str, body: dict[str, Any]) -> ObjectKey:
    meta = body.get("metadata", {})
    return kind, str(meta.get("namespace") or ""), str(meta.get("name"))


def _previous_ready(body: dict[str, Any]) -> tuple[str | None, str | None]:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status"), condition.get("lastTransitionTime")
    return None, None
