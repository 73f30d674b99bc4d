"""The promql tool against a real Prometheus fed through the Pushgateway.

What Prometheus itself cannot show (the bearer token on the wire, a flood of series, a
non-JSON proxy error) is tested against a local HTTP server that speaks the same API.
"""

from __future__ import annotations

import json
import uuid

import pytest

from punching_fist.agent.tools.promql import PromqlArguments, PromqlTool
from punching_fist.errors import CommandRejected, SecretResolutionError
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.harness.prometheus_stack import PrometheusStack
from tests.support.tools_helpers import context
from tests.support.tools_http import http_stub


def promql(endpoint: str, secrets: SecretResolver | None = None, **kwargs: str) -> PromqlTool:
    return PromqlTool(endpoint=endpoint, secrets=secrets or SecretResolver(), **kwargs)


def pushed(stack: PrometheusStack, metric: str, expected: int) -> None:
    """Wait until Prometheus scraped ``expected`` series of ``metric``."""
    stack.wait_for(lambda: len(stack.query(metric)) == expected or None, timeout=30)


@pytest.mark.integration
async def test_instant_query_lists_series_with_labels_and_values(
    clean_prometheus_stack: PrometheusStack,
) -> None:
    stack = clean_prometheus_stack
    metric = f"pf_tool_mem_{uuid.uuid4().hex[:6]}"
    for pod, value in (("web-0", 512e6), ("web-1", 1.5e9)):
        stack.push_metric("tools", metric, value, {"pod": pod}, grouping={"pod": pod})
    pushed(stack, metric, 2)

    output = await promql(stack.prometheus_url).call(PromqlArguments(query=metric), context())
    lines = output.text.splitlines()
    assert lines[0].startswith("2 series at ")
    assert any('pod="web-0"' in line and line.endswith(" 5.12e+08") for line in lines)
    assert any('pod="web-1"' in line and line.endswith(" 1.5e+09") for line in lines)
    assert output.details["status"] == 200


@pytest.mark.integration
async def test_range_query_summarises_how_a_value_changed(
    clean_prometheus_stack: PrometheusStack,
) -> None:
    stack = clean_prometheus_stack
    metric = f"pf_tool_latency_{uuid.uuid4().hex[:6]}"
    stack.push_metric("tools", metric, 0.2, {"service": "api"})
    stack.wait_for(lambda: stack.query(metric) or None)
    # A few scrapes at the low value are stored (not just hoped for after a sleep).
    scraped = f"count_over_time({metric}[1m]) >= 3"
    stack.wait_for(lambda: stack.query(scraped) or None)
    stack.push_metric("tools", metric, 3.5, {"service": "api"})
    stack.wait_for(lambda: [s for s in stack.query(metric) if s["value"][1] == "3.5"] or None)

    output = await promql(stack.prometheus_url).call(
        PromqlArguments(query=metric, range_minutes=1, step_seconds=1), context()
    )
    assert output.text.startswith("1 series:"), output.text
    summary, samples = output.text.splitlines()[1:3]
    assert f'{metric}{{job="tools",service="api"}}: ' in summary
    assert "min 0.2 max 3.5 last 3.5" in summary
    assert samples.strip().startswith("samples:")
    assert "=0.2" in samples
    assert samples.endswith("=3.5")


@pytest.mark.integration
async def test_bad_query_shows_prometheus_error(clean_prometheus_stack: PrometheusStack) -> None:
    output = await promql(clean_prometheus_stack.prometheus_url).call(
        PromqlArguments(query="rate(http_requests_total[5m]"), context()
    )
    assert output.text.startswith("Prometheus rejected the query (bad_data):")
    assert "parse error" in output.text
    assert output.details["status"] == 400


@pytest.mark.integration
async def test_no_match_says_so(clean_prometheus_stack: PrometheusStack) -> None:
    output = await promql(clean_prometheus_stack.prometheus_url).call(
        PromqlArguments(query='up{job="no-such-job-anywhere"}'), context()
    )
    assert output.text.startswith("no series matched")


