"""What decides whether a step runs at all, before the runner starts it.

Two hooks sit between the runner's step loop and a step: the run's incident (a step another
run already investigates is attached to that investigation, not run again;
``engine.incident_steps``) and the global investigation limits (an agent step beyond
``spec.limits`` parks the run ``waiting_limit``; ``engine.investigations``). Kept apart from
the loop so the loop reads as "skip, gate, run, record".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from punching_fist.engine.durable import durably
from punching_fist.engine.investigations import investigates
from punching_fist.engine.runner_deps import RunnerDependencies
from punching_fist.engine.state import RunState, StepOutcome
from punching_fist.resources.workflow import Step, Workflow
from punching_fist.store.runs import ClaimedRun
from punching_fist.store.tables import utcnow


class StepGates:
    """The incident and investigation-limit hooks of one runner."""

    def __init__(self, deps: RunnerDependencies) -> None:
        self._deps = deps

    async def attached(
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

    async def incident_result(self, run: ClaimedRun, outcome: StepOutcome) -> None:
        """Tell the run's incident how its investigation ended."""
        incidents = self._deps.incidents
        assert incidents is not None
        await self._durably(partial(incidents.finished, run.id, run.source_context, outcome))

    async def admitted(self, run: ClaimedRun, step: Step, state: RunState) -> bool:
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

    async def _durably(self, write: Callable[[], Awaitable[object]]) -> None:
        await durably(write, self._deps.sleep)
