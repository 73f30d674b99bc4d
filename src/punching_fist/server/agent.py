"""Building the agent side of a server: runtime, audit writer and the approval service.

``Service.build`` calls ``build_agent_services`` once; the result is started before the
dispatcher (so the first run already has its audit writer) and stopped after it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from punching_fist.agent.base import AgentRequest
from punching_fist.agent.metrics import AgentMetrics
from punching_fist.agent.providers import LocalEndpointProvider, NoLocalModel
from punching_fist.agent.runtime import (
    AgentRuntime,
    AgentRuntimeDeps,
    RuntimeOptions,
    ToolBuilder,
)
from punching_fist.agent.tools.base import AgentTool, ToolContext
from punching_fist.agent.tools.process import DEFAULT_PATH
from punching_fist.agent.tools.registry import ToolSettings, build_tools
from punching_fist.approvals.service import ApprovalService
from punching_fist.config import Settings
from punching_fist.engine.queue import RunQueue
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.workflow import ToolSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.spawner.client import StepSpawner
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.audit import AuditLog
from punching_fist.store.database import Database
from punching_fist.templating import render


class RegistryTools:
    """The default ``ToolBuilder``: the step's ``tools`` entries via the tool registry.

    Templates in a tool's ``endpoint`` (``{{ .env.PROMETHEUS_URL }}``) and in the workflow's
    environment are rendered against the run's context first.
    """

    def __init__(self, secrets: SecretResolver, settings: ToolSettings) -> None:
        self._secrets = secrets
        self._settings = settings

    def __call__(self, request: AgentRequest, context: ToolContext) -> Sequence[AgentTool]:
        environment = {
            name: render(value, request.context) if "{{" in value else value
            for name, value in context.environment.items()
        }
        entries = [
            entry.model_copy(update={"endpoint": render(entry.endpoint, request.context)})
            if isinstance(entry, ToolSpec) and entry.endpoint and "{{" in entry.endpoint
            else entry
            for entry in request.settings.tools
        ]
        return build_tools(
            entries, environment=environment, secrets=self._secrets, settings=self._settings
        )


def kube_credentials(settings: Settings, environ: Mapping[str, str]) -> KubeCredentials:
    """The server's Kubernetes credentials, found as kubectl finds them (at start-up)."""
    return KubeCredentials.discover(
        environ,
        kubeconfig=settings.kubeconfig,
        directory=settings.kubeconfig_dir,
        service_account_dir=settings.service_account_dir,
        namespace=settings.service_account_namespace,
        agent_service_account=settings.agent_service_account,
    )


def tool_settings(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    kubectl_cache_dir: Path | None = None,
    credentials: KubeCredentials | None = None,
    spawner: StepSpawner | None = None,
) -> ToolSettings:
    """Where tools run: the server's ``PATH`` unless ``--tool-path`` narrows it, and whose
    credentials their kubectl uses."""
    return ToolSettings(
        path=settings.tool_path or environ.get("PATH") or DEFAULT_PATH,
        kube_credentials=credentials or kube_credentials(settings, environ),
        kubectl_cache_dir=kubectl_cache_dir,
        spawner=spawner,
    )


@dataclass(kw_only=True)
class AgentServices:
    """The agent runtime and what it needs running beside it."""

    runtime: AgentRuntime
    audit: AuditLog
    approvals: ApprovalService
    kubectl_cache_dir: Path | None = None
    """Made for this server (one per investigation left a directory behind each time)."""

    async def start(self) -> None:
        self.audit.start()
        await self.runtime.start()
        self.approvals.start()

    async def stop(self) -> None:
        await self.approvals.stop()
        await self.runtime.stop()
        await self.audit.stop()
        if self.kubectl_cache_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.kubectl_cache_dir, ignore_errors=True)


def build_agent_services(
    settings: Settings,
    database: Database,
    resources: Callable[[], ResourceSet],
    secrets: SecretResolver,
    *,
    queue: RunQueue,
    tools: ToolBuilder | None = None,
    local_model: LocalEndpointProvider | None = None,
    environ: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
    credentials: KubeCredentials | None = None,
    spawner: StepSpawner | None = None,
    tracing: Tracing | None = None,
) -> AgentServices:
    """``metrics``: the server's registry gets the agent's metrics too; ``credentials``: the
    server's (found in ``environ`` when not given); ``spawner`` starts tool processes;
    ``tracing``: spans for LLM requests and tool calls."""
    agent_metrics = AgentMetrics(metrics.registry if metrics is not None else None)
    audit = AuditLog(database)
    store = ApprovalStore(database)
    cache_dir = None if tools else Path(tempfile.mkdtemp(prefix="punching-fist-kubectl-"))
    builder = tools or RegistryTools(
        secrets,
        tool_settings(
            settings,
            os.environ if environ is None else environ,
            kubectl_cache_dir=cache_dir,
            credentials=credentials,
            spawner=spawner,
        ),
    )
    runtime = AgentRuntime(
        AgentRuntimeDeps(
            resources=resources,
            secrets=secrets,
            audit=audit,
            approvals=store,
            tools=builder,
            local_model=local_model or NoLocalModel(),
            options=RuntimeOptions(
                approval_timeout=timedelta(seconds=settings.approval_timeout_seconds),
                stream=settings.agent_stream,
                read_only=settings.agent_read_only,
            ),
            metrics=agent_metrics,
            tracing=tracing or Tracing.off(),
        )
    )
    approvals = ApprovalService(
        database,
        audit,
        queue,
        sweep_interval=settings.approval_sweep_interval_seconds,
        metrics=agent_metrics,
    )
    return AgentServices(
        runtime=runtime, audit=audit, approvals=approvals, kubectl_cache_dir=cache_dir
    )
