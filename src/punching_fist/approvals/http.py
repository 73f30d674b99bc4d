"""``/api/v1/approvals``: what agents wait for, and the decisions that let them go on.

Reading needs a ``viewer`` token, deciding an ``approver`` one. A decision is recorded under
the name of the token that made it (``anonymous`` on an open, tokenless API). A request that
an approval rule gives to several people (``approvers_required``) is approved once that many
different identities approved it; an open API cannot tell people apart, so it cannot approve
those.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from punching_fist.api.auth import ANONYMOUS, ApiAuth, Identity, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.api.routes import Offset
from punching_fist.approvals.service import ApprovalService
from punching_fist.store.approval_rows import ApprovalConflict


class DecisionBody(BaseModel):
    """A person's answer to an approval request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    approved: bool
    feedback: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = Field(
        default=None,
        alias="decidedBy",
        max_length=255,
        deprecated=True,
        description="Ignored: the decision is recorded under the caller's token name.",
    )
    """Accepted so older clients keep working, and ignored, so nobody can sign as another."""


def approvals_router(service: ApprovalService, auth: ApiAuth) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/approvals",
        tags=["approvals"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )

    @router.get("")
    async def list_approvals(
        status: Annotated[
            str | None, Query(description="pending (default), approved, denied, expired or all.")
        ] = "pending",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Offset = 0,
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

    @router.get("/{approval_id}", responses=refusals(404))
    async def get_approval(approval_id: uuid.UUID) -> dict[str, Any]:
        """One approval request."""
        approval = await service.store.get(approval_id)
        if approval is None:
            raise HTTPException(status_code=404, detail=f"approval {approval_id} not found")
        return approval.as_json()

    approver = auth.requires(Role.APPROVER)

    @router.post("/{approval_id}", responses=refusals(400, 404, 409))
    async def decide(
        approval_id: uuid.UUID,
        body: DecisionBody,
        caller: Identity = approver,
    ) -> dict[str, Any]:
        """Approve or deny; the run resumes once every action it waits for is decided.

        ``decided_by`` is the caller's token name; a ``decidedBy`` in the body is ignored.
        When more people must approve, the request stays ``pending`` with the caller in
        ``approved_by``.
        """
        if caller == ANONYMOUS and body.approved:
            current = await service.store.get(approval_id)
            if current is not None and current.approvers_required > 1:
                raise HTTPException(
                    status_code=403,
                    detail=f"approval {approval_id} needs {current.approvers_required} different"
                    " people, and this API has no tokens to tell them apart: add OperatorConfig"
                    " spec.api.tokens, one per person",
                )
        try:
            decision = await service.decide(
                approval_id,
                approved=body.approved,
                feedback=body.feedback,
                decided_by=caller.name,
            )
        except ApprovalConflict as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if decision is None:
            raise HTTPException(status_code=404, detail=f"approval {approval_id} not found")
        return {**decision.approval.as_json(), "run_resumed": decision.run_resumed}

    return router
