"""Global limits on investigations: the gate before an agent step, and its waker.

``spec.limits.investigationsPerMinute`` and ``spec.limits.llmTokensPerHour`` bound how much
the agents may do across every workflow and replica. The runner asks the gate before an agent
step starts (before its start is recorded, so a parked step is not an interrupted one). With
no budget left, or with older runs already waiting, the run is parked ``waiting_limit`` in the
store: it survives a restart and is never dropped. The waker releases waiting runs oldest
first as the rolling windows free budget, admitting each in the same transaction, and hands
them to the ``RunQueue``. Counting happens in the database (``store.investigation_budget``),
so replicas share one budget.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from punching_fist.clock import Clock as Clock  # re-exported: server.service takes it from here
from punching_fist.clock import SystemClock
from punching_fist.engine.queue import RunQueue
from punching_fist.errors import PunchingFistError
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.workflow import AgentStep, ConditionalStep, Step
from punching_fist.store.investigation_budget import Budget, Fence, InvestigationBudgetStore
from punching_fist.store.runs import ClaimedRun
from punching_fist.templating import evaluate_condition

log = structlog.get_logger(__name__)

POLL_SECONDS = 10.0
"""How often the waker looks anyway: runs another replica parked, a changed OperatorConfig."""


def budget_of(config: OperatorConfig | None) -> Budget:
    """The OperatorConfig's investigation limits (none without one)."""
    if config is None:
        return Budget()
    limits = config.spec.limits
    return Budget(
        per_minute=limits.investigations_per_minute, tokens_per_hour=limits.llm_tokens_per_hour
    )


def investigates(step: Step, context: Mapping[str, Any]) -> bool:
    """Whether running ``step`` now starts an investigation (an agent, or a conditional step
    whose condition holds and whose body is an agent)."""
    if isinstance(step, AgentStep):
        return True
    if isinstance(step, ConditionalStep) and step.agent is not None:
        try:
            return evaluate_condition(step.condition, context)
        except PunchingFistError:
            return False  # the step itself reports the broken condition
    return False


class InvestigationGate:
    """Admits investigations within the budget and wakes the runs that wait for it."""

    def __init__(
        self,
        store: InvestigationBudgetStore,
        budget: Callable[[], Budget],
        queue: RunQueue,
        *,
        owner: str,
        clock: Clock | None = None,
        poll_seconds: float = POLL_SECONDS,
        on_waiting: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._store = store
        self._budget = budget
        self._queue = queue
        self._owner = owner
        self._clock = clock or SystemClock()
        self._poll = timedelta(seconds=poll_seconds)
        self._on_waiting = on_waiting
        self._task: asyncio.Task[None] | None = None
        self._sleeper: asyncio.Task[Any] | None = None
        """The waker task while it sleeps between looks (cancelled to look sooner)."""
        self._again = False
        self.waiting = 0
        """Runs waiting for the limits, as this process last counted them."""

    @property
    def sleeping(self) -> bool:
        """The waker is between looks (tests wait for this before moving a fake clock)."""
        return self._sleeper is not None and self._sleeper is self._task

    async def admit(self, run: ClaimedRun, step: str) -> bool:
        """True: start the investigation; False: the run is parked ``waiting_limit``."""
        budget = self._budget()
        if not budget.enabled:
            return True
        fence = Fence(
            run_id=run.id, owner=self._owner, attempt=run.attempt, created_at=run.created_at
        )
        admitted = await self._store.admit_or_park(fence, step, budget, self._clock.now())
        if not admitted:
            self._count(self.waiting + 1)
            log.info("investigation waits for the investigation limits", step=step)
            self._poke()
        return admitted

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._wake(), name="investigation-waker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _count(self, waiting: int) -> None:
        self.waiting = waiting
        self._on_waiting(waiting)

    def _poke(self) -> None:
        """Look again now: a run was parked, so the moment budget frees may be sooner."""
        task = self._task
        if task is None:
            return
        sleeper = self._sleeper
        if sleeper is None or sleeper is not task:
            self._again = True  # it is looking now; it looks once more before sleeping
            return
        sleeper.cancel()
        self._sleeper = None
        self._task = asyncio.create_task(self._wake(), name="investigation-waker")

    async def _wake(self) -> None:
        me = asyncio.current_task()
        while True:
            self._again = False
            deadline = await self._pass()
            if self._again:
                continue
            self._sleeper = me  # no await since the check: a poke now cancels this sleep
            try:
                await self._clock.sleep_until(deadline)
            finally:
                if self._sleeper is me:  # a replaced task must not clear its successor's
                    self._sleeper = None

    async def _pass(self) -> datetime:
        """Release what the budget allows; when to look next."""
        now = self._clock.now()
        deadline = now + self._poll
        try:
            if not await self._store.waiting():
                self._count(0)
                return deadline
            released = await self._store.release(self._budget(), now)
        except Exception:  # the database may be away; the runs wait in it meanwhile
            log.exception("releasing runs waiting for the investigation limits failed")
            return deadline
        self._count(released.waiting)
        if released.run_ids:
            log.info(
                "investigations admitted from the wait",
                count=len(released.run_ids),
                waiting=released.waiting,
            )
            self._queue.submit(released.run_ids)
        if released.waiting and released.frees_at is not None:
            with contextlib.suppress(OverflowError):
                deadline = min(deadline, max(released.frees_at, now))
        return deadline
