"""Prometheus metrics, owned by one registry per server (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


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
        self.intake_rejected = Counter(
            "punchingfist_intake_rejected",
            "Webhook requests refused, by HTTP status.",
            ["status"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
