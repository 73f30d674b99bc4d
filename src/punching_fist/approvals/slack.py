"""Approval requests in Slack: what the agent wants to run, with Approve and Deny buttons.

A Slack sink with ``approvals: true`` also carries the approval requests of runs whose
workflow uses it. A background loop looks for pending approvals and posts each once (in
the alert's thread when there is one, in the chat thread of a chat run); the message's
``ts`` is stored under ``approval:<id>`` in ``sink_correlations``, so a restart does not
post it again.

A click comes back to ``POST /slack/interactions``. The request is verified with the Slack
app's signing secret (HMAC-SHA256 over ``v0:<timestamp>:<body>``, timestamps older than
five minutes refused) before anything in it is believed. Everyone in the channel sees the
buttons, so only the clicks of the sink's ``approvers`` (user ids, or members of user groups,
read with ``usergroups.users.list`` and kept for a minute) count; anyone else is told so in a
message only they see. A decision is recorded as ``slack:<name> (<user id>)`` through the
same service as the API's, and the message is edited to show who decided, without its buttons.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from punching_fist.approvals.service import ApprovalService
from punching_fist.approvals.slack_blocks import APPROVE, DENY, approval_blocks, signature
from punching_fist.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PunchingFistError,
    TemporaryFailure,
    Unauthenticated,
)
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import SlackConfig, SlackSinkSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.correlation import correlation_key
from punching_fist.sinks.credentials import credential
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.slack import slack_client
from punching_fist.store.approval_rows import ApprovalConflict, ApprovalStatus, StoredApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.chains import incident_of, run_snapshot
from punching_fist.store.chat import ChatStore
from punching_fist.store.database import Database
from punching_fist.store.deliveries import DeliveryStore, StoredCorrelation

log = structlog.get_logger(__name__)

MAX_SKEW_SECONDS = 300
GROUP_MEMBERS_TTL_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class InteractionResult:
    approval_id: uuid.UUID
    status: str
    decided_by: str


class SlackApprovals:
    """Posts pending approvals to Slack and turns button clicks into decisions."""

    def __init__(
        self,
        *,
        database: Database,
        deliveries: DeliveryStore,
        resources: Callable[[], ResourceSet],
        secrets: SecretResolver,
        decider: ApprovalService,
        interval: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = database
        self._approvals = ApprovalStore(database)
        self._deliveries = deliveries
        self._resources = resources
        self._secrets = secrets
        self._redactor = Redactor(secrets)
        self._interval = interval
        self._sleep = sleep
        self._decider = decider
        self._announced: set[uuid.UUID] = set()
        self._group_members: dict[str, tuple[float, frozenset[str]]] = {}
        self._task: asyncio.Task[None] | None = None

    def enabled(self) -> bool:
        return bool(self._sinks())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="slack-approvals")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- announcing -----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await self._sleep(self._interval)
            if not self.enabled():
                continue
            try:
                await self.announce_once()
            except Exception:  # the database or Slack may be briefly away; next round
                log.exception("announcing approvals to Slack failed")

    async def announce_once(self) -> int:
        """Post every pending approval not posted yet; the number of messages posted."""
        pending, _ = await self._approvals.search(status=ApprovalStatus.PENDING.value, limit=200)
        posted = 0
        for approval in pending:
            if approval.id in self._announced:
                continue
            done = True
            for name, config in self._sinks(approval.workflow_name).items():
                key = f"approval:{approval.id}"
                if await self._deliveries.correlation(name, key) is not None:
                    continue
                try:
                    await self._announce(name, config, approval, key)
                    posted += 1
                except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
                    done = False
                    log.warning(
                        "approval not posted to Slack; will retry",
                        sink=name,
                        approval_id=str(approval.id),
                        error=self._redactor.text(str(exc)),
                    )
            if done:
                self._announced.add(approval.id)
        return posted

    async def _announce(
        self, name: str, config: SlackConfig, approval: StoredApproval, key: str
    ) -> None:
        client = await slack_client(config, self._secrets)
        channel, thread_ts = await self._thread(name, config, approval.run_id)
        response = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=f"Approval needed for {approval.workflow_name}: {approval.reason or ''}",
            blocks=approval_blocks(approval),
        )
        await self._deliveries.remember(
            name,
            key,
            StoredCorrelation(
                external_ref=str(response["ts"]), data={"channel": str(response["channel"])}
            ),
            run_id=approval.run_id,
        )
        log.info("approval posted to Slack", sink=name, approval_id=str(approval.id))

    async def _thread(
        self, name: str, config: SlackConfig, run_id: uuid.UUID
    ) -> tuple[str, str | None]:
        """The alert's thread in this sink's channel, if a result about it was posted; the
        chat thread a chat run answers in (``sources/chatbot.py``)."""
        turn = await ChatStore(self._db).turn(run_id)
        if turn is not None:
            return turn.channel, turn.thread_ts
        snapshot = await run_snapshot(self._db, run_id)
        if snapshot is None:
            return config.channel, None
        workflow = self._resources().workflows.get(snapshot.workflow_name)
        per_alert = workflow is not None and workflow.spec.investigate == "perAlert"
        incident = (
            await incident_of(self._db, snapshot.alert_id)
            if snapshot.alert_id and not per_alert
            else None
        )
        key = correlation_key(
            snapshot.source_context,
            incident_id=str(incident) if incident else None,
            run_id=str(run_id),
        )
        stored = await self._deliveries.correlation(name, key)
        if stored is None or not stored.data.get("channel"):
            return config.channel, None
        return str(stored.data["channel"]), str(stored.data.get("thread_ts") or stored.external_ref)

    def _sinks(self, workflow_name: str | None = None) -> dict[str, SlackConfig]:
        """Slack sinks with approvals on; only the workflow's own when it is given."""
        resources = self._resources()
        names: set[str] | None = None
        if workflow_name is not None:
            workflow = resources.workflows.get(workflow_name)
            names = {ref.name for ref in workflow.spec.sink_refs()} if workflow else set()
        return {
            name: sink.spec.config
            for name, sink in resources.sinks.items()
            if isinstance(sink.spec, SlackSinkSpec)
            and sink.spec.config.approvals
            and (names is None or name in names)
        }

    # --- clicks ---------------------------------------------------------------------------

    async def interaction(self, body: bytes, headers: Mapping[str, str]) -> InteractionResult:
        """Handle one interaction request from Slack (already read, not yet trusted)."""
        name, config = await self._verified(body, headers)
        form = urllib.parse.parse_qs(body.decode())
        try:
            payload = json.loads(form["payload"][0])
            action = payload["actions"][0]
            approval_id = uuid.UUID(str(action["value"]))
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise InvalidRequest("not a block action of an approval message") from exc
        if action.get("action_id") not in (APPROVE, DENY):
            raise InvalidRequest(f"unknown action {action.get('action_id')!r}")
        user = payload.get("user") or {}
        user_id = str(user.get("id") or "")
        if not await self._is_approver(config, user_id):
            log.warning(
                "Slack click refused: not an approver",
                sink=name,
                user=user_id,
                approval_id=str(approval_id),
            )
            await self._tell(name, config, payload, user_id)
            raise Forbidden(
                f"Slack user {user_id or '(unknown)'} is not an approver of sink {name!r}"
            )
        who = user.get("username") or user.get("name")
        decided_by = f"slack:{who} ({user_id})" if who else f"slack:{user_id}"
        approved = action["action_id"] == APPROVE
        try:
            decision = await self._decider.decide(
                approval_id, approved=approved, feedback=None, decided_by=decided_by
            )
        except ApprovalConflict as exc:  # decided elsewhere (API, CLI, expiry) or clicked twice
            status, by = exc.approval.status.value, exc.approval.decided_by or "someone"
            clicker = None
            if status == ApprovalStatus.PENDING:  # this person approved already; others still must
                given = exc.approval.approved_by
                status = f"approved ({len(given)} of {exc.approval.approvers_required})"
                by = ", ".join(given)
        else:
            if decision is None:
                raise NotFound(f"approval {approval_id} not found")
            status, by = decision.approval.status.value, decided_by
            clicker = user_id
            if status == ApprovalStatus.PENDING:  # counted; an approval rule asks for more people
                count = len(decision.approval.approved_by)
                status = f"approved ({count} of {decision.approval.approvers_required})"
        await self._show_outcome(name, config, payload, status, by, clicker)
        return InteractionResult(approval_id=approval_id, status=status, decided_by=by)

    async def verified(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, SlackConfig]:
        """The sink whose signing secret signed ``body`` (feedback clicks are checked so too)."""
        return await self._verified(body, headers)

    async def is_approver(self, config: SlackConfig, user_id: str) -> bool:
        """Whether ``user_id`` is one of the sink's approvers, directly or by user group."""
        return await self._is_approver(config, user_id)

    async def _is_approver(self, config: SlackConfig, user_id: str) -> bool:
        if not user_id:
            return False
        if user_id in config.approvers:
            return True
        for group in config.approvers:
            if group.startswith("S") and user_id in await self._members(config, group):
                return True
        return False

    async def _members(self, config: SlackConfig, group: str) -> frozenset[str]:
        """A user group's members, read again after a minute (people join and leave)."""
        cached = self._group_members.get(group)
        if cached is not None and time.monotonic() - cached[0] < GROUP_MEMBERS_TTL_SECONDS:
            return cached[1]
        try:
            client = await slack_client(config, self._secrets)
            response = await client.usergroups_users_list(usergroup=group)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
            detail = self._redactor.text(str(exc))
            log.warning("Slack user group not readable", group=group, error=detail)
            raise TemporaryFailure(
                f"cannot check the members of the approvers' user group {group}"
            ) from exc
        members = frozenset(str(u) for u in response.get("users") or [])
        self._group_members[group] = (time.monotonic(), members)
        return members

    async def _tell(
        self, name: str, config: SlackConfig, payload: Mapping[str, Any], user_id: str
    ) -> None:
        """Let a refused clicker know why nothing happened (a message only they see)."""
        channel = (payload.get("channel") or {}).get("id")
        if not channel or not user_id:
            return
        try:
            client = await slack_client(config, self._secrets)
            await client.chat_postEphemeral(
                channel=channel,
                user=user_id,
                text="Only this request's approvers can approve or deny it; nothing changed.",
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
            log.warning(
                "refusal not shown in Slack", sink=name, error=self._redactor.text(str(exc))
            )

    async def _verified(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, SlackConfig]:
        """The sink whose signing secret signed this request; refuses anything else."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        given = headers.get("x-slack-signature", "")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise Unauthenticated("missing or invalid Slack timestamp") from None
        if skew > MAX_SKEW_SECONDS:
            raise Unauthenticated("stale Slack request")
        for name, config in self._sinks().items():
            try:
                secret = await credential(
                    self._secrets, config.signing_secret, field="signingSecret"
                )
            except PunchingFistError:
                continue
            if hmac.compare_digest(signature(secret, timestamp, body), given):
                return name, config
        raise Unauthenticated("invalid Slack signature")

    async def _show_outcome(
        self,
        name: str,
        config: SlackConfig,
        payload: Mapping[str, Any],
        status: str,
        by: str,
        user_id: str | None,
    ) -> None:
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id")
        if not channel or not message.get("ts"):
            return
        who = f"<@{user_id}>" if user_id else by  # a mention when this click decided
        icon = {"approved": "✅", "denied": "⛔", "expired": "⌛"}.get(status, "•")
        waiting = status.startswith("approved (")  # more approvers needed: keep the buttons
        blocks = [b for b in message.get("blocks") or [] if waiting or b.get("type") != "actions"]
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{icon} {status} by {who}"}],
            }
        )
        try:
            client = await slack_client(config, self._secrets)
            await client.chat_update(
                channel=channel, ts=str(message["ts"]), text=f"{status} by {by}", blocks=blocks
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError) as exc:
            # The decision stands; only the message keeps its buttons.
            log.warning(
                "approval message not updated", sink=name, error=self._redactor.text(str(exc))
            )
