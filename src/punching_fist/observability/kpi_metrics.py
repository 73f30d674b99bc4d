"""The incident KPIs as Prometheus metrics: what ``GET /api/v1/kpis`` computes from the store,
observed as it happens (time to triage and to resolve, auto-resolutions, escalations, feedback).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# From seconds to a day: triage takes seconds to minutes, resolution minutes to hours.
KPI_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)


class KpiMetrics:
    """Registered on the server's registry (``Metrics.kpis``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_triage = Histogram(
            "punchingfist_time_to_triage_seconds",
            "From an alert's arrival to the end of its first investigation (MTTT).",
            buckets=KPI_BUCKETS,
            registry=registry,
        )
        self.time_to_resolve = Histogram(
            "punchingfist_time_to_resolve_seconds",
            "From an incident's opening to its resolution (MTTR).",
            buckets=KPI_BUCKETS,
            registry=registry,
        )
        self.auto_resolved = Counter(
            "punchingfist_alerts_auto_resolved",
            "Alerts resolved after an approved fix ran, before any escalation.",
            registry=registry,
        )
        self.escalated = Counter(
            "punchingfist_alerts_escalated",
            "Alerts escalated: an escalation sink (PagerDuty trigger) delivered, by sink.",
            ["sink"],
            registry=registry,
        )
        self.feedback = Counter(
            "punchingfist_feedback",
            "Feedback on incidents' investigations, by whether the root cause was right.",
            ["correct"],
            registry=registry,
        )
