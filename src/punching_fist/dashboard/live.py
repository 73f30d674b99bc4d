"""Live pages: a server-sent event stream of an HTML fragment, sent whenever it changes.

The page renders the fragment once; ``static/app.js`` opens an ``EventSource`` on the
stream and swaps the fragment in, so a running investigation updates without a reload and
without the browser rendering untrusted text itself (the server escaped it). A stream ends
after ``LIFETIME`` seconds and the browser reconnects, so a shutdown never waits on one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse

INTERVAL = 1.0
"""Seconds between looks at the database."""
LIFETIME = 120.0


def version(html: str) -> str:
    """A fragment's identity: the page carries it, so the stream's first event, the same
    HTML the page was rendered with, is not swapped in again (which would also throw away
    what the user was doing with it)."""
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def event(html: str, name: str = "update") -> str:
    """One SSE message; every line of the fragment is its own ``data:`` line."""
    data = "".join(f"data: {line}\n" for line in html.split("\n"))
    return f"event: {name}\nid: {version(html)}\n{data}\n"


def fragment_stream(
    render: Callable[[], Awaitable[str]], *, interval: float = INTERVAL
) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIFETIME
        last: str | None = None
        while loop.time() < deadline:
            html = await render()
            if html != last:
                last = html
                yield event(html)
            else:
                yield ": idle\n\n"  # finds a client that went away
            await asyncio.sleep(interval)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
