""" "Root cause right / wrong" clicks on an investigation's Slack message.

The buttons (``sinks.slack_blocks``) are on results posted by Slack sinks with
``approvals: true``, and carry the run's id; the click names the run's incident. The click
arrives at the same ``POST /slack/interactions`` as approvals and is verified the same way
(the sink's signing secret, five minutes of skew): only the sink's ``approvers`` count, and
anyone else is told so in a message only they see. Feedback is recorded as
``slack:<name> (<user id>)`` through ``incidents.feedback``, and the message is edited to say
who judged it, the buttons kept (others may judge too).
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from punching_fist.approvals.slack import SlackApprovals
from punching_fist.errors import Forbidden, InvalidRequest, NotFound, PunchingFistError
from punching_fist.incidents.feedback import FeedbackService
from punching_fist.resources.sink import SlackConfig
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.slack import slack_client
from punching_fist.sinks.slack_blocks import FEEDBACK_RIGHT, FEEDBACK_WRONG
from punching_fist.store.alert_record import incident_of_run
from punching_fist.store.database import Database

log = structlog.get_logger(__name__)

FEEDBACK_ACTIONS = frozenset({FEEDBACK_RIGHT, FEEDBACK_WRONG})


def action_of(body: bytes) -> str | None:
    """The clicked button's ``action_id``, read only to route the request (not yet trusted)."""
    try:
        payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        return str(payload["actions"][0]["action_id"])
    except (KeyError, IndexError, ValueError, TypeError):
        return None


@dataclass(frozen=True, kw_only=True)
class FeedbackClick:
    incident_id: uuid.UUID
    root_cause_correct: bool
    given_by: str


class SlackFeedback:
    def __init__(
        self,
        *,
        approvals: SlackApprovals,
        service: FeedbackService,
        database: Database,
        secrets: SecretResolver,
    ) -> None:
        self._approvals = approvals
        self._service = service
        self._db = database
        self._secrets = secrets
        self._redactor = Redactor(secrets)

    async def interaction(self, body: bytes, headers: Mapping[str, str]) -> FeedbackClick:
        """Handle one feedback click (read, not yet trusted)."""
        name, config = await self._approvals.verified(body, headers)
        try:
            payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
            action = payload["actions"][0]
            run_id = uuid.UUID(str(action["value"]))
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise InvalidRequest("not a block action of an investigation message") from exc
        if action.get("action_id") not in FEEDBACK_ACTIONS:
            raise InvalidRequest(f"unknown action {action.get('action_id')!r}")
        user = payload.get("user") or {}
        user_id = str(user.get("id") or "")
        if not await self._approvals.is_approver(config, user_id):
            log.warning("Slack feedback refused: not an approver", sink=name, user=user_id)
            await self._tell(
                config,
                payload,
                user_id,
                "Only this channel's approvers can judge an investigation; nothing changed.",
            )
            raise Forbidden(
                f"Slack user {user_id or '(unknown)'} is not an approver of sink {name!r}"
            )
        incident_id = await incident_of_run(self._db, run_id)
        if incident_id is None:
            await self._tell(
                config, payload, user_id, "This alert belongs to no incident yet; nothing changed."
            )
            raise NotFound(f"the alert of run {run_id} belongs to no incident")
        who = user.get("username") or user.get("name")
        given_by = f"slack:{who} ({user_id})" if who else f"slack:{user_id}"
        correct = action["action_id"] == FEEDBACK_RIGHT
        stored = await self._service.give(
            incident_id, root_cause_correct=correct, given_by=given_by, source="slack"
        )
        if stored is None:
            raise NotFound(f"incident {incident_id} not found")
        await self._show(config, payload, correct, user_id)
        return FeedbackClick(incident_id=incident_id, root_cause_correct=correct, given_by=given_by)

    async def _tell(
        self, config: SlackConfig, payload: Mapping[str, Any], user_id: str, text: str
    ) -> None:
        channel = (payload.get("channel") or {}).get("id")
        if not channel or not user_id:
            return
        try:
            client = await slack_client(config, self._secrets)
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
            log.warning("feedback refusal not shown", error=self._redactor.text(str(exc)))

    async def _show(
        self, config: SlackConfig, payload: Mapping[str, Any], correct: bool, user_id: str
    ) -> None:
        """Add "root cause right/wrong by @person" under the message; the buttons stay."""
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id")
        if not channel or not message.get("ts"):
            return
        verdict = "✅ root cause right" if correct else "❌ root cause wrong"
        blocks = [*(message.get("blocks") or [])]
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{verdict} by <@{user_id}>"}],
            }
        )
        try:
            client = await slack_client(config, self._secrets)
            await client.chat_update(
                channel=channel,
                ts=str(message["ts"]),
                text=str(message.get("text") or verdict),
                blocks=blocks,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
            # The feedback stands; only the message does not show it.
            log.warning("feedback not shown in Slack", error=self._redactor.text(str(exc)))