@pytest.mark.integration
async def test_scalar_result(clean_prometheus_stack: PrometheusStack) -> None:
    output = await promql(clean_prometheus_stack.prometheus_url).call(
        PromqlArguments(query="scalar(vector(42))"), context()
    )
    assert output.text.startswith("scalar: 42 at ")


def prometheus_answer(result: list[dict[str, object]]) -> bytes:
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return json.dumps(body).encode()


async def test_bearer_token_from_secret_reference_is_sent_and_never_shown() -> None:
    token = "s3cr3t-prom-token"
    secrets = SecretResolver({"env": EnvResolver({"PROM_TOKEN": token})})
    # A proxy that reflects what it received, as misconfigured gateways do.
    answer = prometheus_answer(
        [{"metric": {"__name__": "up", "seen": f"Bearer {token}"}, "value": [1700000000, "1"]}]
    )
    with http_stub(
        {"/prom/api/v1/query": (200, {"Content-Type": "application/json"}, answer)}
    ) as stub:
        tool = promql(f"{stub.url}/prom/", secrets, token_secret_ref="env://PROM_TOKEN")
        output = await tool.call(PromqlArguments(query="up"), context(timeout_seconds=7))
    assert stub.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert "query=up" in stub.requests[0].path
    assert "timeout=7s" in stub.requests[0].path
    assert token not in output.text
    assert 'seen="Bearer [redacted]"' in output.text


async def test_unresolvable_token_reference_is_a_configuration_error() -> None:
    tool = promql(
        "http://127.0.0.1:9",
        SecretResolver({"env": EnvResolver({})}),
        token_secret_ref="env://MISSING",
    )
    with pytest.raises(SecretResolutionError):
        await tool.call(PromqlArguments(query="up"), context())


async def test_many_series_are_capped_with_a_hint() -> None:
    answer = prometheus_answer(
        [
            {"metric": {"__name__": "up", "pod": f"p{i}"}, "value": [1700000000, "1"]}
            for i in range(100)
        ]
    )
    with http_stub({"/api/v1/query": (200, {"Content-Type": "application/json"}, answer)}) as stub:
        output = await promql(stub.url).call(PromqlArguments(query="up"), context())
    assert output.text.startswith("100 series")
    assert 'up{pod="p39"} 1' in output.text
    assert 'pod="p40"' not in output.text
    assert "60 more series not shown; narrow the query" in output.text


async def test_non_json_error_and_unreachable_endpoint_are_reported_as_text() -> None:
    with http_stub(
        {"/api/v1/query": (502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>")}
    ) as stub:
        output = await promql(stub.url).call(PromqlArguments(query="up"), context())
    assert output.text == "Prometheus answered HTTP 502 without JSON:\n<h1>Bad Gateway</h1>"
    unreachable = await promql("http://127.0.0.1:9").call(PromqlArguments(query="up"), context())
    assert unreachable.text.startswith(
        "cannot reach Prometheus at http://127.0.0.1:9: ConnectError"
    )


def test_check_allows_queries_unless_the_workflow_gates_promql() -> None:
    tool = promql("http://127.0.0.1:9")
    assert tool.check(PromqlArguments(query="up"), context()).verdict == "allow"
    gated = tool.check(PromqlArguments(query="up"), context(require_approval_for=("promql",)))
    assert gated.verdict == "approval"


async def test_gated_query_does_not_run_without_approval() -> None:
    with http_stub({}) as stub:
        tool = promql(stub.url)
        gated = context(require_approval_for=("promql",))
        with pytest.raises(CommandRejected):
            await tool.call(PromqlArguments(query="up"), gated)
        assert stub.requests == []
        await tool.call(
            PromqlArguments(query="up"), context(require_approval_for=("promql",), approved=True)
        )
        assert len(stub.requests) == 1
