"""Keeping the runbooks in step with their repository, and saying how that goes.

``RunbookSync`` syncs once at start, then every ``syncInterval`` (on an injectable clock, so
tests move time themselves), and at once when the OperatorConfig changes. A sync that fails
keeps the runbooks of the last good one and records the error: in ``status()`` (served as
``GET /api/v1/runbooks``), in the log, and in metrics:

- ``punchingfist_runbooks_sync_failures_total``
- ``punchingfist_runbooks_last_sync_timestamp_seconds`` (the last *successful* sync)
- ``punchingfist_runbooks_loaded``

Investigations ask ``brief_for_alert`` for the runbook of their alert; it reads memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from punching_fist.agent.runbook import RunbookBrief
from punching_fist.clock import Clock, SystemClock
from punching_fist.errors import PunchingFistError
from punching_fist.knowledge.runbooks_git import GitCheckout, Loaded, load_runbooks
from punching_fist.knowledge.runbooks_match import RunbookSet, brief_for
from punching_fist.resources.durations import parse_duration
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.runbooks import RunbooksConfig
from punching_fist.secret_refs import SecretResolver

log = structlog.get_logger(__name__)


class RunbookMetrics:
    """The sync's metrics, on the server's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.failures = Counter(
            "punchingfist_runbooks_sync_failures_total",
            "Runbook repository syncs that failed (the last good copy stayed in use)",
            registry=registry,
        )
        self.last_sync = Gauge(
            "punchingfist_runbooks_last_sync_timestamp_seconds",
            "When the runbook repository was last synced successfully (Unix time)",
            registry=registry,
        )
        self.loaded = Gauge(
            "punchingfist_runbooks_loaded", "Runbooks loaded from the repository", registry=registry
        )


@dataclass(frozen=True, kw_only=True)
class SyncStatus:
    """How the runbooks' sync stands; what ``GET /api/v1/runbooks`` shows."""

    configured: bool = False
    repository: str | None = None
    branch: str | None = None
    path: str = ""
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    commit: str | None = None
    error: str | None = None
    """Why the last attempt failed; ``None`` once one succeeds."""
    problems: tuple[str, ...] = ()
    """Runbooks skipped at the last successful sync, and why."""

    def as_dict(self, runbooks: RunbookSet) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "repository": self.repository,
            "branch": self.branch,
            "path": self.path,
            "lastAttempt": _iso(self.last_attempt),
            "lastSuccess": _iso(self.last_success),
            "commit": self.commit,
            "error": self.error,
            "problems": list(self.problems),
            "runbooks": [
                {
                    "path": r.path,
                    "title": r.title,
                    "alertnames": list(r.alertnames),
                    "matchers": [str(m) for m in r.matchers],
                    "commands": len(r.commands),
                }
                for r in runbooks.runbooks
            ],
        }


