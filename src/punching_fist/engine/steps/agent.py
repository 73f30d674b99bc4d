"""Agent steps: the engine's adapter to the agent's port (``agent/base.py``).

Until an agent runtime is installed, agent steps fail with a clear message and the run still
reaches its sinks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any, Protocol

from punching_fist.agent.base import AgentOutcome, AgentRequest, AgentRunner, Ending
from punching_fist.agent.runbook import RunbookBrief
from punching_fist.engine.memory import StepMemory
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.resources.workflow import AgentSettings

_STATUS = {
    Ending.ANSWERED: StepStatus.SUCCEEDED,
    Ending.FAILED: StepStatus.FAILED,
    Ending.WAITING_APPROVAL: StepStatus.WAITING_APPROVAL,
}


async def run_agent_step(
    agent: AgentRunner, request: AgentRequest, memory: StepMemory | None = None
) -> StepOutcome:
    """The investigation as a step: its result is ``.steps.<name>.result`` in templates.
    With ``memory``, it recalls similar incidents first and is remembered after."""
    recalled = None
    if memory is not None:
        request, recalled = await memory.recall(request)
    outcome = await agent.investigate(request)
    if memory is not None:
        await memory.remember(request, outcome, recalled)
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


class RunbookLookup(Protocol):
    """Finds the runbook serving an alert (``knowledge.runbooks_sync.RunbookSync``)."""

    def brief_for_alert(
        self, alert: Mapping[str, object], *, require_approval_for: Collection[str] = ()
    ) -> RunbookBrief | None: ...


def runbook_for(
    runbooks: RunbookLookup | None, settings: AgentSettings, context: Mapping[str, Any]
) -> RunbookBrief | None:
    """The runbook of the run's alert (``.source.data.alert``) for an agent step; writes the
    step's ``rigConfig.safety.requireApproval`` names count as remediation, never evidence."""
    source = context.get("source")
    data = source.get("data") if isinstance(source, Mapping) else None
    alert = data.get("alert") if isinstance(data, Mapping) else None
    if runbooks is None or not isinstance(alert, Mapping):
        return None
    required = settings.rig_config.safety.require_approval if settings.rig_config else []
    return runbooks.brief_for_alert(alert, require_approval_for=required)


def with_runbook_reference(outcome: StepOutcome, runbook: RunbookBrief | None) -> StepOutcome:
    """The step's result records which runbook (path, commit) the investigation used."""
    if runbook is None or not isinstance(outcome.result, dict):
        return outcome
    return replace(outcome, result={**outcome.result, "runbook": runbook.reference()})
