"""A step's attempts: why each one starts, how it ended, and whether a failure is retried.

The step's record keeps one entry per start (``attempt_log``), written before the step runs:

* ``first``;
* ``retry``: the attempt before failed temporarily and the ``retryPolicy`` (the step's, else
  the workflow's) allows another, after its backoff;
* ``rerun``: the run resumed after the server stopped while the step ran; that earlier
  attempt is marked ``interrupted``. A ``cli`` step with ``idempotent: false`` is not run
  again: it ran at most once, and ends ``failed`` with ``INTERRUPTED``;
* ``resume``: an agent step going on after people decided its approvals; the same attempt
  continues, so it keeps its number.

``attempts`` counts the others: more than one means the step was retried or re-run. It is
what ``RetryPolicy.max_attempts`` bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from punching_fist.engine.status import StepStatus
from punching_fist.resources.workflow import (
    AgentStep,
    CliStep,
    ConditionalStep,
    RetryPolicySpec,
    Step,
    Workflow,
)
from punching_fist.retry import RetryPolicy
from punching_fist.store.run_steps import StoredStep

INTERRUPTED = (
    "interrupted: the server stopped while this step ran; not re-run because idempotent: false"
)
INTERRUPTED_STATUS = "interrupted"
"""How an attempt cut off by a stopped server ends in the log (not a step status)."""


class Trigger(StrEnum):
    FIRST = "first"
    RETRY = "retry"
    RERUN = "rerun"
    RESUME = "resume"


@dataclass(kw_only=True)
class Attempts:
    """One step's attempt log in one run, as the runner extends it."""

    run_attempt: int
    """The run's claim ``attempt``, noted on each entry: which claim started it."""
    count: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    """The step's last attempt was running when the server stopped."""
    resumed: bool = False
    """The step waited for approvals and goes on now."""

    @classmethod
    def of(cls, prior: StoredStep | None, *, run_attempt: int, now: datetime) -> Attempts:
        """Continue ``prior``'s log; an attempt it left ``running`` is ``interrupted`` now."""
        if prior is None:
            return cls(run_attempt=run_attempt)
        log = [dict(entry) for entry in prior.attempt_log]
        interrupted = prior.status == StepStatus.RUNNING.value
        if interrupted and log and log[-1].get("status") == StepStatus.RUNNING.value:
            log[-1].update(status=INTERRUPTED_STATUS, completed_at=now.isoformat())
        return cls(
            run_attempt=run_attempt,
            count=prior.attempts,
            log=log,
            interrupted=interrupted,
            resumed=prior.status == StepStatus.WAITING_APPROVAL.value,
        )

    @property
    def next_trigger(self) -> Trigger:
        if self.interrupted:
            return Trigger.RERUN
        if self.resumed:
            return Trigger.RESUME
        return Trigger.RETRY if self.count else Trigger.FIRST

    @property
    def started_at(self) -> datetime | None:
        """When the step first started, in any claim of the run."""
        if not self.log:
            return None
        return datetime.fromisoformat(self.log[0]["started_at"])

    def start(self, trigger: Trigger, now: datetime) -> None:
        if trigger is not Trigger.RESUME or not self.count:
            self.count += 1
        self.interrupted = self.resumed = False
        self.log.append(
            {
                "attempt": self.count,
                "trigger": trigger.value,
                "run_attempt": self.run_attempt,
                "started_at": now.isoformat(),
                "status": StepStatus.RUNNING.value,
            }
        )

    def end(
        self,
        status: StepStatus | str,
        *,
        error: str | None,
        now: datetime,
        retry_in: float | None = None,
    ) -> None:
        """How the current attempt ended."""
        entry = self.log[-1]
        entry.update(status=str(status), error=error, completed_at=now.isoformat())
        if retry_in is not None:
            entry["retry_in_seconds"] = round(retry_in, 3)


def runs_at_most_once(step: Step) -> bool:
    return isinstance(step, CliStep) and not step.idempotent


def retry_policy(step: Step, workflow: Workflow) -> RetryPolicy | None:
    """How the step's temporary failures are retried; None: not at all.

    Command steps only: agent steps retry their LLM requests themselves
    (``rigConfig.retryPolicy``), and a step that runs at most once is never retried.
    """
    if isinstance(step, AgentStep) or runs_at_most_once(step):
        return None
    if isinstance(step, ConditionalStep) and step.command is None:
        return None
    spec: RetryPolicySpec | None = step.retry_policy or workflow.spec.retry_policy
    if spec is None:
        return None
    return RetryPolicy.of(
        max_attempts=spec.max_attempts,
        backoff=spec.backoff,
        initial_delay=spec.initial_delay_seconds,
        max_delay=spec.max_delay_seconds,
    )
