"""The composition root: builds the store, engine, intake and HTTP app from ``Settings``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import structlog
from starlette.types import ASGIApp

from punching_fist import __version__
from punching_fist.agent.base import AgentRunner
from punching_fist.api.auth import ApiAuth
from punching_fist.approvals.slack import SlackApprovals
from punching_fist.config import Settings
from punching_fist.engine.chains import ChainLauncher
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.engine.dispatcher import Dispatcher
from punching_fist.engine.incident_steps import IncidentInvestigations
from punching_fist.engine.intake import (
    AlertRuns,
    IncomingAlert,
    IntakeResult,
    correlated_intake,
)
from punching_fist.engine.investigations import Clock, InvestigationGate, budget_of
from punching_fist.engine.queue import QueueLimits, RunQueue
from punching_fist.engine.runner import RunnerDependencies, WorkflowRunner
from punching_fist.errors import ConfigurationError
from punching_fist.gc_tuning import freeze_startup_heap
from punching_fist.hardening import make_undumpable
from punching_fist.incidents.alert_record import AlertRecord
from punching_fist.knowledge.memory import Memory
from punching_fist.knowledge.runbooks_sync import RunbookSync, runbook_sync_for
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.local_model.bundled import BundledLocalModel
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.observability.knowledge_metrics import KnowledgeMetrics
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import TRACEPARENT, Tracing, current_traceparent
from punching_fist.resources.incident_settings import IncidentSettings
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import SecretResolver
from punching_fist.server.agent import AgentServices, build_agent_services, kube_credentials
from punching_fist.server.http_app import build_asgi_app
from punching_fist.server.retention import Retention
from punching_fist.server.sinks import build_sink_dispatch, delivery_store
from punching_fist.sinks.registry import SinkDependencies
from punching_fist.sources.chatbot import ChatbotAgent
from punching_fist.sources.schedule import ScheduleRunner
from punching_fist.sources.webhook import WebhookIntake
from punching_fist.spawner.client import StepSpawner
from punching_fist.store.chains import ChainedRuns
from punching_fist.store.chat import ChatStore
from punching_fist.store.database import Database
from punching_fist.store.group_commit import GroupCommitter
from punching_fist.store.incident_runs import IncidentRunStore
from punching_fist.store.investigation_budget import InvestigationBudgetStore
from punching_fist.store.knowledge import KnowledgeStore
from punching_fist.store.resources_sync import sync_resources
from punching_fist.store.runs import RunStore
from punching_fist.store.triggers import create_triggered_run

log = structlog.get_logger(__name__)


TryWorkflow = Callable[[bytes, str | None], Awaitable[tuple[str, dict[str, Any]]]]
"""Replays a notification through a workflow without side effects: the timeline, the JSON."""


class Extension(Protocol):
    """Something started after the engine and stopped before it (Kubernetes mode)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(kw_only=True)
