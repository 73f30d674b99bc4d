"""Traces: one alert through a served app is one connected trace, intake → run → steps → the
agent's LLM requests and tool call → the sink delivery, and the run's log lines carry its id.

Spans go to the SDK's in-memory exporter; the LLM is the fake OpenAI-compatible server and
kubectl a stand-in that records what ran. Off (the default), no span is made and nothing about
traces reaches the run or its logs. ``Tracing.otlp`` is checked against a local collector
that decodes what the OTLP/HTTP exporter sends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, format_trace_id
from structlog.testing import capture_logs

from punching_fist.observability.tracing import TRACEPARENT, Tracing, traces_endpoint
from tests.agent.kit import HEADER, kubectl_stand_in, post_alert, run_detail, server_settings
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.server import free_port, resources_from_yaml, running_server

WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  runtime:
    llmConfig: {provider: local, endpoint: "LLM", model: test-model}
  steps:
    - name: gather
      type: cli
      command: echo "gathered {{ .source.data.alert.fingerprint }}"
    - name: investigate
      type: agent
      goal: "Investigate {{ .source.data.alert.alertname }}"
      tools: [kubectl]
      evidence: "off"
  outputs:
    - {name: summary, value: "{{ .steps.investigate.result.summary }}"}
  sinks: [out]
"""

SCRIPT = Script(
    [
        kubectl("get pods -n shop"),
        final(summary="web-1 is OOMKilled", confidence=0.8),
    ]
)


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [found] = [span for span in spans if span.name == name]
    return found


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


@pytest.mark.parametrize("stream", [False, True], ids=["whole answers", "streamed"])
async def test_one_alert_is_one_connected_trace_and_its_run_logs_carry_the_id(
    sqlite_url: str, tmp_path: Path, stream: bool
) -> None:
    exporter = InMemorySpanExporter()
    stand_in = kubectl_stand_in(tmp_path, [("get pods", "web-1   0/1   OOMKilled\n", 0)])
    with FakeLLM(SCRIPT) as llm, capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        resources = resources_from_yaml(HEADER + WORKFLOW.replace("LLM", llm.url))
        async with running_server(
            resources,
            sqlite_url,
            tracing=Tracing.exporting_to(exporter),
            **server_settings(stand_in, agent_stream=stream),
        ) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
    assert detail["status"] == "succeeded"

    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == [
        "intake",
        "llm request",
        "llm request",
        "run",
        "sink delivery",
        "step gather",
        "step investigate",
        "tool kubectl",
    ]
    trace_ids = {span.context.trace_id for span in spans if span.context is not None}
    assert len(trace_ids) == 1
    intake, run = by_name(spans, "intake"), by_name(spans, "run")
    gather, investigate = by_name(spans, "step gather"), by_name(spans, "step investigate")
    tool, delivery = by_name(spans, "tool kubectl"), by_name(spans, "sink delivery")
    llm_requests = [span for span in spans if span.name == "llm request"]
    # The tree: intake → run → steps → the agent's requests and call; the delivery under the run.
    assert intake.parent is None
    assert parent_of(run) == span_id(intake)
    assert parent_of(gather) == parent_of(investigate) == span_id(run)
    assert {parent_of(span) for span in [*llm_requests, tool]} == {span_id(investigate)}
    assert parent_of(delivery) == span_id(run)
    # What each says about itself.
    assert intake.attributes is not None
    assert intake.attributes["http.response.status_code"] == 202
    assert intake.attributes["url.path"] == "/hook"
    assert run.attributes == {
        "punchingfist.run.id": run_id,
        "punchingfist.workflow": "wf",
        "punchingfist.run.attempt": 1,
        "punchingfist.run.status": "succeeded",
    }
    assert gather.attributes is not None
    assert gather.attributes["punchingfist.step.type"] == "cli"
    assert gather.attributes["punchingfist.step.status"] == "succeeded"
    assert tool.attributes is not None
    assert tool.attributes["punchingfist.tool.call"] == "get pods -n shop"
    assert tool.attributes["punchingfist.tool.exit_code"] == 0
    for request in llm_requests:
        assert request.attributes is not None
        assert request.attributes["gen_ai.request.model"] == "test-model"
        tokens = request.attributes["gen_ai.usage.input_tokens"]
        assert isinstance(tokens, int)
        assert tokens > 0
        assert request.attributes.get("punchingfist.llm.stream", False) is stream
    assert delivery.attributes is not None
    assert delivery.attributes["punchingfist.sink.name"] == "out"
    assert delivery.attributes["punchingfist.delivery.status"] == "delivered"
    assert all(span.status.status_code is not StatusCode.ERROR for span in spans)
    # The run continues the intake's span, stored with it.
    traceparent = detail["source_context"][TRACEPARENT]
    assert traceparent.split("-")[1] == format_trace_id(next(iter(trace_ids)))

    # Every log line of the run carries the trace id.
    run_lines = [entry for entry in logs if entry.get("run_id") == run_id]
    assert {"run started", "run finished"} <= {entry["event"] for entry in run_lines}
    assert {entry.get("trace_id") for entry in run_lines} == {format_trace_id(run.context.trace_id)}
    assert all("span_id" in entry for entry in run_lines)


