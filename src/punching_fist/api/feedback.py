"""``POST /api/v1/incidents/{id}/feedback``: was the investigation's root cause right?

Giving feedback needs an ``approver`` token (the role that decides what agents may do also
judges what they found); it is recorded under the token's name, never a name in the body.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from punching_fist.api.auth import ApiAuth, Identity, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.incidents.feedback import FeedbackService
from punching_fist.store.feedback import SOURCES


class FeedbackBody(BaseModel):
    """One person's verdict on an incident's investigation."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    root_cause_correct: bool = Field(
        alias="rootCauseCorrect", strict=True, description="Was the root cause found right?"
    )
    human_needed: bool | None = Field(
        default=None,
        alias="humanNeeded",
        strict=True,
        description="Was a person needed to resolve it? Counted by escalation accuracy.",
    )
    notes: str | None = Field(default=None, max_length=4000)
    resolution: str | None = Field(
        default=None, max_length=4000, description="What fixed it; kept on the incident's alerts."
    )


Via = Annotated[
    str, Query(description="Where it was given: api (default) or cli.", pattern="^(api|cli)$")
]


def feedback_router(service: FeedbackService, auth: ApiAuth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=refusals(*AUTH))
    approver = auth.requires(Role.APPROVER)

    @router.post("/{incident_id}/feedback", status_code=201, responses=refusals(400, 404))
    async def give_feedback(
        incident_id: uuid.UUID,
        body: FeedbackBody,
        via: Via = "api",
        caller: Identity = approver,
    ) -> dict[str, Any]:
        """Record whether the root cause was right; it becomes the incident's lessons learned
        and a ``feedback`` entry in its alerts' ``human_actions``."""
        assert via in SOURCES
        stored = await service.give(
            incident_id,
            root_cause_correct=body.root_cause_correct,
            human_needed=body.human_needed,
            notes=body.notes,
            resolution=body.resolution,
            given_by=caller.name,
            source=via,
        )
        if stored is None:
            raise HTTPException(status_code=404, detail=f"incident {incident_id} not found")
        return stored.as_json()

    return router
