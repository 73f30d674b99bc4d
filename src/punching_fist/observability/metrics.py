"""Prometheus metrics, owned by one registry per server (no process-wide globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from punching_fist.observability.kpi_metrics import KpiMetrics

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass(frozen=True, kw_only=True)
class RunQueueFigures:
    """The run queue as ``/metrics`` and ``/readyz`` show it (``engine.queue.RunQueue.state``)."""

    queued: int
    """Runs waiting for a worker."""
    running: int
    """Runs a worker took and has not finished."""
    by_workflow: Mapping[str, int]
    """Waiting runs per workflow."""
    max_queued: int
    max_queued_per_workflow: int
    backlog: bool
    """Runs wait in the store for room in the queue (none is dropped)."""
    deferred: int
    """Runs stored without room in the queue since start, queued later from the store."""
    stored_pending: int | None = None
    """Runs the store holds ``pending`` (queued or not), as the last sweep counted them."""


class _RunQueueCollector(Collector):
    """Reads the queue at scrape time, so the intake's hot path updates no gauge."""

    def __init__(self, read: Callable[[], RunQueueFigures]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        figures = self._read()
        yield GaugeMetricFamily(
            "punchingfist_run_queue_queued", "Runs waiting for a worker.", value=figures.queued
        )
        by_workflow = GaugeMetricFamily(
            "punchingfist_run_queue_queued_by_workflow",
            "Runs waiting for a worker, by workflow.",
            labels=["workflow"],
        )
        for workflow, count in sorted(figures.by_workflow.items()):
            by_workflow.add_metric([workflow], count)
        yield by_workflow
        limit = GaugeMetricFamily(
            "punchingfist_run_queue_limit",
            "Runs that may wait for a worker: overall, and of one workflow (spec.limits).",
            labels=["scope"],
        )
        limit.add_metric(["overall"], figures.max_queued)
        limit.add_metric(["workflow"], figures.max_queued_per_workflow)
        yield limit
        yield GaugeMetricFamily(
            "punchingfist_run_queue_backlog",
            "1 while runs wait in the store for room in the run queue.",
            value=int(figures.backlog),
        )
        yield CounterMetricFamily(
            "punchingfist_runs_deferred",
            "Runs stored pending without room in the run queue (or beyond their request's"
            " maxRunsPerRequest), queued later from the store; none is dropped.",
            value=figures.deferred,
        )
        if figures.stored_pending is not None:
            yield GaugeMetricFamily(
                "punchingfist_runs_pending",
                "Runs stored pending, queued or waiting for room, as the last sweep counted.",
                value=figures.stored_pending,
            )


class Metrics:
    """The server's metrics; ``exposition()`` renders the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alerts_processed = Counter(
            "punchingfist_alerts_processed",
            "Alerts received, by source and what happened to them.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.task_duration = Histogram(
            "punchingfist_task_duration_seconds",
            "Duration of workflow runs from claim to completion.",
            ["workflow"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.active_tasks = Gauge(
            "punchingfist_active_tasks", "Workflow runs executing now.", registry=self.registry
        )
        self.workflow_runs = Counter(
            "punchingfist_workflow_runs",
            "Finished workflow runs, by workflow and status.",
            ["workflow", "status"],
            registry=self.registry,
        )
        self.steps = Counter(
            "punchingfist_steps",
            "Finished steps, by step type and status.",
            ["type", "status"],
            registry=self.registry,
        )
        self.sink_deliveries = Counter(
            "punchingfist_sink_deliveries",
            "Sink deliveries, by sink and status.",
            ["sink", "status"],
            registry=self.registry,
        )
        self.retention_rows = Counter(
            "punchingfist_retention_rows",
            "Rows deleted by retention, by table (audit_events_detached: kept, unlinked from"
            " their deleted run).",
            ["table"],
            registry=self.registry,
        )
        self.investigations_queued = Gauge(
            "punchingfist_investigations_queued",
            "Runs waiting (waiting_limit) for spec.limits investigationsPerMinute or"
            " llmTokensPerHour; started oldest first as budget frees, none dropped.",
            registry=self.registry,
        )
        self.intake_rejected = Counter(
            "punchingfist_intake_rejected",
            "Webhook and api Source requests refused, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.chat_requests = Counter(
            "punchingfist_chat_requests",
            "Requests from Slack at chat Sources' paths, by outcome (started, duplicate: a"
            " retried event, ignored, challenge, refused_401 ...).",
            ["outcome"],
            registry=self.registry,
        )
        self.source_events = Counter(
            "punchingfist_source_events",
            "Events of api, schedule and kubernetes Sources, by source, type and outcome"
            " (started: a run created; repeated: its run existed already, an api retry with"
            " the same Idempotency-Key or a tick or object event another replica started).",
            ["source", "type", "outcome"],
            registry=self.registry,
        )
        self.kpis = KpiMetrics(self.registry)
        """Time to triage and resolve, auto-resolutions, escalations, feedback."""

    def watch_run_queue(self, read: Callable[[], RunQueueFigures]) -> None:
        """Export the run queue's figures, read from ``read`` at each scrape."""
        self.registry.register(_RunQueueCollector(read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
