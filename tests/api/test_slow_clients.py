"""Slow clients are disconnected: ``punching-fist serve --read-timeout``, over real sockets.

A client has ``--read-timeout`` seconds from its request's first byte (from the connection
opening, for the first request) to the last byte of the body. The server here is the real
command (uvloop, httptools, the deadline protocol), with a one-second limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_auth import PIPELINE
from tests.support.process import ServerProcess

LIMIT = 1.0
SLACK = 1.0
"""How much later than the limit a close may come on a loaded two-core machine."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("slow-clients")
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "pipeline.yaml").write_text(PIPELINE)
    process = ServerProcess(
        resources=resources,
        database_url=f"sqlite+aiosqlite:///{workdir / 'pf.db'}",
        workdir=workdir,
        extra_args=["--read-timeout", str(LIMIT)],
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def _connect(server: ServerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def trickle(server: ServerProcess, data: bytes, *, first: bytes = b"") -> tuple[float, bytes]:
    """Send ``first`` at once, then ``data`` a byte every 0.2 s: how long until the server
    closed, and what it answered. Gives up (``inf``) after four times the limit."""
    started = time.monotonic()  # before connecting: the server counts from the connection
    reader, writer = await _connect(server)
    writer.write(first)
    try:
        for byte in data:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                chunk = await asyncio.wait_for(reader.read(4096), 0.2)
            except TimeoutError:
                if time.monotonic() - started > 4 * LIMIT:
                    break
                continue
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - started, b""
            answer = chunk + await reader.read() if chunk else b""
            return time.monotonic() - started, answer
    finally:
        writer.close()
    return float("inf"), b""


SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100


async def test_a_slow_loris_is_answered_408_and_closed_within_the_limit(
    server: ServerProcess,
) -> None:
    elapsed, answer = await trickle(server, SLOW_HEADERS)
    assert LIMIT * 0.9 <= elapsed <= LIMIT + SLACK
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"detail": "the request did not arrive within 1 s"' in answer


async def test_a_client_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    reader, writer = await _connect(server)
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), LIMIT + SLACK)
    assert time.monotonic() - started >= LIMIT * 0.9
    assert answer.startswith(b"HTTP/1.1 408 ")
    writer.close()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/hook", "application/json"),  # the webhook app reads its body itself
        ("/api/v1/approvals/00000000-0000-0000-0000-000000000001", "application/json"),
        ("/slack/interactions", "application/x-www-form-urlencoded"),  # reads it itself too
    ],
)
async def test_a_body_sent_too_slowly_is_cut_off(
    server: ServerProcess, path: str, content_type: str
) -> None:
    body = b'{"approved": true, "padding": "' + b"x" * 200 + b'"}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    elapsed, answer = await trickle(server, body[10:], first=head + body[:10])
    assert LIMIT * 0.9 <= elapsed <= LIMIT + SLACK
    assert answer == b""  # the application was reading: it sees the client go, and says nothing
    assert "Exception in ASGI application" not in server.stderr()


async def test_many_slow_clients_are_all_closed_while_a_normal_client_is_served(
    server: ServerProcess,
) -> None:
    attack = [asyncio.create_task(trickle(server, SLOW_HEADERS)) for _ in range(200)]
    await asyncio.sleep(0.3)  # every slow client connected and sending
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        started = time.monotonic()
        for _ in range(5):
            response = await client.get("/healthz")
            assert response.status_code == 200
        served_in = time.monotonic() - started
    results = await asyncio.gather(*attack)
    assert served_in < LIMIT
    assert max(elapsed for elapsed, _ in results) <= LIMIT + SLACK
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in results)


async def test_a_client_within_the_limit_is_served_on_a_kept_alive_connection(
    server: ServerProcess,
) -> None:
    reader, writer = await _connect(server)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        for _ in range(3):  # each request gets the whole limit again
            for part in (request[:10], request[10:20], request[20:]):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(LIMIT / 5)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(2) == b"ok"
    finally:
        writer.close()


def test_the_timeout_is_an_option_of_serve(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from punching_fist.cli import app

    result = CliRunner().invoke(app, ["serve", "--read-timeout", "0", "-r", str(tmp_path)])
    assert result.exit_code == 2
    assert "--read-timeout" in result.output
