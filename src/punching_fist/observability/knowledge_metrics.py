"""Memory as Prometheus metrics: what investigations left in the knowledge base, what they
recalled, and how often the response cache stood in for one (docs/memory.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class KnowledgeMetrics:
    """Registered on the server's registry; a private one when none is given (tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.entries = Counter(
            "punchingfist_knowledge_entries_written",
            "Investigations kept in the knowledge base, by outcome (diagnosed, inconclusive).",
            ["outcome"],
            registry=registry,
        )
        self.recalled = Counter(
            "punchingfist_knowledge_similar_incidents",
            "Similar past incidents put into investigations' first messages.",
            registry=registry,
        )
        self.cache = Counter(
            "punchingfist_response_cache",
            "Investigations with a cached result of the same signature within the TTL: reused"
            " (no LLM request) or evidence_changed (investigated again).",
            ["result"],
            registry=registry,
        )