async def test_a_failed_step_marks_its_span_and_the_run(sqlite_url: str) -> None:
    exporter = InMemorySpanExporter()
    workflow = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: broken, type: cli, command: "echo no >&2; exit 3"}
  sinks: [out]
"""
    async with running_server(
        resources_from_yaml(HEADER + workflow), sqlite_url, tracing=Tracing.exporting_to(exporter)
    ) as server:
        await post_alert(server)
        await server.settle()

    spans = exporter.get_finished_spans()
    step, run = by_name(spans, "step broken"), by_name(spans, "run")
    assert step.status.status_code is StatusCode.ERROR
    assert step.attributes is not None
    assert step.attributes["punchingfist.step.status"] == "failed"
    assert run.status.status_code is StatusCode.ERROR


async def test_a_scheduled_run_continues_its_triggers_trace(sqlite_url: str) -> None:
    exporter = InMemorySpanExporter()
    workflow = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: tick, type: cli, command: "echo tick"}
  sinks: [out]
"""
    async with running_server(
        resources_from_yaml(HEADER + workflow), sqlite_url, tracing=Tracing.exporting_to(exporter)
    ) as server:
        run_id = await server.service.trigger_run(
            trigger_key="schedule/nightly/1",
            source_name="nightly",
            workflow_name="wf",
            source_context={"name": "nightly", "type": "schedule"},
        )
        await server.settle()

    spans = exporter.get_finished_spans()
    trigger, run = by_name(spans, "trigger"), by_name(spans, "run")
    assert run.attributes is not None
    assert run.attributes["punchingfist.run.id"] == str(run_id)
    assert parent_of(run) == span_id(trigger)


async def test_a_chained_run_joins_the_trace_under_the_delivery_that_started_it(
    sqlite_url: str,
) -> None:
    exporter = InMemorySpanExporter()
    workflows = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: look, type: cli, command: "echo looking"}
  sinks: [escalate]
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: escalation}
spec:
  steps:
    - {name: page, type: cli, command: "echo paging"}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: escalate}
spec:
  type: workflow
  config: {workflowName: escalation}
"""
    async with running_server(
        resources_from_yaml(HEADER + workflows), sqlite_url, tracing=Tracing.exporting_to(exporter)
    ) as server:
        await post_alert(server)
        await server.settle()

    spans = exporter.get_finished_spans()
    runs = [span for span in spans if span.name == "run"]
    assert len(runs) == 2
    [parent] = [
        run for run in runs if run.attributes and run.attributes["punchingfist.workflow"] == "wf"
    ]
    [child] = [run for run in runs if run is not parent]
    [escalate] = [
        span
        for span in spans
        if span.name == "sink delivery"
        and span.attributes is not None
        and span.attributes["punchingfist.sink.name"] == "escalate"
    ]
    assert parent_of(escalate) == span_id(parent)
    assert parent_of(child) == span_id(escalate)
    assert len({span.context.trace_id for span in spans if span.context is not None}) == 1


async def test_off_no_span_is_made_and_nothing_reaches_the_run(sqlite_url: str) -> None:
    workflow = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: tick, type: cli, command: "echo tick"}
  sinks: [out]
"""
    with capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        async with running_server(resources_from_yaml(HEADER + workflow), sqlite_url) as server:
            assert not server.service.tracing.enabled
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)

    assert detail["status"] == "succeeded"
    assert TRACEPARENT not in detail["source_context"]
    run_lines = [entry for entry in logs if entry.get("run_id") == run_id]
    assert run_lines
    assert not any("trace_id" in entry for entry in run_lines)


class Collector:
    """An OTLP/HTTP trace receiver on loopback: the requests it got, decoded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, ExportTraceServiceRequest]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.append((self.path, self.headers["Content-Type"], request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def span_names(self) -> list[str]:
        return [
            span.name
            for _path, _type, request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()
        thread.join(5)


def test_otlp_sends_the_spans_to_the_collectors_traces_path(collector: Collector) -> None:
    tracing = Tracing.otlp(collector.url, service_name="pf-test")
    with tracing.span("run", {"punchingfist.workflow": "wf"}), tracing.span("step s"):
        pass
    tracing.flush()

    assert collector.span_names() == ["step s", "run"]
    path, content_type, request = collector.requests[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    attributes = {
        a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes
    }
    assert attributes["service.name"] == "pf-test"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_the_endpoint_is_a_collectors_base_url(given: str, url: str) -> None:
    assert traces_endpoint(given) == url


def test_the_environment_names_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "pf-prod-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    exporter = InMemorySpanExporter()
    tracing = Tracing.exporting_to(exporter)
    with tracing.span("run"):
        pass

    [span] = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "pf-prod-eu"
    assert span.resource.attributes["deployment.environment"] == "prod"
    assert span.resource.attributes["service.version"] == "0.1.0"
