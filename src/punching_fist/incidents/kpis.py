"""The incident KPIs of a window, as ``GET /api/v1/kpis`` and ``punching-fist report`` show them.

Definitions (``docs/kpis.md`` says the same for people):

- MTTT, time to triage: per alert received in the window, ``received_at`` to
  ``triage_completed_at`` (its first investigation's end).
- MTTR, time to resolve: per incident opened in the window and resolved, ``mttr_seconds``
  (opening to resolution).
- auto-resolution rate: alerts resolved with ``auto_resolved`` over alerts resolved.
- escalation rate: incidents with an escalated alert over incidents.
- escalation accuracy: escalated incidents whose latest feedback answering ``humanNeeded``
  says a person was needed, over escalated incidents with such an answer.
- AI accuracy: feedback saying the root cause was right over feedback given.
- investigations per incident: agent steps that ran to an end (not the ones attached to
  their incident's investigation) over incidents.
- LLM tokens and estimated cost per incident: tokens of those investigations' LLM requests,
  priced with ``spec.kpis.prices``; models without a price are listed, not guessed.

Durations come with their count, mean, p50 and p90 (nearest rank); a rate with its
numerator and denominator, ``null`` when nothing was counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from punching_fist.resources.kpi_settings import KpiSettings
from punching_fist.store.database import Database
from punching_fist.store.kpis import FeedbackRow, KpiFilter, KpiRows, kpi_rows


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least ``fraction`` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, kw_only=True)
class Durations:
    values: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        count = len(self.values)
        return {
            "count": count,
            "meanSeconds": _round(sum(self.values) / count) if count else None,
            "p50Seconds": _round(percentile(self.values, 0.5)),
            "p90Seconds": _round(percentile(self.values, 0.9)),
        }


@dataclass(frozen=True, kw_only=True)
class Rate:
    numerator: int
    denominator: int

    def as_json(self) -> dict[str, Any]:
        value = self.numerator / self.denominator if self.denominator else None
        return {
            "value": _round(value, 4),
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


async def compute_kpis(
    database: Database, window: KpiFilter, settings: KpiSettings | None = None
) -> dict[str, Any]:
    """The KPIs of ``window`` as the API answers them."""
    return kpis_of(await kpi_rows(database, window), window, settings or KpiSettings())


def kpis_of(rows: KpiRows, window: KpiFilter, settings: KpiSettings) -> dict[str, Any]:
    triage = Durations(values=tuple(rows.triage_seconds))
    resolve = Durations(
        values=tuple(i.resolve_seconds for i in rows.incidents if i.resolve_seconds is not None)
    )
    escalated = {i.id for i in rows.incidents if i.escalated}
    needed = _latest_human_needed(rows.feedback)
    judged = [incident for incident in escalated if incident in needed]
    incident_count = len(rows.incidents)
    return {
        "window": {
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "source": window.source,
            "severity": window.severity,
        },
        "alerts": rows.alerts,
        "incidents": incident_count,
        "timeToTriage": triage.as_json(),
        "timeToResolve": resolve.as_json(),
        "autoResolutionRate": Rate(
            numerator=rows.auto_resolved_alerts, denominator=rows.resolved_alerts
        ).as_json(),
        "escalationRate": Rate(numerator=len(escalated), denominator=incident_count).as_json(),
        "escalationAccuracy": Rate(
            numerator=sum(1 for incident in judged if needed[incident]),
            denominator=len(judged),
        ).as_json(),
        "aiAccuracy": Rate(
            numerator=sum(1 for f in rows.feedback if f.root_cause_correct),
            denominator=len(rows.feedback),
        ).as_json(),
        "investigations": rows.investigations,
        "investigationsPerIncident": _per(rows.investigations, incident_count),
        "llm": _llm(rows, settings, incident_count),
    }


def _latest_human_needed(feedback: list[FeedbackRow]) -> dict[Any, bool]:
    """Per incident, the latest answer to "was a person needed?" (people may change their mind)."""
    latest: dict[Any, bool] = {}
    for row in sorted(feedback, key=lambda f: f.given_at):
        if row.human_needed is not None:
            latest[row.incident_id] = row.human_needed
    return latest


def _llm(rows: KpiRows, settings: KpiSettings, incidents: int) -> dict[str, Any]:
    by_model = []
    cost = 0.0
    unpriced = []
    for model, (spent_in, spent_out) in sorted(rows.tokens.items()):
        price = settings.prices.get(model)
        model_cost = None
        if price is not None:
            model_cost = (
                spent_in * price.input_per_million + spent_out * price.output_per_million
            ) / 1_000_000
            cost += model_cost
        else:
            unpriced.append(model)
        by_model.append(
            {
                "model": model,
                "inputTokens": spent_in,
                "outputTokens": spent_out,
                "estimatedCost": _round(model_cost, 6),
            }
        )
    total = sum(a + b for a, b in rows.tokens.values())
    priced = not unpriced  # no tokens at all cost nothing
    return {
        "inputTokens": sum(a for a, _ in rows.tokens.values()),
        "outputTokens": sum(b for _, b in rows.tokens.values()),
        "tokensPerIncident": _per(total, incidents),
        "currency": settings.currency,
        "estimatedCost": _round(cost, 6) if priced else None,
        "estimatedCostPerIncident": _round(cost / incidents, 6) if priced and incidents else None,
        "pricedCost": _round(cost, 6),
        "unpricedModels": unpriced,
        "byModel": by_model,
    }


def _per(amount: int, incidents: int) -> float | None:
    return _round(amount / incidents, 4) if incidents else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
