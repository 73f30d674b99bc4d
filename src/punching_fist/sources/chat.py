"""The ``chat`` source type: Slack's Events API and slash commands start a workflow.

Slack posts both to the app's Request URL, the Source's ``path`` (several chat Sources of one
Slack app may share it: a mention Source and a command Source, say). Nothing in a request is
believed before its signature is checked: HMAC-SHA256 with the signing secret over
``v0:<timestamp>:<body>`` (slack_sdk's ``SignatureVerifier``), and a timestamp more than five
minutes away refused, so a captured request cannot be replayed.

* ``url_verification``: the ``challenge`` is answered (Slack checks the URL this way).
* ``event_callback`` with an ``app_mention`` (``trigger: mention``; only in ``channel`` when
  set): a run with ``.source.data.message``. In a thread that is a conversation (the bot
  answered there, ``store.chat``) any reply, ``message`` events included, goes on with that
  conversation's Source. Slack retries an event it got no 200 for within three seconds
  (``X-Slack-Retry-Num``); the run's id derives from the message (channel and ``ts``, the same
  in a retry and in the ``app_mention`` and ``message`` events of one message;
  ``store.triggers``), so neither starts a second run, on any replica.
* a slash command (form-encoded, ``trigger: command``): acknowledged at once with a message
  only the caller sees; the run does the work and answers in the channel. Keyed by Slack's
  ``trigger_id``, unique per invocation.

The answer itself is the ChatbotAgent's (``sources/chatbot.py``), a step of the workflow.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk.signature import Clock, SignatureVerifier

from punching_fist.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    PunchingFistError,
    Unauthenticated,
    UnsupportedMediaType,
)
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import ChatConfig, ChatSourceSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.credentials import credential
from punching_fist.sources.schedule import Trigger

log = structlog.get_logger(__name__)

MAX_SKEW_SECONDS = 300
BODY_LIMIT = 256 * 1024
_MENTION = re.compile(r"<@[UW][A-Z0-9]+>\s*")


@dataclass(frozen=True, kw_only=True)
class ChatReply:
    """What Slack gets back: a status and a JSON body."""

    status: int
    body: dict[str, Any]
    outcome: str
    """For ``punchingfist_chat_requests``: started, duplicate, ignored, challenge."""


class _WallClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def message_of(source_context: Mapping[str, Any]) -> dict[str, Any] | None:
    """``.source.data.message`` of a run a chat Source started, else None."""
    if source_context.get("type") != "chat":
        return None
    data = source_context.get("data")
    message = data.get("message") if isinstance(data, Mapping) else None
    return dict(message) if isinstance(message, Mapping) else None


class ChatIntake:
    """Serves every chat Source's path: verify, parse, start the workflow, answer Slack."""

    def __init__(
        self,
        registry: ResourceRegistry,
        secrets: SecretResolver,
        trigger: Trigger,
        conversation: Callable[[str, str], Awaitable[str | None]],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``conversation(channel, thread_ts)``: the chat Source whose conversation the
        thread is (``store.chat.ChatStore.thread_source``), or None."""
        self._registry = registry
        self._secrets = secrets
        self._trigger = trigger
        self._conversation = conversation
        self._now = now

    def _sources(self, path: str) -> dict[str, ChatSourceSpec]:
        return {
            name: source.spec
            for name, source in self._registry.current().sources.items()
            if isinstance(source.spec, ChatSourceSpec) and source.spec.config.path == path
        }

    def serves(self, path: str) -> bool:
        return bool(self._sources(path))

    async def handle(self, path: str, body: bytes, headers: Mapping[str, str]) -> ChatReply:
        """One request from Slack (``headers`` lower-cased), not yet trusted."""
        sources = self._sources(path)
        if not sources:
            raise NotFound(f"no chat source serves {path!r}")
        await self._verify(sources, body, headers)
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media == "application/x-www-form-urlencoded":
            return await self._command(sources, body)
        if media != "application/json":
            raise UnsupportedMediaType(
                f"Content-Type {media!r} is not what Slack sends (JSON events, form commands)"
            )
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidRequest(f"the body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise InvalidRequest("the body is not a JSON object")
        kind = payload.get("type")
        if kind == "url_verification":
            challenge = str(payload.get("challenge", ""))
            return ChatReply(status=200, body={"challenge": challenge}, outcome="challenge")
        if kind != "event_callback":
            return ChatReply(status=200, body={"ok": True, "ignored": str(kind)}, outcome="ignored")
        retry = headers.get("x-slack-retry-num")
        return await self._event(sources, payload, retry)

    async def _verify(
        self, sources: Mapping[str, ChatSourceSpec], body: bytes, headers: Mapping[str, str]
    ) -> None:
        timestamp = headers.get("x-slack-request-timestamp", "")
        given = headers.get("x-slack-signature", "")
        try:
            skew = abs(self._now() - int(timestamp))
        except ValueError:
            raise Unauthenticated("missing or invalid X-Slack-Request-Timestamp") from None
        if skew > MAX_SKEW_SECONDS:
            raise Unauthenticated("stale Slack request (timestamp more than five minutes away)")
        secrets: set[str] = set()
        for name, spec in sources.items():
            secrets.add(await self._secret(name, spec.config))
        try:
            body.decode()  # Slack's bodies are UTF-8 (and the verifier decodes them)
        except UnicodeDecodeError:
            raise InvalidRequest("the body is not UTF-8") from None
        clock = _WallClock(self._now)
        if not any(
            SignatureVerifier(secret, clock).is_valid(body, timestamp, given) for secret in secrets
        ):
            raise Unauthenticated("invalid Slack signature")

    async def _secret(self, name: str, config: ChatConfig) -> str:
        try:
            return await credential(self._secrets, config.signing_secret, field="signingSecret")
        except PunchingFistError as exc:
            raise ConfigurationError(
                f"Source/{name} spec.config.signingSecret cannot be read: {exc}"
            ) from exc

    async def _event(
        self, sources: Mapping[str, ChatSourceSpec], payload: dict[str, Any], retry: str | None
    ) -> ChatReply:
        event = payload.get("event")
        if not isinstance(event, dict) or not payload.get("event_id"):
            raise InvalidRequest("an event_callback needs 'event' and 'event_id'")
        kind = event.get("type")
        channel = str(event.get("channel") or "")
        ts = str(event.get("ts") or "")
        thread_ts = str(event.get("thread_ts") or "") or None
        ignored = ChatReply(status=200, body={"ok": True, "runs": []}, outcome="ignored")
        if kind not in ("app_mention", "message") or event.get("bot_id") or event.get("subtype"):
            return ignored
        if not channel or not ts:
            raise InvalidRequest("a message event needs 'channel' and 'ts'")
        # A thread that is a conversation goes on with the Source it started with, whether
        # the reply mentions the bot or not; elsewhere only mentions start a conversation.
        conversation = None
        if thread_ts and thread_ts != ts:
            conversation = await self._conversation(channel, thread_ts)
        text = str(event.get("text") or "")
        if kind == "message" and (conversation is None or _mentions_bot(text, payload)):
            return ignored  # a mention comes as app_mention too: that one answers
        if conversation is not None:
            chosen = {conversation: sources[conversation]} if conversation in sources else {}
        else:
            chosen = {
                name: spec
                for name, spec in sources.items()
                if spec.config.trigger == "mention"
                and (not spec.config.channel or spec.config.channel == channel)
            }
        message = {
            "text": _MENTION.sub("", text).strip(),
            "user": str(event.get("user") or ""),
            "channel": channel,
            "threadTs": thread_ts or ts,
            "command": None,
        }
        started = []
        for name, spec in chosen.items():
            # Keyed by the message: Slack's retries of it, on any replica, start nothing.
            run_id = await self._start(name, spec, f"chat/{name}/message/{channel}/{ts}", message)
            if run_id is not None:
                started.append(str(run_id))
            else:
                log.info("Slack message seen before; no second run", source=name, retry=retry)
        outcome = "started" if started else "duplicate" if chosen else "ignored"
        return ChatReply(status=200, body={"ok": True, "runs": started}, outcome=outcome)

    async def _command(self, sources: Mapping[str, ChatSourceSpec], body: bytes) -> ChatReply:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("ssl_check") == "1":  # Slack checking the certificate of a command's URL
            return ChatReply(status=200, body={"ok": True}, outcome="challenge")
        command = form.get("command", "")
        trigger_id = form.get("trigger_id", "")
        if not command or not trigger_id:
            raise InvalidRequest("a slash command needs 'command' and 'trigger_id'")
        channel = form.get("channel_id", "")
        message = {
            "text": form.get("text", "").strip(),
            "user": form.get("user_id", ""),
            "channel": channel,
            "threadTs": None,
            "command": command,
        }
        for name, spec in sources.items():
            config = spec.config
            if config.trigger != "command" or config.command != command:
                continue
            if config.channel and config.channel != channel:
                return _ephemeral(f"{command} works in <#{config.channel}> only.", "ignored")
            key = f"chat/{name}/command/{trigger_id}"
            run_id = await self._start(name, spec, key, message)
            text = f"On it: {message['text'] or command}. I will answer here."
            return _ephemeral(text, "started" if run_id else "duplicate")
        return _ephemeral(f"No workflow answers {command} here.", "ignored")

    async def _start(
        self, name: str, spec: ChatSourceSpec, key: str, message: dict[str, Any]
    ) -> uuid.UUID | None:
        return await self._trigger(
            trigger_key=key,
            source_name=name,
            workflow_name=spec.trigger_workflow,
            source_context={
                "name": name,
                "type": "chat",
                "context": spec.context,
                "data": {"message": message},
            },
        )


def _ephemeral(text: str, outcome: str) -> ChatReply:
    body = {"response_type": "ephemeral", "text": text}
    return ChatReply(status=200, body=body, outcome=outcome)


def _mentions_bot(text: str, payload: Mapping[str, Any]) -> bool:
    """Whether the message mentions the app's bot user (any user when Slack does not say
    which one the bot is)."""
    bots = [
        str(a.get("user_id"))
        for a in payload.get("authorizations") or []
        if isinstance(a, Mapping) and a.get("is_bot")
    ]
    if not bots:
        return bool(_MENTION.search(text))
    return any(f"<@{bot}>" in text for bot in bots)
