"""Executing one workflow run: steps in order, outputs, then sinks.

A run is never lost to a failing step: the failure is recorded, outputs render what is
available, and sinks still receive the result. Step results are persisted as they finish, so
a run restarted after a crash skips what it already did.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from punching_fist.agent.base import AgentRequest, AgentRunner
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.engine.steps.agent import NoAgentRuntime, run_agent_step
from punching_fist.engine.steps.cli import run_cli_step
from punching_fist.errors import PunchingFistError
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import TRACEPARENT, Tracing, annotate
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.workflow import (
    AgentSettings,
    AgentStep,
    CliStep,
    ConditionalStep,
    Step,
    Workflow,
)
from punching_fist.spawner.client import StepSpawner
from punching_fist.store.runs import ClaimedRun, RunStore
from punching_fist.store.tables import utcnow
from punching_fist.templating import evaluate_condition, render, render_value

log = structlog.get_logger(__name__)


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
    tracing: Tracing = field(default_factory=Tracing.off)
    """A span for the run, continuing its intake's trace (``traceparent``), and per step."""


class WorkflowRunner:
    """Runs claimed workflow runs to completion."""

    def __init__(self, deps: RunnerDependencies) -> None:
        self._deps = deps

    async def execute(self, run_id: uuid.UUID) -> RunStatus | None:
        """Claim and run ``run_id``; None when another worker has it."""
        claimed = await self._deps.runs.claim(run_id)
        if claimed is None:
            return None
        fingerprint = ((claimed.source_context.get("data") or {}).get("alert") or {}).get(
            "fingerprint"
        )
        with (
            structlog.contextvars.bound_contextvars(
                run_id=str(claimed.id), workflow=claimed.workflow_name, fingerprint=fingerprint
            ),
            self._deps.tracing.span(
                "run",
                {
                    "punchingfist.run.id": str(claimed.id),
                    "punchingfist.workflow": claimed.workflow_name,
                    "punchingfist.run.attempt": claimed.attempt,
                },
                parent=claimed.source_context.get(TRACEPARENT),
            ) as run_span,
        ):
            self._deps.metrics.active_tasks.inc()
            heartbeat = asyncio.create_task(self._heartbeat(claimed.id))
            started = time.perf_counter()
            try:
                status = await self._run(claimed)
            finally:
                heartbeat.cancel()
                self._deps.metrics.active_tasks.dec()
            self._deps.metrics.task_duration.labels(claimed.workflow_name).observe(
                time.perf_counter() - started
            )
            self._deps.metrics.workflow_runs.labels(claimed.workflow_name, status.value).inc()
            failed = "failed" if status is RunStatus.FAILED else None
            annotate(run_span, {"punchingfist.run.status": status.value}, error=failed)
            log.info("run finished", status=status.value)
            return status

    async def _heartbeat(self, run_id: uuid.UUID) -> None:
        interval = max(self._deps.runs.lease.total_seconds() / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            await self._deps.runs.renew_lease(run_id)

    async def _run(self, run: ClaimedRun) -> RunStatus:
        workflow = self._deps.resources().workflows.get(run.workflow_name)
        if workflow is None:
            await self._deps.runs.finish(
                run,
                status=RunStatus.FAILED,
                outputs={},
                error=f"workflow {run.workflow_name!r} does not exist",
            )
            return RunStatus.FAILED
        log.info("run started", attempt=run.attempt)
        state = RunState(
            run_id=str(run.id),
            workflow_name=run.workflow_name,
            source=run.source_context,
            environment=dict(workflow.spec.runtime.environment),
            started_at=run.started_at,
        )
        stored = run.steps if run.steps is not None else await self._deps.runs.steps(run.id)
        failures: list[str] = []
        for position, step in enumerate(workflow.spec.steps):
            prior = stored.get(step.name)
            if prior is not None and StepStatus(prior.status).finished:
                outcome = StepOutcome(
                    status=StepStatus(prior.status), result=prior.result, error=prior.error
                )
            else:
                with self._deps.tracing.span(
                    f"step {step.name}",
                    {"punchingfist.step.name": step.name, "punchingfist.step.type": step.type},
                ) as step_span:
                    outcome = await self._run_step(run, workflow, position, step, state)
                    failure = outcome.error if outcome.status is StepStatus.FAILED else None
                    step_status = {"punchingfist.step.status": outcome.status.value}
                    annotate(step_span, step_status, error=failure)
                if outcome.status is StepStatus.WAITING_APPROVAL:
                    await self._deps.runs.set_status(run.id, RunStatus.WAITING_APPROVAL)
                    return RunStatus.WAITING_APPROVAL
            state.record(step.name, step.type, outcome)
            if outcome.status is StepStatus.FAILED:
                failures.append(f"{step.name}: {outcome.error}")
        state.outputs.update(self._deps.redact(self._render_outputs(workflow, state)))
        failures = self._deps.redact(failures)
        status = RunStatus.FAILED if failures else RunStatus.SUCCEEDED
        state.status = status.value
        state.completed_at = utcnow()
        await self._deps.sinks.deliver(run, workflow, state)
        analysis, confidence = _analysis(state)
        await self._deps.runs.finish(
            run,
            status=status,
            outputs=state.outputs,
            error="; ".join(failures) or None,
            analysis=analysis,
            confidence=confidence,
        )
        return status

    async def _run_step(
        self, run: ClaimedRun, workflow: Workflow, position: int, step: Step, state: RunState
    ) -> StepOutcome:
        await self._deps.runs.step_started(
            run.id, position=position, name=step.name, step_type=step.type
        )
        try:
            outcome = await self._dispatch_step(run, workflow, step, state)
        except PunchingFistError as exc:
            outcome = StepOutcome(status=StepStatus.FAILED, error=str(exc))
        except Exception as exc:  # a broken step must not lose the run; record and go on
            log.exception("step crashed", step=step.name)
            outcome = StepOutcome(status=StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        # Before anything keeps it: the database, later steps' templates, sinks, the API.
        outcome = StepOutcome(
            status=outcome.status,
            result=self._deps.redact(outcome.result),
            error=self._deps.redact(outcome.error),
        )
        await self._deps.runs.step_finished(
            run.id,
            name=step.name,
            status=outcome.status,
            result=outcome.result,
            error=outcome.error,
        )
        self._deps.metrics.steps.labels(step.type, outcome.status.value).inc()
        # A failed step is worth a line at info; routine ones are on /metrics and in the run.
        report = log.info if outcome.status is StepStatus.FAILED else log.debug
        report("step finished", step=step.name, status=outcome.status.value, error=outcome.error)
        return outcome

    async def _dispatch_step(
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
        )
        return await run_agent_step(self._deps.agent, request)

    @staticmethod
    def _render_outputs(workflow: Workflow, state: RunState) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        base = state.template_context()
        for output in workflow.spec.outputs:
            context = {**base, "outputs": {**state.outputs, **outputs}}
            try:
                outputs[output.name] = render_value(output.value, context)
            except PunchingFistError as exc:
                log.warning("output could not be rendered", output=output.name, error=str(exc))
                outputs[output.name] = None
        return outputs


def _analysis(state: RunState) -> tuple[dict[str, Any] | None, float | None]:
    """The first agent result of the run, for the alert's ``ai_analysis``/``ai_confidence``."""
    for step in state.steps.values():
        result = step.get("result")
        if step.get("type") in ("agent", "conditional") and isinstance(result, dict):
            confidence = result.get("confidence")
            return result, float(confidence) if isinstance(confidence, int | float) else None
    return None, None
