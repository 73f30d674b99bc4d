"""``HttpClients.proxy_for`` against the proxy an httpx2 client itself routes a URL through.

The aiohttp session of the chat-completions providers is told its proxy by ``proxy_for``,
which reads the environment with httpx2's private helpers, so that it and the SDK providers'
httpx2 client agree on ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``. Each case here asks
a real ``httpx2.AsyncClient`` which transport it would send the URL through.
"""

from __future__ import annotations

import httpx2
import pytest

from punching_fist.agent.providers.http_clients import HttpClients

URLS = [
    "https://api.openai.com/v1",
    "http://localhost:8080/v1",
    "http://127.0.0.1:8080/v1",
    "http://[::1]:8080/v1",
    "http://llm.example.com/v1",
    "http://LLM.Example.com/v1",
    "http://example.com/v1",
    "http://example.com:8443/v1",
    "http://wwwexample.com/v1",
    "http://10.1.2.3:11434/v1",
    "http://ollama.ai.svc.cluster.local:11434/v1",
]
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "none": {},
    "http and https": {"HTTP_PROXY": "http://proxy.local:3128", "HTTPS_PROXY": "proxy.local:3129"},
    "all": {"ALL_PROXY": "http://proxy.local:3128"},
    **{
        f"no_proxy {no_proxy}": {
            "HTTP_PROXY": "http://proxy.local:3128",
            "HTTPS_PROXY": "http://proxy.local:3129",
            "NO_PROXY": no_proxy,
        }
        for no_proxy in [
            "localhost",
            "example.com",
            ".example.com",
            "*.example.com",
            "example.com:8443",
            "10.0.0.0/8",
            "127.0.0.1,::1",
            ".svc,.cluster.local",
            "http://example.com",
            "*",
        ]
    },
}


def _environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for scheme in ("http", "https", "all", "no"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


async def _httpx2_proxy(url: str) -> tuple[bytes, bytes, int | None] | None:
    """(scheme, host, port) of the proxy an httpx2 client sends ``url`` through, if any."""
    async with httpx2.AsyncClient(trust_env=True) as client:
        transport = client._transport_for_url(httpx2.URL(url))
        if transport is client._transport:
            return None
        assert isinstance(transport, httpx2.AsyncHTTPTransport)
        proxy = transport._pool._proxy_url  # type: ignore[attr-defined]
        return proxy.scheme, proxy.host, proxy.port


@pytest.mark.parametrize("variables", list(ENVIRONMENTS.values()), ids=list(ENVIRONMENTS))
async def test_the_proxy_is_the_one_httpx2_routes_through(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    _environment(monkeypatch, variables)
    http = HttpClients()
    ours: dict[str, tuple[bytes, bytes, int | None] | None] = {}
    theirs: dict[str, tuple[bytes, bytes, int | None] | None] = {}
    for url in URLS:
        proxy = http.proxy_for(url)
        parsed = None if proxy is None else httpx2.URL(proxy)
        ours[url] = None if parsed is None else (parsed.raw_scheme, parsed.raw_host, parsed.port)
        theirs[url] = await _httpx2_proxy(url)
    assert ours == theirs
