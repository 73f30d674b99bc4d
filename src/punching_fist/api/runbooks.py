"""``GET /api/v1/runbooks``: how the runbook repository's sync stands (viewer token).

The last attempt and the last success, the commit in use, the last error (a failed sync
keeps the previous copy), the runbooks loaded and those skipped with why.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.api.openapi import AUTH, refusals
from punching_fist.knowledge.runbooks_sync import RunbookSync


def runbooks_router(runbooks: RunbookSync, auth: ApiAuth) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1",
        tags=["runbooks"],
        dependencies=[auth.requires(Role.VIEWER)],
        responses=refusals(*AUTH),
    )

    @router.get("/runbooks")
    async def runbooks_status() -> dict[str, Any]:
        """The runbooks' sync: repository, commit, last attempt and success, error, files."""
        return runbooks.status()

    return router
