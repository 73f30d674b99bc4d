"""The knowledge base at work: what an investigation recalls before it starts, and what it
leaves behind when it ends.

``Memory.recall`` (before an agent step): the similar past incidents (same alertname and
workload first, then full text over the alert's words; confirmed ones first in each group)
and, within ``spec.cache.ttl``, the newest reusable investigation of exactly this signature
(the agent reuses it only if its fresh evidence digests the same). ``Memory.remember``
(after): the result becomes an entry, or a reused one counts a reuse. ``Memory.feedback``:
what people said about an incident reaches its entries. docs/memory.md says more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from punching_fist.agent.memory import CachedInvestigation, PastIncident, Recollection
from punching_fist.knowledge.signature import Signature
from punching_fist.observability.knowledge_metrics import KnowledgeMetrics
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.memory_settings import CacheSettings, KnowledgeSettings
from punching_fist.store.knowledge import Correct, KnowledgeEntry, KnowledgeStore, NewEntry
from punching_fist.store.knowledge_search import search
from punching_fist.store.tables import utcnow

log = structlog.get_logger(__name__)

_CONFIRMED_FIRST = {"yes": 0, "unknown": 1, "no": 2}
_TEXT_ANNOTATIONS = ("summary", "description", "message")
_QUIET_LABELS = frozenset({"alertname", "severity", "prometheus", "job", "instance", "endpoint"})


@dataclass(frozen=True, kw_only=True)
class Asker:
    """Which agent step recalls: its own run's entries are no past incident, and only the
    same step of the same workflow may reuse a result (another step asks another question)."""

    run_id: uuid.UUID
    workflow: str
    step_name: str


@dataclass(frozen=True, kw_only=True)
class Recalled:
    """What ``recall`` found: the agent's view, and the cached entry to count as reused."""

    recollection: Recollection
    cached_entry: uuid.UUID | None = None


