"""The seam between the engine and the LLM agent runtime.

The engine only knows this protocol; the agent package implements it. Until an agent runtime
is installed, agent steps fail with a clear message and the run still reaches its sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.resources.workflow import AgentSettings, Workflow


@dataclass(frozen=True, kw_only=True)
class AgentRequest:
    """Everything an agent step needs to run (or resume) an investigation."""

    run_id: str
    step_name: str
    settings: AgentSettings
    goal: str
    workflow: Workflow
    context: Mapping[str, Any]


class AgentRunner(Protocol):
    """Runs an agent step to a structured result (or a pause for approval)."""

    async def investigate(self, request: AgentRequest) -> StepOutcome: ...


class NoAgentRuntime:
    """Used when no agent runtime is configured: the step fails, the workflow goes on."""

    async def investigate(self, request: AgentRequest) -> StepOutcome:
        return StepOutcome(
            status=StepStatus.FAILED,
            error=f"no agent runtime is configured; agent step {request.step_name!r} did not run",
        )