class Service:
    """Every long-lived part of a running server, wired together."""

    settings: Settings
    database: Database
    registry: ResourceRegistry
    metrics: Metrics
    secrets: SecretResolver
    runs: RunStore
    committer: GroupCommitter[IncomingAlert, IntakeResult]
    dispatcher: Dispatcher
    intake: WebhookIntake
    agent_services: AgentServices
    sinks: SinkDispatch
    slack_approvals: SlackApprovals
    """Approval requests posted to Slack sinks with ``approvals: true``, and their buttons."""
    local_model: BundledLocalModel
    """The bundled LLM for ``provider: local`` without an endpoint; starts on first use."""
    auth: ApiAuth
    """Who may call the API (tokens of the OperatorConfig), read at start."""
    kube: KubeCredentials
    """The server's Kubernetes credentials and the identities steps act as."""
    retention: Retention
    """Deletes old resolved alerts, finished runs and audit events (``spec.retention``)."""
    tracing: Tracing
    """Spans of the intake, runs, steps, LLM requests, tool calls and deliveries, or none."""
    investigations: InvestigationGate
    """Admits agent steps within spec.limits and wakes the runs waiting for budget."""
    spawner: StepSpawner | None = None
    """Starts steps outside this process (``Settings.isolate_steps``)."""
    schedules: ScheduleRunner | None = None
    extensions: list[Extension] = field(default_factory=list)
    try_workflow: TryWorkflow | None = None
    """The dashboard's "try this workflow" (``replay.dashboard``), set by the command line:
    replay sits above the server. None: the dashboard does not offer it."""
    runbooks: RunbookSync | None = None
    """The runbooks of ``spec.runbooks``, synced in the background (docs/runbooks.md)."""
    memory: Memory | None = None
    """The knowledge base of past incidents, recalled by agent steps (docs/memory.md)."""
    _started: bool = field(default=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def build(
        cls,
        settings: Settings,
        resources: ResourceSet,
        *,
        sink_dependencies: SinkDependencies | None = None,
        agent: AgentRunner | None = None,
        secrets: SecretResolver | None = None,
        local_model: BundledLocalModel | None = None,
        tracing: Tracing | None = None,
        clock: Clock | None = None,
    ) -> Service:
        database = Database(settings.database_url)
        registry = ResourceRegistry(resources)
        metrics = Metrics()
        tracing = tracing or tracing_for(settings)
        secrets = secrets or SecretResolver()
        runs = RunStore(
            database, owner=settings.owner, lease=timedelta(seconds=settings.lease_seconds)
        )
        # First: everything that starts or resumes a run hands it here.
        queue = RunQueue(lambda: QueueLimits.of(registry.current().operator_config))
        metrics.watch_run_queue(queue.state)
        investigations = InvestigationGate(
            InvestigationBudgetStore(database),
            lambda: budget_of(registry.current().operator_config),
            queue,
            owner=settings.owner,
            clock=clock,
            on_waiting=metrics.investigations_queued.set,
        )
        sinks = build_sink_dispatch(
            settings,
            database,
            registry.current,
            metrics,
            secrets,
            ChainLauncher(ChainedRuns(database), queue),
            sink_dependencies,
            tracing=tracing,
        )
        local_model = local_model or BundledLocalModel.for_cache(LocalModelPaths.from_settings())
        kube = kube_credentials(settings, os.environ)
        spawner = StepSpawner(os.environ) if settings.isolate_steps else None
        agent_services = build_agent_services(
            settings,
            database,
            registry.current,
            secrets,
            queue=queue,
            local_model=local_model,
            metrics=metrics,
            credentials=kube,
            spawner=spawner,
            tracing=tracing,
        )
        slack_approvals = SlackApprovals(
            database=database,
            deliveries=delivery_store(settings, database),
            resources=registry.current,
            secrets=secrets,
            decider=agent_services.approvals,
        )
        memory = Memory(
            KnowledgeStore(database),
            registry.current,
            metrics=KnowledgeMetrics(metrics.registry),
        )
        runbooks = runbook_sync_for(
            registry.current,
            settings.state_dir,
            secrets,
            registry=metrics.registry,
            environ=os.environ,
        )
        alert_record = AlertRecord(database, metrics.kpis)
        runner = WorkflowRunner(
            RunnerDependencies(
                runs=runs,
                sinks=sinks,
                resources=registry.current,
                metrics=metrics,
                base_env=settings.base_env,
                # mode: chat steps answer in Slack threads (sources/chatbot.py).
                agent=ChatbotAgent(
                    agent or agent_services.runtime,
                    store=ChatStore(database),
                    resources=registry.current,
                    secrets=secrets,
                ),
                kube=kube,
                spawner=spawner,
                redact=secrets.redact_data,
                tracing=tracing,
                alert_record=alert_record,
                runbooks=runbooks,
                memory=memory,
                investigations=investigations,
                incidents=IncidentInvestigations(IncidentRunStore(database)),
            )
        )
        dispatcher = Dispatcher(
            runner,
            runs,
            queue,
            concurrency=settings.run_concurrency,
            sweep_interval=settings.sweep_interval_seconds,
            single_writer=database.is_sqlite,
        )
        # PostgreSQL takes concurrent writers: a small request then commits beside a slice
        # of a large notification instead of after it. SQLite has one writer anyway.
        committer: GroupCommitter[IncomingAlert, IntakeResult] = GroupCommitter(
            database,
            correlated_intake(lambda: _incident_settings(registry)),
            writers=1 if database.is_sqlite else 4,
        )
        return cls(
            settings=settings,
            database=database,
            runbooks=runbooks,
            memory=memory,
            registry=registry,
            metrics=metrics,
            secrets=secrets,
            runs=runs,
            committer=committer,
            dispatcher=dispatcher,
            intake=WebhookIntake(
                registry, committer, secrets, AlertRuns(queue, alert_record.resolved)
            ),
            agent_services=agent_services,
            sinks=sinks,
            slack_approvals=slack_approvals,
            local_model=local_model,
            auth=ApiAuth(registry.current, secrets, host=settings.host),
            kube=kube,
            spawner=spawner,
            retention=Retention(database, registry.current, metrics),
            tracing=tracing,
            investigations=investigations,
        )

    async def trigger_run(
        self,
        *,
        trigger_key: str,
        source_name: str,
        workflow_name: str,
        source_context: dict[str, Any],
    ) -> uuid.UUID | None:
        """Create the run for a schedule tick or cluster event (once across replicas), start it."""
        attributes = {"punchingfist.source": source_name, "punchingfist.workflow": workflow_name}
        with self.tracing.span("trigger", attributes):
            traceparent = current_traceparent()  # the run continues this trace
            if traceparent is not None:
                source_context = {**source_context, TRACEPARENT: traceparent}
            run_id = await create_triggered_run(
                self.database,
                trigger_key=trigger_key,
                source_name=source_name,
                workflow_name=workflow_name,
                source_context=source_context,
            )
        if run_id is not None:
            self.dispatcher.queue.submit([run_id])
        outcome = "started" if run_id is not None else "repeated"
        kind = str(source_context.get("type", ""))
        self.metrics.source_events.labels(source_name, kind, outcome).inc()
        return run_id

    async def start(self) -> None:
        if self.spawner is not None:  # before a secret is resolved or a step can run
            make_undumpable()
            self.spawner.start()
        await self.database.wait_until_reachable(self.settings.db_wait_seconds)
        await self.database.migrate()
        await sync_resources(self.database, self.registry.current())
        self.registry.subscribe(self._on_resources_changed)
        self.registry.subscribe(self.auth.resources_changed)
        self.committer.start()
        await self.agent_services.start()
        await self.sinks.start()  # before the dispatcher: resumed runs find deliveries unleased
        await self.slack_approvals.start()
        await self.dispatcher.start()
        self.investigations.start()
        self.retention.start()
        if self.runbooks is not None:  # the first sync at start, then every syncInterval
            self.runbooks.start()
            self.registry.subscribe(self.runbooks.config_changed)
        self._started = True
        self.schedules = self.schedules or ScheduleRunner(
            self.registry, self.trigger_run, database=self.database
        )
        self.schedules.start()
        for extension in self.extensions:
            await extension.start()
        try:  # after the extensions: in Kubernetes mode the OperatorConfig comes with them
            await self.auth.start()
        except ConfigurationError:
            await self.stop()
            raise
        if self.settings.freeze_heap_after_start:
            freeze_startup_heap()
        log.info("service started", version=__version__, database=self.database.dialect)

    async def stop(self) -> None:
        if not self._started:
            return
        for extension in reversed(self.extensions):
            await extension.stop()
        if self.schedules is not None:
            await self.schedules.stop()
        await self.committer.stop()
        await self.investigations.stop()
        await self.dispatcher.stop()
        await self.retention.stop()
        if self.runbooks is not None:
            await self.runbooks.stop()
        await self.slack_approvals.stop()
        await self.sinks.stop()
        await self.agent_services.stop()
        await self.local_model.aclose()
        await self.database.close()
        if self.spawner is not None:
            await self.spawner.stop()
        self.kube.remove_files()
        self.tracing.flush()
        self._started = False

    def _on_resources_changed(self, resources: ResourceSet) -> None:
        # Keep the sources/workflows tables (foreign-key targets of alerts) in step.
        task = asyncio.get_running_loop().create_task(sync_resources(self.database, resources))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def asgi_app(self) -> ASGIApp:
        """The HTTP side (``server.http_app``); its lifespan starts and stops this service."""
        return build_asgi_app(self)


def tracing_for(settings: Settings) -> Tracing:
    """Spans exported to ``settings.otlp_endpoint``, or none without one."""
    return Tracing.otlp(settings.otlp_endpoint) if settings.otlp_endpoint else Tracing.off()


def _incident_settings(registry: ResourceRegistry) -> IncidentSettings | None:
    """The OperatorConfig's ``spec.incidents`` in force (defaults without one)."""
    config = registry.current().operator_config
    return config.spec.incidents if config is not None else None