class Memory:
    """The engine's handle on the knowledge base (one per server)."""

    def __init__(
        self,
        store: KnowledgeStore,
        resources: Callable[[], ResourceSet],
        *,
        clock: Callable[[], datetime] = utcnow,
        metrics: KnowledgeMetrics | None = None,
    ) -> None:
        self.store = store
        self._resources = resources
        self._clock = clock
        self._metrics = metrics or KnowledgeMetrics()

    def _settings(self) -> tuple[KnowledgeSettings, CacheSettings]:
        config = self._resources().operator_config
        if config is None:
            return KnowledgeSettings(), CacheSettings()
        return config.spec.knowledge, config.spec.cache

    async def recall(
        self, alert: Mapping[str, Any], signature: Signature, asker: Asker
    ) -> Recalled | None:
        """Similar incidents and a cache candidate for ``alert``; None when memory is off."""
        knowledge, cache = self._settings()
        if not knowledge.enabled:
            return None
        similar = await self._similar(alert, signature, knowledge.similar_incidents, asker)
        self._metrics.recalled.inc(len(similar))
        cached: KnowledgeEntry | None = None
        ttl = cache.lifetime()
        if ttl is not None and signature.alertname:
            cached = await self.store.latest_investigation(
                alertname=signature.alertname,
                namespace=signature.namespace,
                workload=signature.workload,
                container=signature.container,
                since=self._clock() - ttl,
                workflow=asker.workflow,
                step_name=asker.step_name,
                other_than_run=asker.run_id,
            )
        candidate = None
        if cached is not None and cached.result is not None and cached.run_id is not None:
            candidate = CachedInvestigation(
                run_id=str(cached.run_id),
                result=cached.result,
                evidence_digest=cached.evidence_digest,
            )
        return Recalled(
            recollection=Recollection(similar=tuple(similar), cached=candidate),
            cached_entry=cached.id if candidate is not None and cached is not None else None,
        )

    async def _similar(
        self, alert: Mapping[str, Any], signature: Signature, limit: int, asker: Asker
    ) -> list[PastIncident]:
        if limit == 0:
            return []
        same: list[KnowledgeEntry] = []
        if signature.alertname:
            same = await self.store.of_signature(
                signature.alertname,
                signature.workload,
                signature.namespace,
                limit=limit,
                other_than_run=asker.run_id,
            )
        found = [_past(entry, 1.0) for entry in same]
        if len(found) < limit:
            own = await self.store.of_run(asker.run_id)
            hits, _ = await search(
                self.store.database,
                alert_text(alert),
                every=False,
                limit=limit - len(found),
                exclude=frozenset(entry.id for entry in [*same, *own]),
            )
            by_text = [_past(hit.entry, hit.score) for hit in hits]
            found += sorted(by_text, key=lambda p: (_CONFIRMED_FIRST[p.correct], -p.score))
        return found[:limit]

    async def remember(
        self,
        *,
        asker: Asker,
        signature: Signature,
        labels: Mapping[str, str],
        result: Mapping[str, Any] | None,
        evidence_digest: str | None,
        recalled: Recalled | None,
    ) -> KnowledgeEntry | None:
        """Keep a finished investigation's ``result`` (already redacted); a reused result
        counts as a reuse of its entry instead. Partial results (``error_message``: the
        investigation did not finish) teach nothing and are not kept."""
        knowledge, _ = self._settings()
        if not knowledge.enabled or result is None or result.get("error_message"):
            return None
        if result.get("cachedFrom"):
            self._metrics.cache.labels("reused").inc()
            if recalled is not None and recalled.cached_entry is not None:
                await self.store.mark_reused(recalled.cached_entry)
            return None
        if recalled is not None and recalled.cached_entry is not None:
            self._metrics.cache.labels("evidence_changed").inc()
        kept = {k: v for k, v in result.items() if k not in ("similar_incidents", "pastCauseHeld")}
        inconclusive = bool(result.get("inconclusive")) or not result.get("root_cause")
        fix = result.get("fix_command") or "; ".join(result.get("recommendations") or [])
        entry = await self.store.add(
            NewEntry(
                kind="investigation",
                title=_title(signature, result),
                alertname=signature.alertname,
                namespace=signature.namespace,
                workload=signature.workload,
                container=signature.container,
                labels=dict(labels),
                root_cause=str(result.get("root_cause") or ""),
                fix=str(fix),
                findings=[str(f) for f in result.get("findings") or []],
                body=str(result.get("summary") or ""),
                outcome="inconclusive" if inconclusive else "diagnosed",
                confidence=_number(result.get("confidence")),
                run_id=asker.run_id,
                incident_id=await self.store.incident_of_run(asker.run_id),
                workflow=asker.workflow,
                step_name=asker.step_name,
                result=kept,
                evidence_digest=evidence_digest,
            ),
            now=self._clock(),
        )
        self._metrics.entries.labels(entry.outcome).inc()
        log.info("investigation remembered", entry=str(entry.id), alertname=signature.alertname)
        return entry

    async def feedback(
        self,
        incident_id: uuid.UUID,
        *,
        root_cause_correct: bool | None,
        given_by: str,
        resolution: str | None = None,
        notes: str | None = None,
    ) -> int:
        """What people said about an incident, onto every entry of it; how many changed."""
        correct: Correct = "unknown"
        if root_cause_correct is not None:
            correct = "yes" if root_cause_correct else "no"
        return await self.store.apply_feedback(
            incident_id,
            correct=correct,
            given_by=given_by,
            resolution=resolution,
            notes=notes,
        )


def alert_text(alert: Mapping[str, Any]) -> str:
    """The words of an alert full-text search looks for: its name, the values of its
    identifying labels and its summary and description."""
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    words = [str(labels.get("alertname") or "")]
    words += [str(v) for k, v in labels.items() if k not in _QUIET_LABELS]
    words += [str(annotations.get(key) or "") for key in _TEXT_ANNOTATIONS]
    return " ".join(word for word in words if word)


def _past(entry: KnowledgeEntry, score: float) -> PastIncident:
    return PastIncident(
        id=str(entry.id),
        title=entry.title,
        root_cause=entry.root_cause,
        fix=entry.fix,
        outcome=entry.outcome,
        score=score,
        day=entry.created_at.date().isoformat(),
        correct=entry.correct,
        feedback_by=entry.feedback_by,
        resolution=entry.resolution,
    )


def _title(signature: Signature, result: Mapping[str, Any]) -> str:
    where = "/".join(p for p in (signature.namespace, signature.workload) if p)
    name = signature.alertname or "investigation"
    title = f"{name} {where}".strip()
    summary = str(result.get("summary") or "").strip()
    return f"{title}: {summary}"[:500] if summary else title


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
