"""The ``slack`` sink: ``chat.postMessage`` through slack_sdk's ``AsyncWebClient``.

Idempotency, since Slack has no idempotency key:

- every message carries Slack message ``metadata`` naming the delivery
  (``event_type: punchingfist_delivery``, ``idempotency_key``). When an attempt follows one
  whose outcome is unknown (``attempt > 1``: a timeout, a crash after the request left), the
  channel (or thread) is read back with ``include_all_metadata`` and a message already there
  is adopted instead of posting a second one;
- the message ``ts`` is stored: re-sending a delivered result (the manual retry endpoint)
  edits that message with ``chat.update``;
- with ``messageType: thread`` the first message about an alert or incident is stored as the
  thread root and every later result about it (the resolution, a chained escalation) replies
  in that thread. Results about an incident thread whatever ``messageType`` says: one thread
  per incident, its first run's message the parent (the engine claims that first message,
  ``engine/delivery/first_message.py``, so alerts arriving together do not open several).

Rate limits: a 429 becomes ``TemporaryFailure(delay=Retry-After)``; slack_sdk's own retry
handlers are switched off so the engine's ``RetryPolicy`` is the only place retries happen.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from punching_fist.engine.status import DeliveryStatus
from punching_fist.errors import DeliveryFailed, TemporaryFailure
from punching_fist.resources.sink import SlackConfig
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport
from punching_fist.sinks.credentials import credential
from punching_fist.sinks.http import retry_after
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.slack_blocks import SlackMessage, build_message
from punching_fist.sinks.summary import summarize
from punching_fist.templating import render

EVENT_TYPE = "punchingfist_delivery"
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")


class _Redacting(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.text(record.getMessage())
        record.args = None
        return True


def sdk_logger(redactor: Redactor) -> logging.Logger:
    """A logger for one client: INFO and up, redacted, then on to ``punching_fist.sinks.slack``.

    slack_sdk logs whole request and response bodies at DEBUG, and an error body can echo
    a token back; this logger is not registered globally (one per delivery would pile up)
    and never takes DEBUG, and what it does pass on is redacted first.
    """
    logger = logging.Logger("punching_fist.sinks.slack.sdk", level=logging.INFO)
    logger.parent = logging.getLogger("punching_fist.sinks.slack")
    logger.addFilter(_Redacting(redactor))
    return logger


async def slack_client(config: SlackConfig, secrets: SecretResolver) -> AsyncWebClient:
    """A Web API client for one sink: its token and endpoint, no SDK retries, redacted logs."""
    token = await credential(secrets, config.bot_token, field="botToken")
    return AsyncWebClient(
        token=token,
        base_url=config.endpoint.rstrip("/") + "/",
        retry_handlers=[],
        logger=sdk_logger(Redactor(secrets)),
    )


class SlackSink:
    def __init__(
        self,
        config: SlackConfig,
        *,
        secrets: SecretResolver,
        run_url: Callable[[uuid.UUID], str | None],
    ) -> None:
        self._config = config
        self._secrets = secrets
        self._run_url = run_url

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        client = await slack_client(self._config, self._secrets)
        message = self._message(delivery)
        try:
            return await self._send(client, delivery, message)
        except SlackApiError as exc:
            raise slack_failure(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryFailure(f"slack: {type(exc).__name__}: {exc}", delay=0.0) from exc

    def _message(self, delivery: Delivery) -> SlackMessage:
        context = delivery.context
        rendered = render(self._config.template, context) if self._config.template else None
        run_url = (
            render(self._config.run_url, context)
            if self._config.run_url
            else self._run_url(delivery.run_id)
        )
        return build_message(
            summarize(context),
            rendered=rendered,
            mention_users=self._config.mention_users,
            run_url=run_url or None,
            # Only the approvers' clicks count, so only sinks that have approvers ask.
            feedback_for=str(delivery.run_id) if self._config.approvals else None,
        )

    async def _send(
        self, client: AsyncWebClient, delivery: Delivery, message: SlackMessage
    ) -> DeliveryReport:
        previous = delivery.previous
        if delivery.delivered_ref and previous is not None and previous.data.get("channel"):
            return await self._update(client, delivery, message, previous)
        thread_ts: str | None = None
        channel = self._config.channel
        # An incident always gets one thread: its first message is the parent (issue 15).
        threaded = self._config.message_type == "thread" or delivery.correlation_key.startswith(
            "incident:"
        )
        if threaded and previous is not None:
            thread_ts = str(previous.data.get("thread_ts") or previous.external_ref)
            channel = str(previous.data.get("channel") or channel)
        if delivery.attempt > 1:
            found = await self._already_posted(client, delivery, channel, thread_ts)
            if found is not None:
                return self._report(delivery, found, thread_ts, adopted=True)
        response = await client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            link_names=message.mentions,
            unfurl_links=False,
            metadata={
                "event_type": EVENT_TYPE,
                "event_payload": {
                    "idempotency_key": delivery.idempotency_key,
                    "run_id": str(delivery.run_id),
                },
            },
        )
        posted = {"channel": str(response["channel"]), "ts": str(response["ts"])}
        return self._report(delivery, posted, thread_ts, adopted=False)

    async def _update(
        self,
        client: AsyncWebClient,
        delivery: Delivery,
        message: SlackMessage,
        previous: Correlation,
    ) -> DeliveryReport:
        assert delivery.delivered_ref is not None
        response = await client.chat_update(
            channel=str(previous.data["channel"]),
            ts=delivery.delivered_ref,
            text=message.text,
            blocks=message.blocks,
        )
        posted = {"channel": str(response["channel"]), "ts": str(response["ts"])}
        thread_ts = previous.data.get("thread_ts")
        report = self._report(
            delivery, posted, str(thread_ts) if thread_ts else None, adopted=False
        )
        return DeliveryReport(
            status=report.status,
            response={**report.response, "updated": True},
            external_ref=report.external_ref,
            remember=report.remember,
        )

    def _report(
        self,
        delivery: Delivery,
        posted: Mapping[str, str],
        thread_ts: str | None,
        *,
        adopted: bool,
    ) -> DeliveryReport:
        root = thread_ts or posted["ts"]
        remember = Correlation(
            external_ref=root, data={"channel": posted["channel"], "thread_ts": root}
        )
        response: dict[str, Any] = {"channel": posted["channel"], "ts": posted["ts"]}
        if thread_ts:
            response["thread_ts"] = thread_ts
        if adopted:
            response["adopted"] = True  # found from an earlier attempt, not posted again
        return DeliveryReport(
            status=DeliveryStatus.DELIVERED,
            response=response,
            external_ref=posted["ts"],
            remember=remember,
        )

    async def _already_posted(
        self,
        client: AsyncWebClient,
        delivery: Delivery,
        channel: str,
        thread_ts: str | None,
    ) -> dict[str, str] | None:
        """The message an earlier attempt of this delivery posted, if Slack has it."""
        channel_id = await self._channel_id(client, channel)
        if channel_id is None:
            return None
        if thread_ts:
            page = await client.conversations_replies(
                channel=channel_id, ts=thread_ts, include_all_metadata=True, limit=200
            )
        else:
            page = await client.conversations_history(
                channel=channel_id, include_all_metadata=True, limit=200
            )
        for item in page.get("messages") or []:
            metadata = item.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and payload.get("idempotency_key") == delivery.idempotency_key
            ):
                return {"channel": channel_id, "ts": str(item["ts"])}
        return None

    async def _channel_id(self, client: AsyncWebClient, channel: str) -> str | None:
        """Reading history needs the channel's ID; ``#name`` is looked up in the channel list."""
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.lstrip("#")
        cursor: str | None = None
        for _ in range(20):  # 20 pages of 1000: a bounded search, not a crawl
            page = await client.conversations_list(
                exclude_archived=True,
                limit=1000,
                types="public_channel,private_channel",
                cursor=cursor,
            )
            for item in page.get("channels") or []:
                if item.get("name") == name:
                    return str(item["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                break
        return None


def slack_failure(exc: SlackApiError) -> Exception:
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or "")
    status = int(response.status_code)
    message = f"slack answered {status}" + (f": {error}" if error else "")
    if status == 429 or error == "ratelimited":
        headers = response.headers or {}
        return TemporaryFailure(message, delay=retry_after(headers) or 1.0)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return TemporaryFailure(message, delay=0.0)
    return DeliveryFailed(message)
