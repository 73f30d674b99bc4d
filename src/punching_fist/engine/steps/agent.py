"""Agent steps: the engine's adapter to the agent's port (``agent/base.py``).

Until an agent runtime is installed, agent steps fail with a clear message and the run still
reaches its sinks.
"""

from __future__ import annotations

from punching_fist.agent.base import AgentOutcome, AgentRequest, AgentRunner, Ending
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus

_STATUS = {
    Ending.ANSWERED: StepStatus.SUCCEEDED,
    Ending.FAILED: StepStatus.FAILED,
    Ending.WAITING_APPROVAL: StepStatus.WAITING_APPROVAL,
}


async def run_agent_step(agent: AgentRunner, request: AgentRequest) -> StepOutcome:
    """The investigation as a step: its result is ``.steps.<name>.result`` in templates."""
    outcome = await agent.investigate(request)
    result = outcome.result
    if outcome.ending is Ending.WAITING_APPROVAL:
        result = {"status": "waiting_approval", "approvals": [str(i) for i in outcome.approvals]}
    return StepOutcome(status=_STATUS[outcome.ending], result=result, error=outcome.error)


class NoAgentRuntime:
    """Used when no agent runtime is configured: the step fails, the workflow goes on."""

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        return AgentOutcome(
            ending=Ending.FAILED,
            error=f"no agent runtime is configured; agent step {request.step_name!r} did not run",
        )
