"""Prometheus metrics of the agent: LLM usage and cost drivers, tool calls, approvals.

They are derived from the audit events the runtime writes anyway (``observe``), so the
numbers on ``/metrics`` and the rows in ``audit_events`` can never disagree about what
happened.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from punching_fist.store.audit import AuditEvent

LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


class AgentMetrics:
    """Counters and histograms on the server's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.llm_requests = Counter(
            "punchingfist_llm_requests",
            "LLM requests (each attempt), by model and outcome (ok or error).",
            ["model", "outcome"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "punchingfist_llm_tokens",
            "Tokens sent to (input) and received from (output) LLMs, by model.",
            ["model", "direction"],
            registry=registry,
        )
        self.llm_duration = Histogram(
            "punchingfist_llm_request_duration_seconds",
            "Duration of LLM requests, by model.",
            ["model"],
            buckets=LLM_BUCKETS,
            registry=registry,
        )
        self.tool_calls = Counter(
            "punchingfist_agent_tool_calls",
            "Agent tool calls, by tool and outcome (ran, refuse, repeat, approved).",
            ["tool", "outcome"],
            registry=registry,
        )
        self.approvals = Counter(
            "punchingfist_agent_approvals",
            "Approval requests and decisions (requested, partly_approved, approved, denied,"
            " expired).",
            ["event"],
            registry=registry,
        )
        self.investigations = Counter(
            "punchingfist_agent_investigations",
            "Agent steps, by how they ended (complete, partial, waiting_approval, failed).",
            ["outcome"],
            registry=registry,
        )

    def observe(self, event: AuditEvent) -> None:
        if event.kind == "llm":
            failed = event.exit_code is not None or (event.output or "").startswith(
                "request failed"
            )
            self.llm_requests.labels(event.name, "error" if failed else "ok").inc()
            if event.duration_ms is not None:
                self.llm_duration.labels(event.name).observe(event.duration_ms / 1000)
            for direction in ("input", "output"):
                tokens = (event.usage or {}).get(f"{direction}_tokens")
                if isinstance(tokens, int) and tokens > 0:
                    self.llm_tokens.labels(event.name, direction).inc(tokens)
        elif event.kind == "tool":
            verdict = (event.arguments or {}).get("verdict")
            self.tool_calls.labels(event.name, str(verdict or "ran")).inc()
        elif event.kind == "approval":
            self.approvals.labels(event.name).inc()
