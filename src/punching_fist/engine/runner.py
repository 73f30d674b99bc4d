"""Executing one workflow run: steps in order, outputs, then sinks.

A run is never lost to a failing step: the failure is recorded, outputs render what is
available, and sinks still receive the result. Step results are persisted as they finish, so
a run restarted after a crash skips what it already did; a step's start is persisted before
it runs, so a restarted run knows which step was cut off (``step_attempts``).

The run executes under its lease (``lease.LeaseKeeper``): when the lease cannot be renewed in
time the run is cancelled and its step processes killed before another worker may take it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from punching_fist.agent.base import AgentRequest, AgentRunner
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.engine.incident_steps import IncidentInvestigations
from punching_fist.engine.investigations import InvestigationGate, investigates
from punching_fist.engine.lease import LeaseKeeper
from punching_fist.engine.memory import StepMemory
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.engine.step_attempts import (
    INTERRUPTED,
    Attempts,
    Trigger,
    retry_policy,
    runs_at_most_once,
)
from punching_fist.engine.steps.agent import (
    NoAgentRuntime,
    RunbookLookup,
    run_agent_step,
    runbook_for,
    with_runbook_reference,
)
from punching_fist.engine.steps.cli import run_cli_step
from punching_fist.errors import LeaseLost, PunchingFistError, RuntimeFailure, StoreUnavailable
from punching_fist.incidents.alert_record import AlertRecord
from punching_fist.knowledge.memory import Memory
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
from punching_fist.store.runs import ClaimedRun, RunStore, StoredStep
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


class WorkflowRunner:
    """Runs claimed workflow runs to completion."""

    def __init__(self, deps: RunnerDependencies) -> None:
        self._deps = deps

    async def execute(self, run_id: uuid.UUID) -> RunStatus | None:
        """Claim and run ``run_id``; None when another worker has it, or took it over."""
        since = time.monotonic()  # before the claim: the lease surely lasts from here
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
            lease = LeaseKeeper(
                lambda: self._deps.runs.renew_lease(claimed),
                lease=self._deps.runs.lease.total_seconds(),
                since=since,
            )
            started = time.perf_counter()
            try:
                status = await lease.hold(self._run(claimed, lease))
            except LeaseLost as exc:
                log.warning("run left to the worker that holds its lease", reason=str(exc))
                return None
            finally:
                self._deps.metrics.active_tasks.dec()
            self._deps.metrics.task_duration.labels(claimed.workflow_name).observe(
                time.perf_counter() - started
            )
            self._deps.metrics.workflow_runs.labels(claimed.workflow_name, status.value).inc()
            failed = "failed" if status is RunStatus.FAILED else None
            annotate(run_span, {"punchingfist.run.status": status.value}, error=failed)
            log.info("run finished", status=status.value)
            return status

    async def _run(self, run: ClaimedRun, lease: LeaseKeeper) -> RunStatus:
        workflow = self._deps.resources().workflows.get(run.workflow_name)
        if workflow is None:
            await self._durably(
                lambda: self._deps.runs.finish(
                    run,
                    status=RunStatus.FAILED,
                    outputs={},
                    error=f"workflow {run.workflow_name!r} does not exist",
                )
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
                attached, investigating = await self._attached(run, workflow, position, step, state)
                if attached is None and not await self._admitted(run, step, state):
                    return RunStatus.WAITING_LIMIT
                with self._deps.tracing.span(
                    f"step {step.name}",
                    {"punchingfist.step.name": step.name, "punchingfist.step.type": step.type},
                ) as step_span:
                    outcome = attached or await self._run_step(
                        run, workflow, position, step, state, prior, lease
                    )
                    if investigating:
                        await self._incident_result(run, outcome)
                    failure = outcome.error if outcome.status is StepStatus.FAILED else None
                    step_status = {"punchingfist.step.status": outcome.status.value}
                    annotate(step_span, step_status, error=failure)
                if outcome.status is StepStatus.WAITING_APPROVAL:
                    await self._durably(
                        lambda: self._deps.runs.set_status(run, RunStatus.WAITING_APPROVAL)
                    )
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
        finishing = utcnow()
        await self._durably(
            lambda: self._deps.runs.finish(
                run,
                status=status,
                outputs=state.outputs,
                error="; ".join(failures) or None,
                analysis=analysis,
                confidence=confidence,
            )
        )
        if self._deps.alert_record is not None and run.alert_id is not None:
            await self._deps.alert_record.run_finished(run.alert_id, since=finishing)
        return status

    async def _attached(
        self, run: ClaimedRun, workflow: Workflow, position: int, step: Step, state: RunState
    ) -> tuple[StepOutcome | None, bool]:
        """The step skipped and recorded when the run's incident is investigated by another
        run; else None, and whether this step is the incident's investigation."""
        incidents = self._deps.incidents
        if incidents is None:
            return None, False
        context = state.template_context()
        attach = partial(incidents.attach, run.id, run.source_context, workflow, step, context)
        outcome: StepOutcome | None = None

        async def ask() -> None:
            nonlocal outcome
            outcome = await attach()

        await self._durably(ask)
        if outcome is None:
            return None, investigates(step, context)
        now = utcnow()
        await self._durably(
            partial(
                self._deps.runs.step_started,
                run,
                position=position,
                name=step.name,
                step_type=step.type,
                attempts=1,
                attempt_log=[],
                started_at=now,
            )
        )
        await self._durably(
            partial(
                self._deps.runs.step_finished,
                run,
                name=step.name,
                status=outcome.status,
                result=outcome.result,
                error=None,
                attempt_log=[],
                completed_at=now,
            )
        )
        self._deps.metrics.steps.labels(step.type, outcome.status.value).inc()
        return outcome, False

    async def _incident_result(self, run: ClaimedRun, outcome: StepOutcome) -> None:
        incidents = self._deps.incidents
        assert incidents is not None
        await self._durably(partial(incidents.finished, run.id, run.source_context, outcome))

    async def _admitted(self, run: ClaimedRun, step: Step, state: RunState) -> bool:
        """Whether the step may start now; False: the run was parked ``waiting_limit``."""
        gate = self._deps.investigations
        if gate is None or not investigates(step, state.template_context()):
            return True
        admitted = False

        async def ask() -> None:
            nonlocal admitted
            admitted = await gate.admit(run, step.name)

        await self._durably(ask)
        return admitted

    async def _run_step(
        self,
        run: ClaimedRun,
        workflow: Workflow,
        position: int,
        step: Step,
        state: RunState,
        prior: StoredStep | None,
        lease: LeaseKeeper,
    ) -> StepOutcome:
        attempts = Attempts.of(prior, run_attempt=run.attempt, now=utcnow())
        if attempts.interrupted and runs_at_most_once(step):
            outcome = StepOutcome(status=StepStatus.FAILED, error=INTERRUPTED)
            log.warning("step interrupted by a stop; not run again", step=step.name)
            await self._step_finished(run, step, outcome, attempts)
            return outcome
        policy = retry_policy(step, workflow)
        trigger = attempts.next_trigger
        while True:
            now = utcnow()
            attempts.start(trigger, now)
            # Committed before the step runs: a restart knows this attempt was cut off.
            await self._durably(
                partial(
                    self._deps.runs.step_started,
                    run,
                    position=position,
                    name=step.name,
                    step_type=step.type,
                    attempts=attempts.count,
                    attempt_log=attempts.log,
                    started_at=attempts.started_at or now,
                )
            )
            lease.check()
            outcome = await self._attempt(run, workflow, step, state)
            failure = outcome.failure
            if policy is None or failure is None or not policy.retries(failure, attempts.count):
                break
            delay = policy.delay(failure, attempts.count)
            attempts.end(outcome.status, error=outcome.error, now=utcnow(), retry_in=delay)
            await self._durably(
                partial(
                    self._deps.runs.step_attempt_failed,
                    run,
                    name=step.name,
                    error=outcome.error,
                    attempt_log=attempts.log,
                )
            )
            log.info("step failed; retrying", step=step.name, error=outcome.error, delay=delay)
            await self._deps.sleep(delay)
            trigger = Trigger.RETRY
        attempts.end(outcome.status, error=outcome.error, now=utcnow())
        await self._step_finished(run, step, outcome, attempts)
        # A failed step is worth a line at info; routine ones are on /metrics and in the run.
        report = log.info if outcome.status is StepStatus.FAILED else log.debug
        report("step finished", step=step.name, status=outcome.status.value, error=outcome.error)
        return outcome

    async def _attempt(
        self, run: ClaimedRun, workflow: Workflow, step: Step, state: RunState
    ) -> StepOutcome:
        """One attempt at the step, its outcome redacted; exceptions become failures."""
        try:
            outcome = await self._dispatch_step(run, workflow, step, state)
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

    async def _step_finished(
        self, run: ClaimedRun, step: Step, outcome: StepOutcome, attempts: Attempts
    ) -> None:
        await self._durably(
            lambda: self._deps.runs.step_finished(
                run,
                name=step.name,
                status=outcome.status,
                result=outcome.result,
                error=outcome.error,
                attempt_log=attempts.log,
                completed_at=utcnow(),
            )
        )
        self._deps.metrics.steps.labels(step.type, outcome.status.value).inc()

    async def _durably(self, write: Callable[[], Awaitable[object]]) -> None:
        """Retry a write the database did not take until it does, or the lease is lost.

        A step that finished while the database was briefly away is then recorded, not
        run again; the lease keeper cancels this wait when the outage outlasts the lease.
        """
        pause = 0.25
        while True:
            try:
                await write()
                return
            except StoreUnavailable as exc:
                log.warning("database write failed; retrying", error=str(exc))
                await self._deps.sleep(pause)
                pause = min(pause * 2, 5.0)

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
