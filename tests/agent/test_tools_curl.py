"""The curl tool: what its allow-list lets through, and real requests to a local HTTP server."""

from __future__ import annotations

import time

import pytest

from punching_fist.agent.tools.curl import CurlArguments, CurlTool
from punching_fist.errors import CommandRejected, ConfigurationError
from punching_fist.secret_refs import SecretResolver
from tests.support.tools_helpers import context
from tests.support.tools_http import Handler, Route, http_stub

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def curl(*allowed: str) -> CurlTool:
    return CurlTool(allowed_hosts=list(allowed), secrets=SecretResolver())


def verdict(tool: CurlTool, url: str, method: str = "GET") -> str:
    return tool.check(CurlArguments(url=url, method=method), context()).verdict


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://api.shop.svc/healthz", "allow"),
        ("https://API.Shop.SVC./healthz", "allow"),  # case and trailing dot
        ("http://a.b.metrics.shop.svc:9100/metrics", "allow"),  # *.metrics.shop.svc
        ("http://metrics.shop.svc:9100/", "refuse"),  # the wildcard's bare suffix
        ("http://evilmetrics.shop.svc:9100/", "refuse"),
        ("http://db.shop.svc:5432/", "allow"),  # host:port entry
        ("http://db.shop.svc:8080/", "refuse"),
        ("http://db.shop.svc/", "refuse"),  # port 80 is not 5432
        ("http://api.shop.svc@169.254.169.254/latest/meta-data", "refuse"),  # userinfo trick
        ("http://169.254.169.254/latest/meta-data", "refuse"),
        ("http://api.shop.svc.evil.com/", "refuse"),
        ("ftp://api.shop.svc/x", "refuse"),
        ("file:///etc/passwd", "refuse"),
        ("api.shop.svc/healthz", "refuse"),  # no scheme
        ("http:///nohost", "refuse"),
    ],
)
def test_allow_list(url: str, expected: str) -> None:
    tool = curl("api.shop.svc", "*.metrics.shop.svc", "db.shop.svc:5432")
    assert verdict(tool, url) == expected


def test_refusals_say_how_to_fix_them() -> None:
    tool = curl("api.shop.svc")
    post = tool.check(CurlArguments(url="http://api.shop.svc/", method="POST"), context())
    assert post.verdict == "refuse"
    assert "use GET or HEAD" in post.reason
    other = tool.check(CurlArguments(url="http://other.svc/"), context())
    assert "other.svc:80 is not on the allow-list (api.shop.svc)" in other.reason
    empty = curl().check(CurlArguments(url="http://api.shop.svc/"), context())
    assert empty.verdict == "refuse"
    assert "allowedHosts" in empty.reason
    assert verdict(tool, "http://api.shop.svc/", "head") == "allow"
    assert verdict(tool, "http://api.shop.svc/", "DELETE") == "refuse"


@pytest.mark.parametrize("entry", ["http://api.shop.svc/", "api.shop.svc/path", "*", "a:b:c"])
def test_malformed_allow_list_entry_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allowedHosts entry"):
        curl(entry)


async def test_get_shows_status_chosen_headers_and_body() -> None:
    headers = {**TEXT, "Set-Cookie": "session=abc", "Retry-After": "5"}
    routes: dict[str, Route] = {"/healthz": (503, headers, b"db connection pool exhausted\n")}
    with http_stub(routes) as stub:
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/healthz"), context())
    lines = output.text.splitlines()
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "content-type: text/plain; charset=utf-8" in lines
    assert "retry-after: 5" in lines
    assert "session=abc" not in output.text
    assert lines[-1] == "db connection pool exhausted"
    assert output.details["status"] == 503


async def test_head_sends_head_and_shows_no_body() -> None:
    with http_stub({"/": (200, TEXT, b"hello")}) as stub:
        output = await curl("127.0.0.1").call(
            CurlArguments(url=f"{stub.url}/", method="head"), context()
        )
    assert [r.method for r in stub.requests] == ["HEAD"]
    assert output.text.startswith("HTTP/1.1 200 OK")
    assert "hello" not in output.text


