"""Pausing an investigation for approval and resuming it: one approval row per call that
waits for a person, and the people's decisions read back as the loop's ``Verdict``s.

Both directions of the same ``store.approvals`` rows, kept out of the runtime's flow.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.agent.history import SavedState
from punching_fist.agent.loop_outcomes import Denial, Paused, Verdict
from punching_fist.agent.toolset import Approval, Recorder
from punching_fist.store.approval_rows import ApprovalStatus, NewApproval, StoredApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.audit import AuditEvent
from punching_fist.store.tables import utcnow

log = structlog.get_logger(__name__)


def waiting(ids: Sequence[uuid.UUID]) -> AgentOutcome:
    return AgentOutcome(ending=Ending.WAITING_APPROVAL, approvals=tuple(ids))


async def pause(
    approvals: ApprovalStore,
    request: AgentRequest,
    paused: Paused,
    state: SavedState,
    *,
    record: Recorder,
    expires_in: timedelta,
) -> AgentOutcome:
    """Store the conversation with one approval per waiting call, each audited as requested."""
    pending = approval_requests(paused)
    ids = await approvals.create_batch(
        run_id=request.run_id,
        step_name=request.step_name,
        requests=pending,
        state=state.dump(),
        expires_at=utcnow() + expires_in,
    )
    for approval_id, new in zip(ids, pending, strict=True):
        record(
            AuditEvent(
                run_id=request.run_id,
                step_name=request.step_name,
                kind="approval",
                name="requested",
                arguments={
                    "approval_id": str(approval_id),
                    **({"rule": new.rule} if new.rule else {}),
                    **new.action,
                },
                output=f"{new.reason} (risk: {new.risk})",
            )
        )
    log.info("investigation waits for approval", step=request.step_name, approvals=len(ids))
    return waiting(ids)


def approval_requests(paused: Paused) -> list[NewApproval]:
    """One approval row per call that waits, with what the gate said about it."""
    pending = []
    for waiting_call in paused.pending:
        call, needed = waiting_call.call, waiting_call.needed
        action = {
            "tool": call.tool_name,
            "arguments": call.args_as_dict(),
            "command": needed.command or str(call.args_as_dict()),
            "tool_call_id": call.tool_call_id,
        }
        pending.append(
            NewApproval(
                action=action,
                reason=needed.reason or "this action needs a person's approval",
                risk=needed.risk or "high",
                approvers=needed.approvers,
                rule=needed.rule,
            )
        )
    return pending


def decisions(batch: Sequence[StoredApproval]) -> dict[str, Verdict]:
    """The people's decisions by tool call, feedback passed along to the model."""
    decided: dict[str, Verdict] = {}
    for approval in batch:
        call_id = str(approval.action.get("tool_call_id"))
        feedback = approval.feedback
        if approval.status is ApprovalStatus.APPROVED:
            decided[call_id] = Approval(feedback=feedback or None)
            continue
        why = "expired without a decision" if approval.status is ApprovalStatus.EXPIRED else ""
        message = f"A person denied this action{f' ({why})' if why else ''}; it did not run."
        if feedback and not why:
            message += f" Their note: {feedback}"
        message += " Do not ask for it again: recommend it in your answer instead."
        decided[call_id] = Denial(message=message)
    return decided
