"""Human decisions on agent actions: recording them, expiring them, resuming the runs.

The REST routes (``approvals.http``), Slack's buttons (``approvals.slack``) and the
``punching-fist approvals`` CLI (through the REST API) end up here. A decision is stored and,
when it was the last one a paused step waited for, the run goes back to ``pending`` in the
same transaction and is handed to the engine's run queue; the engine then re-runs the step,
which resumes the conversation.

A background sweep denies approvals nobody decided in time and picks up runs left parked
by a crash between a decision and the hand-over, so nothing waits forever.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog

from punching_fist.agent.metrics import AgentMetrics
from punching_fist.approvals import decisions
from punching_fist.engine.queue import RunQueue
from punching_fist.store.approval_rows import ApprovalStatus, Decision, StoredApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.audit import AuditEvent, AuditLog
from punching_fist.store.database import Database

log = structlog.get_logger(__name__)


class ApprovalService:
    """Decides approvals and resumes runs; ``start``/``stop`` bound the expiry sweep."""

    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        queue: RunQueue,
        *,
        sweep_interval: float = 15.0,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self._database = database
        self.store = ApprovalStore(database)
        """Reading approvals (the REST routes list and show them)."""
        self._audit = audit
        self._metrics = metrics or AgentMetrics()
        self._sweep_interval = sweep_interval
        self._queue = queue
        self._sweeper: asyncio.Task[None] | None = None

    async def decide(
        self,
        approval_id: uuid.UUID,
        *,
        approved: bool,
        feedback: str | None,
        decided_by: str = "api",
    ) -> Decision | None:
        """Record a decision; ``None`` when there is no such approval.

        Raises ``ApprovalConflict`` when it was already decided (or expired), or when the same
        person approves twice a request that needs several people.
        """
        decision = await decisions.decide(
            self._database, approval_id, approved=approved, feedback=feedback, decided_by=decided_by
        )
        if decision is None:
            return None
        approval = decision.approval
        if approval.status is ApprovalStatus.PENDING:  # counted; more people must approve
            given, needed = len(approval.approved_by), approval.approvers_required
            note = f"{given} of {needed} approvals; waits for someone else to approve"
            self._record(approval, "partly_approved", by=decided_by, output=note)
        else:
            self._record(approval, "approved" if approved else "denied", by=decided_by)
        log.info(
            "approval decided",
            approval_id=str(approval_id),
            approved=approved,
            run_id=str(decision.approval.run_id),
            resumed=decision.run_resumed,
        )
        if decision.run_resumed:
            self._resume([decision.approval.run_id])
        return decision

    async def sweep_once(self) -> list[uuid.UUID]:
        """Expire overdue approvals, resume what can go on; the runs resumed."""
        expiry = await decisions.expire_due(self._database)
        for approval in expiry.expired:
            self._record(approval, "expired")
        resumed = expiry.resumed + await decisions.resume_stranded(self._database)
        if resumed:
            log.info("runs resumed by the approval sweep", count=len(resumed))
            self._resume(resumed)
        return resumed

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="approval-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def _sweep(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:  # the database may be briefly away; try again next round
                log.exception("approval sweep failed")
            await asyncio.sleep(self._sweep_interval)

    def _resume(self, run_ids: list[uuid.UUID]) -> None:
        self._queue.submit(run_ids)

    def _record(
        self,
        approval: StoredApproval,
        outcome: str,
        *,
        by: str | None = None,
        output: str | None = None,
    ) -> None:
        rule = {"rule": approval.rule} if approval.rule else {}
        event = AuditEvent(
            run_id=approval.run_id,
            step_name=approval.step_name,
            kind="approval",
            name=outcome,
            arguments={
                "approval_id": str(approval.id),
                "decided_by": by or approval.decided_by,
                **rule,
                **approval.action,
            },
            output=output or approval.feedback,
        )
        self._metrics.observe(event)
        # Queued, not awaited: the decision itself is already committed with the approval.
        self._audit.record(event).add_done_callback(_ignore_failure)


def _ignore_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("approval decision not written to the audit trail")
