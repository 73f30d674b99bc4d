"""``/api/v1/approvals``: what agents wait for, and the decisions that let them go on."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from punching_fist.agent.approvals import ApprovalService
from punching_fist.store.approvals import ApprovalConflict


class DecisionBody(BaseModel):
    """A person's answer to an approval request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    approved: bool
    feedback: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = Field(default=None, alias="decidedBy", max_length=255)


def approvals_router(service: ApprovalService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])

    @router.get("")
    async def list_approvals(
        status: Annotated[
            str | None, Query(description="pending (default), approved, denied, expired or all.")
        ] = "pending",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Approval requests, newest first: what the agent wants to run, why, and the risk."""
        items, total = await service.store.search(
            status=None if status in (None, "", "all") else status, limit=limit, offset=offset
        )
        return {
            "items": [item.as_json() for item in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @router.get("/{approval_id}")
    async def get_approval(approval_id: uuid.UUID) -> dict[str, Any]:
        """One approval request."""
        approval = await service.store.get(approval_id)
        if approval is None:
            raise HTTPException(status_code=404, detail=f"approval {approval_id} not found")
        return approval.as_json()

    @router.post("/{approval_id}")
    async def decide(approval_id: uuid.UUID, body: DecisionBody) -> dict[str, Any]:
        """Approve or deny; the run resumes once every action it waits for is decided."""
        try:
            decision = await service.decide(
                approval_id,
                approved=body.approved,
                feedback=body.feedback,
                decided_by=body.decided_by or "api",
            )
        except ApprovalConflict as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if decision is None:
            raise HTTPException(status_code=404, detail=f"approval {approval_id} not found")
        return {**decision.approval.as_json(), "run_resumed": decision.run_resumed}

    return router
