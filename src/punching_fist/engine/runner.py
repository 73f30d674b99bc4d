"""Executing one workflow run: steps in order, outputs, then sinks.

A run is never lost to a failing step: the failure is recorded, outputs render what is
available, and sinks still receive the result. Step results are persisted as they finish, so
a run restarted after a crash skips what it already did; a step's start is persisted before
it runs, so a restarted run knows which step was cut off (``step_attempts``).

The run executes under its lease (``lease.LeaseKeeper``): when the lease cannot be renewed in
time the run is cancelled and its step processes killed before another worker may take it.

This module is the step loop and its persistence; whether a step runs at all (its incident,
the investigation limits) is ``step_gates``, what one attempt does is ``step_bodies``, and
the dependencies are ``runner_deps.RunnerDependencies`` (re-exported here for the server).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import structlog

from punching_fist.engine.durable import durably
from punching_fist.engine.lease import LeaseKeeper
from punching_fist.engine.runner_deps import RunnerDependencies
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.engine.step_attempts import (
    INTERRUPTED,
    Attempts,
    Trigger,
    retry_policy,
    runs_at_most_once,
)
from punching_fist.engine.step_bodies import StepBodies
from punching_fist.engine.step_gates import StepGates
from punching_fist.errors import LeaseLost, PunchingFistError
from punching_fist.observability.tracing import TRACEPARENT, annotate
from punching_fist.resources.workflow import Step, Workflow
from punching_fist.store.run_steps import StoredStep
from punching_fist.store.runs import ClaimedRun
from punching_fist.store.tables import utcnow
from punching_fist.templating import render_value

__all__ = ["RunnerDependencies", "WorkflowRunner"]

log = structlog.get_logger(__name__)


class WorkflowRunner:
    """Runs claimed workflow runs to completion."""

    def __init__(self, deps: RunnerDependencies) -> None:
        self._deps = deps
        self._gates = StepGates(deps)
        self._bodies = StepBodies(deps)

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
                gates = self._gates
                attached, investigating = await gates.attached(run, workflow, position, step, state)
                if attached is None and not await self._gates.admitted(run, step, state):
                    return RunStatus.WAITING_LIMIT
                with self._deps.tracing.span(
                    f"step {step.name}",
                    {"punchingfist.step.name": step.name, "punchingfist.step.type": step.type},
                ) as step_span:
                    outcome = attached or await self._run_step(
                        run, workflow, position, step, state, prior, lease
                    )
                    if investigating:
                        await self._gates.incident_result(run, outcome)
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
            outcome = await self._bodies.attempt(run, workflow, step, state)
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
        await durably(write, self._deps.sleep)

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
