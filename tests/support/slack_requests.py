"""What Slack sends an app: Events API callbacks and slash commands, signed as Slack signs.

Slack signs each request with the app's signing secret: ``X-Slack-Signature`` is ``v0=`` and
the HMAC-SHA256 of ``v0:<X-Slack-Request-Timestamp>:<body>``. Events are JSON; slash commands
are form-encoded. A retry carries ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason`` and the
same body (so the same ``event_id``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

APP_ID = "A0PUNCH01"
TEAM_ID = "T0TEAM001"
BOT_USER = "U0PFBOT01"


class SlackRequests:
    """Builds signed requests; ``now`` is the clock the timestamp is read from."""

    def __init__(self, signing_secret: str, *, now: Callable[[], float] = time.time) -> None:
        self.signing_secret = signing_secret
        self._now = now
        self._ids = itertools.count(1)

    def headers(
        self, body: bytes, content_type: str, *, age: int = 0, secret: str | None = None
    ) -> dict[str, str]:
        timestamp = str(int(self._now()) - age)
        base = b"v0:" + timestamp.encode() + b":" + body  # over the bytes, as Slack signs
        key = (secret or self.signing_secret).encode()
        signature = "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }

    def url_verification(self, challenge: str) -> bytes:
        return json.dumps(
            {"token": "deprecated", "challenge": challenge, "type": "url_verification"}
        ).encode()

    def mention(
        self,
        text: str,
        *,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> bytes:
        """An ``app_mention`` event callback (``text`` without the bot's mention)."""
        return self.event(
            "app_mention", f"<@{BOT_USER}> {text}", channel, user, ts, thread_ts, event_id
        )

    def message(
        self,
        text: str,
        *,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> bytes:
        """A ``message`` event (``message.channels``): every message, mentions included."""
        return self.event("message", text, channel, user, ts, thread_ts, event_id)

    def event(
        self,
        kind: str,
        text: str,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None,
        event_id: str | None,
    ) -> bytes:
        event: dict[str, Any] = {
            "type": kind,
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
        if kind == "message":
            event["channel_type"] = "channel"
        if thread_ts:
            event["thread_ts"] = thread_ts
        return json.dumps(
            {
                "token": "deprecated",
                "team_id": TEAM_ID,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(self._ids):08d}",
                "event_time": int(self._now()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True}],
            }
        ).encode()

    def command(self, command: str, text: str, *, channel: str, user: str) -> bytes:
        """A slash command as Slack posts it (form-encoded)."""
        number = next(self._ids)
        return urllib.parse.urlencode(
            {
                "token": "deprecated",
                "team_id": TEAM_ID,
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": APP_ID,
                "response_url": f"https://hooks.slack.invalid/commands/{number}",
                "trigger_id": f"{number}.1234.abcdef{number:04d}",
            }
        ).encode()
