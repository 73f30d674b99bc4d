"""What an approval is, in Python and in its table row: the vocabulary the store, its
decision transactions (``approval_decisions``) and the approvals service share.

Apart from ``approvals`` so the decision transactions can build on it without an import cycle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_
from sqlalchemy.engine import Row

from punching_fist.errors import Conflict
from punching_fist.store.tables import approvals, workflow_runs


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True, kw_only=True)
class NewApproval:
    action: dict[str, Any]
    reason: str
    risk: str
    approvers: int = 1
    """How many different people must approve (an approval rule may ask for more than one)."""
    rule: dict[str, Any] | None = None
    """The approval rule that applied, as shown to the people deciding."""


@dataclass(frozen=True, kw_only=True)
class StoredApproval:
    id: uuid.UUID
    run_id: uuid.UUID
    step_name: str
    status: ApprovalStatus
    action: dict[str, Any]
    reason: str | None
    risk: str | None
    feedback: str | None
    decided_by: str | None
    requested_at: datetime | None
    decided_at: datetime | None
    expires_at: datetime | None
    workflow_name: str | None = None
    state: Any = None
    approvers_required: int = 1
    approved_by: tuple[str, ...] = field(default_factory=tuple)
    """Who approved so far, in order; the request is approved once there are enough."""
    rule: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The public view: never the saved conversation."""
        return {
            "id": str(self.id),
            "run_id": str(self.run_id),
            "workflow": self.workflow_name,
            "step_name": self.step_name,
            "status": self.status.value,
            "action": self.action,
            "reason": self.reason,
            "risk": self.risk,
            "feedback": self.feedback,
            "decided_by": self.decided_by,
            "approvers_required": self.approvers_required,
            "approved_by": list(self.approved_by),
            "rule": self.rule,
            "requested_at": _iso(self.requested_at),
            "decided_at": _iso(self.decided_at),
            "expires_at": _iso(self.expires_at),
        }


@dataclass(frozen=True, kw_only=True)
class Decision:
    approval: StoredApproval
    run_resumed: bool
    """True when this decision was the batch's last and the run went back to ``pending``."""


@dataclass(frozen=True, kw_only=True)
class Expiry:
    expired: list[StoredApproval]
    """As they were before expiring (status still pending)."""
    resumed: list[uuid.UUID]
    """Runs put back to ``pending`` because nothing else held them."""


class ApprovalConflict(Conflict):
    """The approval exists but cannot take this decision: no longer pending, or the same
    person approving twice."""

    def __init__(self, approval: StoredApproval, reason: str | None = None) -> None:
        self.approval = approval
        super().__init__(reason or f"approval {approval.id} is already {approval.status.value}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


COLUMNS = (*approvals.c, workflow_runs.c.workflow_name)
"""An approval's columns with its run's workflow, for ``approvals.outerjoin(workflow_runs)``."""


def stored(row: Row[Any], *, with_state: bool = False) -> StoredApproval:
    return StoredApproval(
        id=row.id,
        run_id=row.run_id,
        step_name=row.step_name,
        status=ApprovalStatus(row.status),
        action=row.action,
        reason=row.reason,
        risk=row.risk,
        feedback=row.feedback,
        decided_by=row.decided_by,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
        workflow_name=getattr(row, "workflow_name", None),
        state=row.state if with_state else None,
        approvers_required=row.approvers_required,
        approved_by=tuple(row.approved_by or ()),
        rule=row.rule,
    )


def live_batch_where(run_id: Any, step_name: Any) -> Any:
    return and_(
        approvals.c.run_id == run_id,
        approvals.c.step_name == step_name,
        approvals.c.state.is_not(None),
    )