async def test_redirect_within_the_allow_list_is_followed() -> None:
    with http_stub({"/b": (200, TEXT, b"arrived")}) as stub:
        stub.routes["/a"] = (302, {"Location": f"{stub.url}/b"}, b"")
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/a"), context())
    assert [r.path for r in stub.requests] == ["/a", "/b"]
    assert f"redirected from {stub.url}/a" in output.text
    assert output.text.endswith("arrived")


async def test_redirect_to_a_host_off_the_list_is_not_followed() -> None:
    with http_stub({"/secret": (200, TEXT, b"internal")}) as stub:
        # Same server under another name: only the allow-list can tell them apart.
        elsewhere = f"http://localhost:{stub.port}/secret"
        stub.routes["/a"] = (301, {"Location": elsewhere}, b"")
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/a"), context())
    assert [r.path for r in stub.requests] == ["/a"]
    assert output.text.startswith("HTTP/1.1 301 Moved Permanently")
    assert f"redirect to {elsewhere} not followed: host localhost:{stub.port}" in output.text
    assert "internal" not in output.text


async def test_redirect_loops_stop() -> None:
    with http_stub({}) as stub:
        stub.routes["/loop"] = (302, {"Location": "/loop"}, b"")
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/loop"), context())
    assert len(stub.requests) == 6
    assert output.text.startswith("stopped after 5 redirects")


async def test_large_body_is_cut_and_output_capped() -> None:
    body = b"HEAD-OF-BODY\n" + b"x" * 2_000_000 + b"\nTAIL"
    with http_stub({"/big": (200, TEXT, body)}) as stub:
        output = await curl("127.0.0.1").call(
            CurlArguments(url=f"{stub.url}/big"), context(output_limit=1000)
        )
    assert len(output.text) <= 1000
    assert output.truncated
    assert "HEAD-OF-BODY" in output.text
    assert "[body cut after 65536 bytes]" in output.text


async def test_binary_body_is_described_not_dumped() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with http_stub({"/logo": (200, {"Content-Type": "image/png"}, png)}) as stub:
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/logo"), context())
    assert output.text.endswith(f"[binary body: {len(png)} bytes of image/png]")


def trickle(handler: Handler) -> None:
    """Headers at once, then a byte every 0.2 s: no single read ever times out."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b".")
            handler.wfile.flush()
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        pass


async def test_slow_body_hits_the_overall_deadline() -> None:
    with http_stub({"/slow": trickle}) as stub:
        started = time.monotonic()
        output = await curl("127.0.0.1").call(
            CurlArguments(url=f"{stub.url}/slow"), context(timeout_seconds=1.0)
        )
    assert time.monotonic() - started < 5
    assert output.text == "request timed out after 1s"


async def test_operator_proxy_settings_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with http_stub({"/": (200, TEXT, b"direct")}) as stub:
        output = await curl("127.0.0.1").call(CurlArguments(url=f"{stub.url}/"), context())
    assert output.text.endswith("direct")


async def test_unreachable_host_is_reported_as_text() -> None:
    output = await curl("127.0.0.1").call(CurlArguments(url="http://127.0.0.1:9/"), context())
    assert output.text.startswith("request failed: ConnectError")


async def test_refused_request_never_leaves_the_process() -> None:
    with http_stub({"/": (200, TEXT, b"x")}) as stub:
        with pytest.raises(CommandRejected, match="not on the allow-list"):
            await curl("example.com").call(CurlArguments(url=f"{stub.url}/"), context())
        with pytest.raises(CommandRejected, match="GET or HEAD"):
            await curl("127.0.0.1").call(
                CurlArguments(url=f"{stub.url}/", method="POST"), context()
            )
        assert stub.requests == []
