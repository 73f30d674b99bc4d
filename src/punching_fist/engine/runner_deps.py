"""What the workflow runner works with, handed in explicitly by the composition root.

Its own module so the runner's parts (``step_gates``, ``step_bodies``) can take the same
dependencies without importing the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from punching_fist.agent.base import AgentRunner
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.engine.incident_steps import IncidentInvestigations
from punching_fist.engine.investigations import InvestigationGate
from punching_fist.engine.steps.agent import NoAgentRuntime, RunbookLookup
from punching_fist.incidents.alert_record import AlertRecord
from punching_fist.knowledge.memory import Memory
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet
from punching_fist.spawner.client import StepSpawner
from punching_fist.store.runs import RunStore


@dataclass(kw_only=True)
class RunnerDependencies:
    """What the runner works with, handed in explicitly."""

    runs: RunStore
    sinks: SinkDispatch
    resources: Callable[[], ResourceSet]
    metrics: Metrics
    base_env: Mapping[str, str]
    agent: AgentRunner = field(default_factory=NoAgentRuntime)
    kube: KubeCredentials = field(default_factory=KubeCredentials)
    """What a ``cli`` step's kubectl acts as (its ``serviceAccount``, or no credentials)."""
    spawner: StepSpawner | None = None
    """Starts ``cli`` steps outside the server; ``None``: as the server's children."""
    redact: Callable[[Any], Any] = field(default=lambda value: value)
    """Replaces known secret values in what steps and outputs produce (``redact_data``)."""
    alert_record: AlertRecord | None = None
    """Told when agent steps start and end: the alert's triage times and the AI's analysis."""
    tracing: Tracing = field(default_factory=Tracing.off)
    """A span for the run, continuing its intake's trace (``traceparent``), and per step."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """Waits out a step's retry backoff (and a write's, while the database is away)."""
    runbooks: RunbookLookup | None = None
    """The runbooks agent steps' alerts may have (``knowledge.runbooks_sync``); None: none."""
    memory: Memory | None = None
    """The knowledge base agent steps recall from and leave their results in; None: none."""
    investigations: InvestigationGate | None = None
    """Admits agent steps within ``spec.limits`` (investigations, LLM tokens); None: no gate."""
    incidents: IncidentInvestigations | None = None
    """Investigates each incident once (``engine.incident_steps``); None: every run does."""
