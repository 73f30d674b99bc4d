"""The agent's port: what an investigation is handed, and how it ends.

The agent is a plugin like the sinks: it owns this port, and ``engine/steps/agent.py``
adapts it to a workflow step. Nothing in ``agent/`` imports the engine or the HTTP layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from punching_fist.agent.memory import Recollection
from punching_fist.agent.runbook import RunbookBrief
from punching_fist.resources.workflow import AgentSettings, Workflow


@dataclass(frozen=True, kw_only=True)
class ChatExchange:
    """An earlier question and answer of a chat thread (``mode: chat`` steps)."""

    question: str
    answer: str


@dataclass(frozen=True, kw_only=True)
class AgentRequest:
    """Everything an agent step needs to run (or resume) an investigation."""

    run_id: uuid.UUID
    step_name: str
    settings: AgentSettings
    goal: str
    workflow: Workflow
    context: Mapping[str, Any]
    """The run's template context (``.source``, ``.steps``, ``.env`` ...)."""
    runbook: RunbookBrief | None = None
    """The runbook serving the alert (``knowledge/runbooks_*``): a section of the first
    message and read-only commands run as evidence; None: no runbook serves it."""
    history: tuple[ChatExchange, ...] = ()
    """Earlier turns of the conversation, oldest first: the model reads them before ``goal``."""
    memory: Recollection | None = None
    """Similar past incidents and a reusable recent result (``knowledge.memory``); None: none."""


class Ending(StrEnum):
    ANSWERED = "answered"
    """A result the workflow can use: the model's answer, or a partial one saying why not."""
    FAILED = "failed"
    """No investigation took place (the configuration is wrong); a partial result is attached."""
    WAITING_APPROVAL = "waiting_approval"
    """Paused until people decide ``approvals``; the engine runs the step again after."""


@dataclass(frozen=True, kw_only=True)
class AgentOutcome:
    ending: Ending
    result: dict[str, Any] | None = None
    error: str | None = None
    approvals: tuple[uuid.UUID, ...] = ()
    evidence_digest: str | None = None
    """What the evidence showed (``memory.evidence_digest``), kept with the knowledge entry."""


class AgentRunner(Protocol):
    """Runs an investigation to an outcome (``agent.runtime.AgentRuntime`` is the real one)."""

    async def investigate(self, request: AgentRequest) -> AgentOutcome: ...
