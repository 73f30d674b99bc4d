"""``POST /slack/interactions``: the Slack app's Request URL for button clicks.

The body is read raw, because the signature is over the exact bytes Slack sent; everything
else (parsing, verifying, deciding) is in ``approvals.slack`` (and ``approvals.slack_feedback``
for the "Root cause right / wrong" buttons). Slack wants an answer
within three seconds, and a decision is one database transaction plus one ``chat.update``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.requests import ClientDisconnect

from punching_fist.api.errors import http_status
from punching_fist.api.openapi import refusals
from punching_fist.approvals.slack import SlackApprovals
from punching_fist.approvals.slack_feedback import FEEDBACK_ACTIONS, SlackFeedback, action_of
from punching_fist.errors import Refused, TemporaryFailure

BODY_LIMIT = 64 * 1024
_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {"payload": {"type": "string", "description": "Slack's JSON."}},
                "required": ["payload"],
            }
        }
    },
}


def slack_interactions_router(
    approvals: SlackApprovals, feedback: SlackFeedback | None = None
) -> APIRouter:
    router = APIRouter(tags=["slack"])

    @router.post(
        "/slack/interactions",
        responses=refusals(400, 401, 403, 404, 413, 503),
        openapi_extra={"requestBody": _FORM},
    )
    async def interactions(request: Request) -> dict[str, Any]:
        """A block action from Slack: Approve or Deny on an approval message, or Root cause
        right / wrong on an investigation's message.

        Signed by Slack (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``), not by a token.
        """
        try:
            body = await request.body()
        except ClientDisconnect:  # nobody is left to read the answer
            raise HTTPException(status_code=400, detail="the body did not arrive") from None
        if len(body) > BODY_LIMIT:
            raise HTTPException(status_code=413, detail="interaction payload too large")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            if feedback is not None and action_of(body) in FEEDBACK_ACTIONS:
                judged = await feedback.interaction(body, headers)
                return {
                    "incident": str(judged.incident_id),
                    "rootCauseCorrect": judged.root_cause_correct,
                }
            result = await approvals.interaction(body, headers)
        except Refused as exc:
            raise HTTPException(status_code=http_status(exc), detail=exc.detail) from exc
        except TemporaryFailure as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return {"approval": str(result.approval_id), "status": result.status}

    return router
