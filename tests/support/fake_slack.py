"""A fake Slack Web API speaking the real request and response formats.

Implemented methods: ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``conversations.history``, ``conversations.replies``, ``conversations.list`` and
``usergroups.users.list`` (groups in ``usergroups``, ``no_such_subteam`` for others). As Slack does, it answers HTTP 200
with ``{"ok": false, "error": "..."}`` for API errors (``not_authed``, ``invalid_auth``,
``channel_not_found``, ``thread_not_found``, ``message_not_found``, ``invalid_blocks``),
and HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}`` when rate
limited (``rate_limit_next``). History methods need channel IDs, as Slack's do. Every call
is recorded (``calls``); ``user_message`` adds a person's message (what a mention is about).
What Slack sends an app (signed events and commands) is ``tests/support/slack_requests.py``.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import FakeHTTPService, FakeRequest, FakeResponse

HEADER_TEXT_LIMIT = 150


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    metadata: dict[str, Any] | None
    edits: int = 0
    replies: list[str] = field(default_factory=list)
    author: str | None = None
    """A person's user id (``user_message``); None for what the bot posted."""

    def wire(self, *, with_metadata: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": "UBOT00001",
            "bot_id": "BPF000001",
            "text": self.text,
            "ts": self.ts,
            "blocks": self.blocks,
        }
        if self.author is not None:  # a person's message carries no bot_id
            body["user"] = self.author
            del body["bot_id"]
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.replies:
            body["reply_count"] = len(self.replies)
        if with_metadata and self.metadata:
            body["metadata"] = self.metadata
        return body


