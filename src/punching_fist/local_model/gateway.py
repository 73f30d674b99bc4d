"""A loopback gateway in front of llama-server: one stable URL, slots enforced, restarts hidden.

The agent runtime builds its pydantic-ai model once per LLM choice, with a fixed base URL,
and sends requests through its own HTTP client. So it can neither follow llama-server to a
new port after a restart nor hold one of the server's slots around each request. The
gateway does both: it listens on a port that stays the same while it runs, and forwards
each request to the supervised server while holding a slot
(:meth:`LlamaServerSupervisor.slot`), which also starts the server on the first request.

Requests beyond the slots wait here, where the caller's timeout can reach them: a client
that gives up disconnects, which cancels its handler (``handler_cancellation``) and closes
the upstream connection, so llama-server stops generating for nobody.

Failures become OpenAI-style error responses, which the SDK reports and the runtime's retry
policy retries: 503 when the server cannot be started, 502 when it died mid-request.

HTTP stacks: requests to llama-server go out through httpx, the project's HTTP client. The
listening side is aiohttp's server, not uvicorn and Starlette (the API's stack), for what it
does here: ``handler_cancellation`` cancels a handler when its client disconnects, even one
still waiting for a slot, which is how an abandoned request frees its place in the queue and
stops llama-server's generation; uvicorn leaves the handler running. And an ``AppRunner``
serves a socket on the running loop without touching the process's signal handlers, where
``uvicorn.Server.serve`` takes SIGINT and SIGTERM from the server that hosts it. aiohttp is
installed regardless (the chat-completions client, kopf, slack_sdk).
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import structlog
from aiohttp import web
from multidict import CIMultiDict

from punching_fist.local_model.errors import ModelNotInstalled, ServerFailed
from punching_fist.local_model.server import LlamaServerSupervisor

log = structlog.get_logger(__name__)

# Per-connection headers (RFC 9110 §7.6.1) and the ones the HTTP libraries compute themselves.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class LlamaGateway:
    """Serves ``http://127.0.0.1:PORT/v1/...`` by forwarding to the supervised llama-server."""

    def __init__(self, supervisor: LlamaServerSupervisor, *, host: str = "127.0.0.1") -> None:
        self._supervisor = supervisor
        self._host = host
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._client: httpx.AsyncClient | None = None
        self._url: str | None = None

    @property
    def url(self) -> str | None:
        """The base URL while the gateway listens."""
        return self._url

    async def start(self) -> str:
        """Listen (once) and return the OpenAI-compatible base URL; starts no llama-server."""
        async with self._lock:
            if self._url is None:
                app = web.Application()
                app.router.add_route("*", "/{tail:.*}", self._forward)
                runner = web.AppRunner(
                    app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
                )
                await runner.setup()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((self._host, 0))
                port = int(sock.getsockname()[1])
                await web.SockSite(runner, sock).start()
                # No read timeout: generation may take minutes; the caller's timeout rules.
                # Loopback only, so no proxy from the environment.
                self._client = httpx.AsyncClient(
                    timeout=httpx.Timeout(None, connect=10.0), trust_env=False
                )
                self._runner = runner
                self._url = f"http://{self._host}:{port}/v1"
                log.info("local model gateway listening", url=self._url)
            return self._url

    async def aclose(self) -> None:
        """Stop listening; in-flight requests are cancelled. The supervisor is the caller's."""
        async with self._lock:
            runner, self._runner = self._runner, None
            client, self._client = self._client, None
            self._url = None
        if runner is not None:
            await runner.cleanup()
        if client is not None:
            await client.aclose()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        try:
            async with self._supervisor.slot() as base:
                upstream_url = base.removesuffix("/v1") + str(request.rel_url)
                return await self._relay(request, upstream_url, headers, body)
        except (ModelNotInstalled, ServerFailed) as exc:
            log.warning("local model unavailable", error=str(exc))
            return _error(503, f"the bundled local model is unavailable: {exc}")

    async def _relay(
        self, request: web.Request, url: str, headers: dict[str, str], body: bytes
    ) -> web.StreamResponse:
        client = self._client
        if client is None:
            return _error(503, "the local model gateway is closed")
        response: web.StreamResponse | None = None
        upstream_request = client.build_request(
            request.method, url, headers=headers, content=body or None
        )
        try:
            upstream = await client.send(upstream_request, stream=True)
            try:
                response = web.StreamResponse(
                    status=upstream.status_code,
                    reason=upstream.reason_phrase,
                    headers=CIMultiDict(
                        (k, v)
                        for k, v in upstream.headers.multi_items()
                        if k.lower() not in _NOT_FORWARDED
                    ),
                )
                await response.prepare(request)
                # As sent: a compressed body stays compressed, with its Content-Encoding.
                async for chunk in upstream.aiter_raw():
                    await response.write(chunk)
                await response.write_eof()
                return response
            finally:
                # Closes the connection unless the body was read to its end, so a cancelled
                # handler (the client gave up) stops llama-server's generation.
                await upstream.aclose()
        except httpx.HTTPError as exc:
            if response is not None:
                raise  # the status line is sent; dropping the connection tells the client
            log.warning("llama-server request failed", error=str(exc))
            return _error(502, f"llama-server did not answer: {type(exc).__name__}: {exc}")


def _error(status: int, message: str) -> web.Response:
    """An error body in OpenAI's shape, so the SDK shows ``message`` in its exception."""
    return web.json_response(
        {"error": {"message": message, "type": "server_error", "code": status}}, status=status
    )
