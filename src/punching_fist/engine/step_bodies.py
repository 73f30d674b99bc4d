"""Running one attempt of a step's body: a shell command or an agent investigation.

The runner's loop decides when an attempt starts (retries, leases, persistence); this module
is what the attempt does: the step kind's dispatch (``conditional`` evaluated here), the
``cli`` step's identity and environment, the agent step's request with its runbook and memory
and the alert record's triage hooks, and the rule that whatever an attempt produces is
redacted and a crash becomes a failed outcome, never a lost run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from punching_fist.agent.base import AgentRequest
from punching_fist.engine.memory import StepMemory
from punching_fist.engine.runner_deps import RunnerDependencies
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.engine.steps.agent import run_agent_step, runbook_for, with_runbook_reference
from punching_fist.engine.steps.cli import run_cli_step
from punching_fist.errors import PunchingFistError, RuntimeFailure
from punching_fist.resources.workflow import (
    AgentSettings,
    AgentStep,
    CliStep,
    ConditionalStep,
    Step,
    Workflow,
)
from punching_fist.store.runs import ClaimedRun
from punching_fist.templating import evaluate_condition, render

log = structlog.get_logger(__name__)


class StepBodies:
    """Runs a step's body once for the runner."""

    def __init__(self, deps: RunnerDependencies) -> None:
        self._deps = deps

    async def attempt(
        self, run: ClaimedRun, workflow: Workflow, step: Step, state: RunState
    ) -> StepOutcome:
        """One attempt at the step, its outcome redacted; exceptions become failures."""
        try:
            outcome = await self._dispatch(run, workflow, step, state)
        except PunchingFistError as exc:
            failure = exc if isinstance(exc, RuntimeFailure) else None
            outcome = StepOutcome(status=StepStatus.FAILED, error=str(exc), failure=failure)
        except Exception as exc:  # a broken step must not lose the run; record and go on
            log.exception("step crashed", step=step.name)
            outcome = StepOutcome(status=StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        # Before anything keeps it: the database, later steps' templates, sinks, the API.
        return StepOutcome(
            status=outcome.status,
            result=self._deps.redact(outcome.result),
            error=self._deps.redact(outcome.error),
            failure=outcome.failure,
        )

    async def _dispatch(
        self, run: ClaimedRun, workflow: Workflow, step: Step, state: RunState
    ) -> StepOutcome:
        context = state.template_context()
        if isinstance(step, CliStep):
            return await self._cli(
                step.command, context, step.timeout_seconds, step.service_account
            )
        if isinstance(step, AgentStep):
            return await self._agent(run, workflow, step.name, step, context)
        if isinstance(step, ConditionalStep):
            if not evaluate_condition(step.condition, context):
                return StepOutcome(status=StepStatus.SKIPPED)
            if step.agent is not None:
                return await self._agent(run, workflow, step.name, step.agent, context)
            assert step.command is not None  # the model guarantees one body
            return await self._cli(
                step.command, context, step.timeout_seconds, step.service_account
            )
        raise AssertionError(f"unknown step type {step!r}")

    async def _cli(
        self,
        command: str,
        context: Mapping[str, Any],
        timeout_seconds: float,
        service_account: str | None,
    ) -> StepOutcome:
        # The step's identity goes last: the workflow's environment cannot override it.
        identity = self._deps.kube.cli_environment(service_account=service_account)
        env = {**self._deps.base_env, **context["env"], **identity}
        return await run_cli_step(
            command,
            context,
            base_env=env,
            timeout_seconds=timeout_seconds,
            spawner=self._deps.spawner,
        )

    async def _agent(
        self,
        run: ClaimedRun,
        workflow: Workflow,
        name: str,
        settings: AgentSettings,
        context: Mapping[str, Any],
    ) -> StepOutcome:
        request = AgentRequest(
            run_id=run.id,
            step_name=name,
            settings=settings,
            goal=render(settings.goal, context),
            workflow=workflow,
            context=context,
            runbook=runbook_for(self._deps.runbooks, settings, context),
        )
        memory = self._deps.memory
        step_memory = StepMemory(memory, self._deps.redact) if memory is not None else None
        record, alert_id = self._deps.alert_record, run.alert_id
        if record is not None and alert_id is not None:
            await record.triage_started(alert_id)
        outcome = await run_agent_step(self._deps.agent, request, step_memory)
        waiting = outcome.status is StepStatus.WAITING_APPROVAL
        if record is not None and alert_id is not None and not waiting:
            await record.triage_completed(alert_id, self._deps.redact(outcome.result))
        return with_runbook_reference(outcome, request.runbook)
