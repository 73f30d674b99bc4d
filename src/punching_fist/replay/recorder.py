"""Where a replay's sinks send: a local HTTP server that records and answers, never forwards.

Replay rewrites every HTTP sink's endpoint (Slack, Jira, PagerDuty, Alertmanager, the
Pushgateway) to ``http://127.0.0.1:<port>/<sink name>``, so each driver builds and sends
exactly the request it would send in production, through its own client (slack_sdk's
aiohttp, the sinks' httpx); this server keeps it and answers as the destination would
succeed. Sink credentials resolve to a placeholder: no real token is read, let alone sent.
Chained runs (``workflow`` sinks) are recorded, not started.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from punching_fist.secret_refs import SCHEMES, SecretResolver

PLACEHOLDER = "replay-placeholder-credential"


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request a sink made: to which sink, what it called, and the body it sent."""

    sink: str
    method: str
    path: str
    body: Any

    def as_json(self) -> dict[str, Any]:
        return {"sink": self.sink, "method": self.method, "path": self.path, "body": self.body}


# An answer each destination's driver takes as success: Slack's ok/channel/ts, Jira's
# issue key (and empty searches), PagerDuty's dedup key, Alertmanager's silence id.
_ANSWER = {
    "ok": True,
    "channel": "C0REPLAY",
    "ts": "1700000000.000100",
    "messages": [],
    "channels": [],
    "response_metadata": {"next_cursor": ""},
    "id": "10000",
    "key": "REPLAY-1",
    "issues": [],
    "comments": [],
    "total": 0,
    "status": "success",
    "message": "Event processed",
    "dedup_key": "replay",
    "silenceID": "replay",
}


class Recorder:
    """The recording HTTP server; ``start`` binds a free loopback port."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{sink}/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp keeps the bound socket here
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def endpoint(self, sink: str) -> str:
        return f"{self.url}/{sink}"

    async def _record(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any = raw.decode("utf-8", "replace")
        kind = request.content_type
        if kind == "application/json" and raw:
            body = json.loads(raw)
        elif kind == "application/x-www-form-urlencoded":
            body = dict(await request.post())
        self.requests.append(
            RecordedRequest(
                sink=request.match_info["sink"],
                method=request.method,
                path="/" + request.match_info["tail"],
                body=body,
            )
        )
        if request.method == "PUT" or request.method == "DELETE":
            return web.Response(status=200)
        return web.json_response(_ANSWER)


class _Placeholder:
    async def resolve(self, reference: str) -> str:
        return PLACEHOLDER


def placeholder_secrets() -> SecretResolver:
    """Every reference of every scheme resolves to ``PLACEHOLDER``."""
    return SecretResolver({scheme: _Placeholder() for scheme in SCHEMES})


@dataclass
class RecordingStarter:
    """A ``workflow`` sink's chained runs: noted, never started."""

    started: list[dict[str, Any]] = field(default_factory=list)

    async def lineage(self, run_id: uuid.UUID) -> list[str]:
        return []

    async def start(
        self, *, parent_run_id: uuid.UUID, workflow_name: str, source_context: dict[str, Any]
    ) -> tuple[uuid.UUID, bool]:
        self.started.append({"workflow": workflow_name, "parent_run_id": str(parent_run_id)})
        return uuid.uuid4(), True
