"""The agent runtime's HTTP clients: each created on first use, all closed together.

The project's HTTP client is httpx (sinks, tools, the API client, the operator). LLM
requests are the exception, on two other stacks, each for a reason:

* Chat-completions providers (local, openai, together) send through an aiohttp session. It
  costs about a third of the CPU per request that httpx2 does, and its pool finds an idle
  connection in constant time, where httpcore2's walks every pooled connection (a ``poll``
  each) on every request's start and end, which with 200 investigations in flight was a
  third of the runtime's CPU: the measured target of 200 concurrent investigations within
  1.5x of one (docs/benchmarks.md, ``bench/agent_overhead.py``) is met only this way.
* The SDK providers (anthropic, gemini) need an httpx2 client: pydantic-ai and the SDKs are
  built on httpx2 and accept no other. It is created only when one of them is built.

Both clients share one set of limits (``HttpSettings``) and honour the ``HTTP(S)_PROXY`` /
``NO_PROXY`` environment by httpx2's rules. The aiohttp session does so once per URL
(``proxy_for``): its own ``trust_env`` would look the proxy and ``~/.netrc`` up in a
thread on every request, send netrc credentials nobody configured, and read ``NO_PROXY``
differently (no CIDR ranges, no ``*.domain``).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import httpx2

# httpx2's own reading of the proxy environment, so both clients pick the same proxy. These
# are private: pyproject.toml pins httpx2's minor version and tests/drift checks them.
from httpx2._utils import URLPattern, get_environment_proxies


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
        """The proxy the environment names for ``url`` (``None``: connect directly), as an
        httpx2 client created now would choose it.

        Asked once per model (one per LLM choice), so the environment is read then, as
        httpx2 reads it when a client is created.
        """
        target = httpx2.URL(url)
        mounts = [(URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()]
        for pattern, proxy in sorted(mounts, key=lambda mount: mount[0]):
            if pattern.matches(target):
                return proxy
        return None

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
