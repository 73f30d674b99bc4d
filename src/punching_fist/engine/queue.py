"""The run queue: where everything that starts or resumes a run hands over its id.

Created first by the composition root and handed to each producer (the intake after its
commit, chained workflows, approvals that resume runs, schedules and cluster events) and to
the dispatcher, its one consumer. So no part needs the dispatcher, and nothing is wired up
after the fact. The database stays the source of truth: an id lost with the process is found
again by the dispatcher's sweep for claimable runs.

The queue is bounded (``OperatorConfig`` ``spec.limits``: overall and per workflow). A run
it has no room for is not lost: its row is already ``pending`` in the store, the queue notes
a backlog, and the dispatcher takes more from the store once half the queue has drained.
So a notification of 10,000 alerts costs the queue no more memory than one of 1,000, and a
producer never waits for room.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from punching_fist.engine.status import RunId
from punching_fist.observability.metrics import RunQueueFigures
from punching_fist.resources.operator_config import Limits, OperatorConfig


@dataclass(frozen=True, kw_only=True)
class QueueLimits:
    """How many runs may wait for a worker, overall and of one workflow."""

    max_queued: int
    max_queued_per_workflow: int

    @classmethod
    def of(cls, config: OperatorConfig | None) -> QueueLimits:
        """The OperatorConfig's ``spec.limits``, or the defaults without one."""
        limits = config.spec.limits if config is not None else Limits()
        return cls(
            max_queued=limits.max_queued_runs,
            max_queued_per_workflow=limits.max_queued_runs_per_workflow,
        )


DEFAULT_LIMITS = QueueLimits.of(None)


class RunQueue:
    """Run ids waiting for a worker, each queued at most once until it was taken and done."""

    def __init__(self, limits: Callable[[], QueueLimits] = lambda: DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._queue: asyncio.Queue[RunId] = asyncio.Queue()
        self._queued: set[RunId] = set()
        self._workflow_of: dict[RunId, str] = {}
        self._by_workflow: Counter[str] = Counter()
        self._busy = 0
        self._starved: set[str | None] = set()
        """Workflows with runs waiting in the store for room in the queue; None: any room."""
        self._deferred = 0
        self._refilling = 0
        self._stored_pending: int | None = None
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def limits(self) -> QueueLimits:
        return self._limits()

    def submit(self, run_ids: Iterable[RunId], *, workflow: str | None = None) -> int:
        """Queue runs to be executed; how many were queued now.

        An id already waiting or running is not queued twice. Those without room stay
        pending in the store, and the dispatcher queues them when there is room.
        """
        return self.offer((run_id, workflow) for run_id in run_ids)

    def offer(self, runs: Iterable[tuple[RunId, str | None]], *, from_store: bool = False) -> int:
        """``submit`` for runs of several workflows; ``from_store``: the dispatcher's refill,
        whose runs were counted as deferred already when they found no room."""
        limits = self._limits()
        per_workflow = limits.max_queued_per_workflow
        queued = 0
        refused = 0
        for run_id, workflow in runs:
            if run_id in self._queued:
                continue
            if self._queue.qsize() >= limits.max_queued:
                refused += 1
                self._starved.add(None)
                continue
            if workflow is not None and self._by_workflow[workflow] >= per_workflow:
                refused += 1
                self._starved.add(workflow)
                continue
            self._queued.add(run_id)
            if workflow is not None:
                self._workflow_of[run_id] = workflow
                self._by_workflow[workflow] += 1
            self._idle.clear()
            self._queue.put_nowait(run_id)
            queued += 1
        if refused:
            self._note_backlog(0 if from_store else refused)
        return queued

    def defer(self, count: int, *, workflow: str | None = None) -> None:
        """``count`` new runs stay pending in the store for the dispatcher to queue later."""
        if count > 0:
            self._starved.add(workflow)
            self._note_backlog(count)

    async def take(self) -> RunId:
        """The next run to execute; call ``done`` with it when its attempt ended."""
        run_id = await self._queue.get()
        self._busy += 1
        workflow = self._workflow_of.pop(run_id, None)
        if workflow is not None:
            left = self._by_workflow[workflow] - 1
            if left:
                self._by_workflow[workflow] = left
            else:
                del self._by_workflow[workflow]
        self._wake_refill()
        return run_id

    def done(self, run_id: RunId) -> None:
        self._busy -= 1
        self._queued.discard(run_id)
        self._queue.task_done()
        self._check_idle()

    async def wait_for_room(self) -> None:
        """(The dispatcher.) Until runs wait in the store and the queue drained enough to
        take many of them: half of it overall, or half of a waiting workflow's share. Never
        sooner, so a workflow at its limit does not make the dispatcher read the store for
        every run a worker takes."""
        await self._room.wait()
        self._room.clear()

    def refill_starting(self) -> None:
        """(The dispatcher.) It reads the store now; what it cannot queue is noted again."""
        self._refilling += 1
        self._starved.clear()

    def refilled(self, *, exhausted: bool) -> None:
        """(The dispatcher.) It offered what it read; ``exhausted``: the read took every
        claimable run. Otherwise more wait there, and the queue waits for room again."""
        self._refilling -= 1
        if not exhausted and not self._starved:  # refusals noted what waits for room already
            self._starved.add(None)
            self._wake_refill()
        self._check_idle()

    def note_stored_pending(self, count: int) -> None:
        """(The dispatcher's sweep.) How many runs the store holds ``pending``."""
        self._stored_pending = count

    def state(self) -> RunQueueFigures:
        limits = self._limits()
        return RunQueueFigures(
            queued=self._queue.qsize(),
            running=self._busy,
            by_workflow=dict(self._by_workflow),
            max_queued=limits.max_queued,
            max_queued_per_workflow=limits.max_queued_per_workflow,
            backlog=bool(self._starved),
            deferred=self._deferred,
            stored_pending=self._stored_pending,
        )

    def __len__(self) -> int:
        """Runs waiting for a worker (not those being executed)."""
        return self._queue.qsize()

    async def wait_idle(self) -> None:
        """Until nothing is queued, running or waiting in the store for room (tests, shutdown)."""
        await self._idle.wait()

    def _note_backlog(self, new: int) -> None:
        self._deferred += new
        self._idle.clear()
        self._wake_refill()

    def _wake_refill(self) -> None:
        if not self._starved or self._room.is_set():
            return
        limits = self._limits()
        if self._queue.qsize() > limits.max_queued // 2:
            return
        half_share = limits.max_queued_per_workflow // 2
        by_workflow = self._by_workflow
        if any(w is None or by_workflow[w] <= half_share for w in self._starved):
            self._room.set()

    def _check_idle(self) -> None:
        if self._queue.empty() and not (self._busy or self._starved or self._refilling):
            self._idle.set()