class FakeSlack(FakeHTTPService):
    def __init__(self, *, token: str, channels: dict[str, str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.channels = channels or {"C0OPS0001": "ops-alerts"}  # id -> name
        self.messages: list[SlackMessage] = []
        self.ephemeral: list[dict[str, Any]] = []
        """``chat.postEphemeral`` calls: channel, user, text."""
        self.usergroups: dict[str, list[str]] = {}
        """User-group id -> member user ids."""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every Web API call answered, in order: (method, parameters)."""
        self._ts = itertools.count(1)
        self._state = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def rate_limit_next(self, count: int, retry_after: int) -> None:
        self.fail_next(
            count,
            429,
            {"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
            path="/api/chat.postMessage",
        )

    def posted(self) -> list[SlackMessage]:
        return list(self.messages)

    # --- the API ------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        auth = request.headers.get("authorization")
        if not auth:
            return _error("not_authed")
        if auth != f"Bearer {self.token}":
            return _error("invalid_auth")
        method = request.path.removeprefix("/api/")
        handlers = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "chat.postEphemeral": self._ephemeral,
            "usergroups.users.list": self._group_members,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.list": self._list,
        }
        handler = handlers.get(method)
        if handler is None:
            return FakeResponse(404, {"ok": False, "error": "unknown_method"})
        with self._state:
            params = request.params()
            self.calls.append((method, dict(params)))
            return handler(params)

    def user_message(
        self, channel: str, text: str, *, thread_ts: str | None = None, user: str = "U0CAROL01"
    ) -> str:
        """A person's message in a channel (what a mention event is about); its ``ts``."""
        with self._state:
            message = SlackMessage(
                channel=channel,
                ts=f"1764064800.{next(self._ts):06d}",
                text=text,
                blocks=[],
                thread_ts=thread_ts,
                metadata=None,
                author=user,
            )
            self.messages.append(message)
            if thread_ts:
                parent = self._find(channel, thread_ts)
                assert parent is not None, "a reply needs its thread"
                parent.replies.append(message.ts)
            return message.ts

    def thread(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        """A thread's replies, oldest first (not its parent)."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts == thread_ts]

    def _channel(self, value: str | None, *, ids_only: bool = False) -> str | None:
        if not value:
            return None
        if value in self.channels:
            return value
        if ids_only:
            return None
        name = value.lstrip("#")
        return next((cid for cid, n in self.channels.items() if n == name), None)

    def _post(self, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        blocks = _decoded(params.get("blocks")) or []
        problem = _check_blocks(blocks)
        if problem:
            return _error("invalid_blocks", errors=[problem])
        if not params.get("text") and not blocks:
            return _error("no_text")
        thread_ts = params.get("thread_ts") or None
        if thread_ts and not self._find(channel, thread_ts):
            return _error("thread_not_found")
        message = SlackMessage(
            channel=channel,
            ts=f"1764064800.{next(self._ts):06d}",
            text=str(params.get("text") or ""),
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=_decoded(params.get("metadata")),
        )
        self.messages.append(message)
        if thread_ts:
            parent = self._find(channel, thread_ts)
            assert parent is not None
            parent.replies.append(message.ts)
        return FakeResponse(
            200,
            {
                "ok": True,
                "channel": channel,
                "ts": message.ts,
                "message": message.wire(with_metadata=False),
            },
        )

    def _update(self, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        message = self._find(channel, str(params.get("ts")))
        if message is None:
            return _error("message_not_found")
        message.text = str(params.get("text") or message.text)
        message.blocks = _decoded(params.get("blocks")) or message.blocks
        message.edits += 1
        return FakeResponse(
            200, {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}
        )

    def _ephemeral(self, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_in_channel")
        self.ephemeral.append(
            {"channel": channel, "user": params["user"], "text": str(params.get("text") or "")}
        )
        return FakeResponse(200, {"ok": True, "message_ts": f"1764064800.{next(self._ts):06d}"})

    def _group_members(self, params: dict[str, Any]) -> FakeResponse:
        members = self.usergroups.get(str(params.get("usergroup")))
        if members is None:
            return _error("no_such_subteam")
        return FakeResponse(200, {"ok": True, "users": list(members)})

    def _history(self, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(params.get("channel"), ids_only=True)
        if channel is None:
            return _error("channel_not_found")
        with_metadata = _flag(params.get("include_all_metadata"))
        top = [m for m in self.messages if m.channel == channel and not m.thread_ts]
        top.sort(key=lambda m: m.ts, reverse=True)
        limit = int(params.get("limit") or 100)
        return FakeResponse(
            200,
            {
                "ok": True,
                "messages": [m.wire(with_metadata=with_metadata) for m in top[:limit]],
                "has_more": len(top) > limit,
            },
        )

    def _replies(self, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(params.get("channel"), ids_only=True)
        if channel is None:
            return _error("channel_not_found")
        parent = self._find(channel, str(params.get("ts")))
        if parent is None:
            return _error("thread_not_found")
        with_metadata = _flag(params.get("include_all_metadata"))
        thread = [parent, *(m for m in self.messages if m.thread_ts == parent.ts)]
        return FakeResponse(
            200,
            {
                "ok": True,
                "messages": [m.wire(with_metadata=with_metadata) for m in thread],
                "has_more": False,
            },
        )

    def _list(self, params: dict[str, Any]) -> FakeResponse:
        channels = [{"id": cid, "name": name} for cid, name in self.channels.items()]
        return FakeResponse(
            200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}
        )

    def _find(self, channel: str, ts: str) -> SlackMessage | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)


def _error(error: str, **extra: Any) -> FakeResponse:
    return FakeResponse(200, {"ok": False, "error": error, **extra})


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _check_blocks(blocks: list[dict[str, Any]]) -> str | None:
    """The block rules Slack enforces that our layout could break."""
    if len(blocks) > 50:
        return "no more than 50 items allowed [json-pointer:/blocks]"
    for index, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "header" and len(text) > HEADER_TEXT_LIMIT:
            return f"must be less than 151 characters [json-pointer:/blocks/{index}/text]"
        if block.get("type") == "section" and not 0 < len(text) <= 3000:
            return f"must be between 1 and 3000 characters [json-pointer:/blocks/{index}/text]"
    return None
