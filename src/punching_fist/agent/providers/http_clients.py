"""The agent runtime's HTTP clients: each created on first use, all closed together.

Chat-completions providers (local, openai, together) send through an aiohttp session. It
costs about a third of the CPU per request that httpx2 does, and its pool finds an idle
connection in constant time, where httpcore2's walks every pooled connection (a ``poll``
each) on every request's start and end, which with 200 investigations in flight was a
third of the runtime's CPU. The SDK providers (anthropic, gemini) need an httpx2 client;
it is created only when one of them is built.

Both clients share one set of limits (``HttpSettings``) and honour the ``HTTP(S)_PROXY`` /
``NO_PROXY`` environment as httpx2 does. The aiohttp session does so once per URL
(``proxy_for``): its own ``trust_env`` would look the proxy and ``~/.netrc`` up in a
thread on every request, and send netrc credentials nobody configured.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import httpx2


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """Limits of the LLM clients; the step's ``timeoutMinutes`` bounds each request too."""

    connect_timeout: float = 10.0
    """Seconds to resolve, connect and finish TLS (and to wait for a free connection)."""
    read_timeout: float = 600.0
    """Seconds the server may stay silent: a model may think for minutes before it answers."""
    max_connections: int = 1000
    """Open connections at most, all hosts together; well above any step concurrency."""
    keepalive_seconds: float = 4.0
    """How long the aiohttp session keeps an idle connection: less than the 5 s of uvicorn
    and llama-server, so we close it before the server does rather than send on it as it
    closes. (The httpx2 client keeps its own 5 s.)"""

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None, connect=self.connect_timeout, sock_read=self.read_timeout
        )


class HttpClients:
    """An aiohttp session and an httpx2 client, each made when first asked for."""

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self._settings = settings or HttpSettings()
        self._session: aiohttp.ClientSession | None = None
        self._httpx: httpx2.AsyncClient | None = None

    @property
    def settings(self) -> HttpSettings:
        return self._settings

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session; call it inside the running event loop (aiohttp binds to it)."""
        if self._session is None or self._session.closed:
            settings = self._settings
            connector = aiohttp.TCPConnector(
                limit=settings.max_connections,
                limit_per_host=0,
                keepalive_timeout=settings.keepalive_seconds,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=settings.client_timeout(),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # see proxy_for
            )
        return self._session

    def httpx(self) -> httpx2.AsyncClient:
        """The httpx2 client the SDK-based providers send through."""
        if self._httpx is None:
            settings = self._settings
            self._httpx = httpx2.AsyncClient(
                timeout=httpx2.Timeout(settings.read_timeout, connect=settings.connect_timeout),
                limits=httpx2.Limits(
                    max_connections=settings.max_connections, max_keepalive_connections=200
                ),
            )
        return self._httpx

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (``None``: connect directly).

        Asked once per model (one per LLM choice), so the environment is read then, as
        httpx2 reads it when a client is created.
        """
        parts = urlsplit(url)
        proxies = urllib.request.getproxies()
        proxy = proxies.get(parts.scheme) or proxies.get("all")
        if not proxy or (parts.hostname and urllib.request.proxy_bypass(parts.hostname)):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    async def aclose(self) -> None:
        """Close both clients; asking for one again creates a new one."""
        session, self._session = self._session, None
        client, self._httpx = self._httpx, None
        try:
            if session is not None:
                await session.close()
        finally:
            if client is not None:
                await client.aclose()