class RunbookSync:
    """The runbooks in memory, kept in step with ``spec.runbooks`` by a background task."""

    def __init__(
        self,
        config: Callable[[], RunbooksConfig | None],
        cache_root: Path,
        secrets: SecretResolver,
        *,
        environ: Mapping[str, str],
        metrics: RunbookMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._cache_root = cache_root
        self._secrets = secrets
        self._environ = environ
        self._metrics = metrics or RunbookMetrics()
        self._clock = clock or SystemClock()
        self._runbooks = RunbookSet()
        self._status = SyncStatus()
        self._synced_config: RunbooksConfig | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop: asyncio.Task[object] | None = None

    @property
    def runbooks(self) -> RunbookSet:
        return self._runbooks

    def status(self) -> dict[str, Any]:
        return self._status.as_dict(self._runbooks)

    def brief_for_alert(
        self, alert: Mapping[str, object], *, require_approval_for: Collection[str] = ()
    ) -> RunbookBrief | None:
        """The runbook serving ``alert``, filled from its labels; ``None`` if none does."""
        runbook = self._runbooks.for_alert(alert)
        if runbook is None:
            return None
        labels = alert.get("labels")
        return brief_for(
            runbook,
            commit=self._runbooks.commit,
            labels=labels if isinstance(labels, Mapping) else {},
            require_approval_for=require_approval_for,
        )

    def start(self) -> None:
        self._loop = self._spawn(self._run(), "runbook-sync")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def config_changed(self, *_: object) -> None:
        """Sync now, and every new ``syncInterval`` from now, if ``spec.runbooks`` changed
        (subscribed to the resource registry: in Kubernetes mode the OperatorConfig arrives
        after start)."""
        if self._config() == self._synced_config:
            return
        if self._loop is not None:
            self._loop.cancel()
            self._loop = self._spawn(self._run(), "runbook-sync")
        else:
            self._spawn(self.sync(), "runbook-sync-now")

    def _spawn(self, work: Coroutine[Any, Any, object], name: str) -> asyncio.Task[object]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self) -> None:
        while True:
            config = await self.sync()
            interval = parse_duration(config.sync_interval) if config else timedelta(hours=1)
            await self._clock.sleep_until(self._clock.now() + interval)

    async def sync(self) -> RunbooksConfig | None:
        """One sync of the configured repository; never raises for a failed one."""
        async with self._lock:
            return await self._sync()

    async def _sync(self) -> RunbooksConfig | None:
        config = self._config()
        if config != self._synced_config:
            self._runbooks = RunbookSet()
            self._status = _status_for(config)
            self._metrics.loaded.set(0)
        self._synced_config = config
        if config is None:
            return None
        checkout = GitCheckout(config, self._cache_root, self._environ)
        started = self._clock.now()
        try:
            if not self._runbooks.runbooks and checkout.has_copy() and config.kind != "directory":
                # A restart with the remote away: serve the copy the last process left.
                await self._load(checkout, config, await checkout.commit(), success=None)
            token = await self._secrets.resolve(config.token_ref) if config.token_ref else None
            commit = await checkout.update(token)
        except PunchingFistError as exc:
            self._metrics.failures.inc()
            self._status = replace(self._status, last_attempt=started, error=str(exc))
            log.warning("runbook sync failed; the last good copy stays", error=str(exc))
            return config
        await self._load(checkout, config, commit, success=started)
        return config

    async def _load(
        self,
        checkout: GitCheckout,
        config: RunbooksConfig,
        commit: str | None,
        *,
        success: datetime | None,
    ) -> None:
        loaded: Loaded = await asyncio.to_thread(load_runbooks, checkout.root(), config, commit)
        self._runbooks = loaded.runbooks
        self._metrics.loaded.set(len(loaded.runbooks.runbooks))
        status = replace(self._status, commit=commit, problems=loaded.problems)
        if success is not None:
            status = replace(status, last_attempt=success, last_success=success, error=None)
            self._metrics.last_sync.set(success.timestamp())
            log.info(
                "runbooks synced",
                commit=commit,
                runbooks=len(loaded.runbooks.runbooks),
                skipped=len(loaded.problems),
            )
        self._status = status


def _status_for(config: RunbooksConfig | None) -> SyncStatus:
    if config is None:
        return SyncStatus()
    return SyncStatus(
        configured=True,
        repository=_without_credentials(config.repository),
        branch=config.branch,
        path=config.path,
    )


def _without_credentials(repository: str) -> str:
    parts = urlsplit(repository)
    if parts.scheme and parts.password is not None:  # refused at load; never shown anyway
        return urlunsplit(parts._replace(netloc=parts.hostname or ""))
    return repository


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def runbook_sync_for(
    resources: Callable[[], ResourceSet],
    state_dir: Path,
    secrets: SecretResolver,
    *,
    registry: CollectorRegistry | None,
    environ: Mapping[str, str],
    clock: Clock | None = None,
) -> RunbookSync:
    """The sync of the OperatorConfig's ``spec.runbooks`` in force, copies under
    ``state_dir/runbooks``; it does nothing while no OperatorConfig sets ``runbooks``."""

    def config() -> RunbooksConfig | None:
        operator_config = resources().operator_config
        return operator_config.spec.runbooks if operator_config is not None else None

    return RunbookSync(
        config,
        state_dir / "runbooks",
        secrets,
        environ=environ,
        metrics=RunbookMetrics(registry),
        clock=clock,
    )
