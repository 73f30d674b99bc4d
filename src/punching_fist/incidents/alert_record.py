"""When the alert's record is written, and the KPI metrics observed as it is.

- ``triage_started_at``: the run's first agent step starts (a step resumed after an approval
  keeps its first start); runs without an agent step get the run's start when they finish.
- ``triage_completed_at``, ``ai_analysis``, ``ai_confidence``: the agent step ends with an
  answer or a failure (not when it pauses for approval); without an agent step, the run's
  end. Observed either way as ``punchingfist_time_to_triage_seconds`` from ``received_at``.
- ``escalated_at``, ``escalated_to``, status ``escalated``: an escalation sink delivered for
  the alert's run. Escalation sinks are those with ``spec.escalation: true`` and, unless they
  say ``false``, PagerDuty sinks whose ``action`` is ``trigger`` (paging a person);
  acknowledging or resolving a page is not an escalation.
- ``auto_resolved``: set in the resolving UPDATE (``store.alert_record.auto_resolved_now``);
  counted after the commit, with the incidents it closed (``time_to_resolve``).
- ``human_actions``: approvals decided (``approvals.decisions``) and feedback
  (``store.feedback``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from punching_fist.observability.kpi_metrics import KpiMetrics
from punching_fist.resources.sink import PagerDutySinkSpec, Sink
from punching_fist.store import alert_record as rows
from punching_fist.store.database import Database
from punching_fist.store.tables import utcnow

log = structlog.get_logger(__name__)

_REMEMBERED = 10_000


def escalates(sink: Sink) -> bool:
    """Whether a delivery to ``sink`` hands the alert to a person (pages someone)."""
    spec = sink.spec
    if spec.escalation is not None:
        return spec.escalation
    return isinstance(spec, PagerDutySinkSpec) and spec.config.action == "trigger"


def analysis_of(result: Any) -> tuple[dict[str, Any] | None, float | None]:
    """The investigation's result and its confidence, as the alert keeps them."""
    if not isinstance(result, dict):
        return None, None
    confidence = result.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return result, None
    return result, float(confidence)


class AlertRecord:
    """Writes the alert's record at the moments the module docstring names."""

    def __init__(self, database: Database, kpis: KpiMetrics) -> None:
        self._db = database
        self._kpis = kpis
        self._counting: set[asyncio.Task[None]] = set()
        self._closed: OrderedDict[uuid.UUID, None] = OrderedDict()
        """Incidents whose resolution was observed lately (two batches may both see one)."""

    def resolved(self, alert_ids: list[uuid.UUID]) -> None:
        """After an intake commit resolved ``alert_ids``: count auto-resolutions and observe
        the time to resolve of the incidents they closed, off the intake's path."""
        task = asyncio.get_running_loop().create_task(self.count_resolved(alert_ids))
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)

    async def count_resolved(self, alert_ids: list[uuid.UUID]) -> None:
        try:
            auto, closed = await rows.resolution_figures(self._db, alert_ids)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("resolutions not counted", error=str(exc))
            return
        if auto:
            self._kpis.auto_resolved.inc(auto)
        for incident_id, seconds in closed:
            if incident_id in self._closed:
                continue
            self._closed[incident_id] = None
            if len(self._closed) > _REMEMBERED:
                self._closed.popitem(last=False)
            self._kpis.time_to_resolve.observe(max(seconds, 0.0))

    async def triage_started(self, alert_id: uuid.UUID) -> None:
        try:
            await rows.triage_started(self._db, alert_id, utcnow())
        except (SQLAlchemyError, OSError) as exc:
            # Never fail an investigation for its record; the run's end writes it too.
            log.warning("triage start not recorded", error=str(exc))

    async def triage_completed(self, alert_id: uuid.UUID, result: Any) -> None:
        """``result``: the investigation's, already redacted."""
        analysis, confidence = analysis_of(result)
        try:
            seconds = await rows.triage_completed(
                self._db, alert_id, utcnow(), analysis=analysis, confidence=confidence
            )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("triage end not recorded", error=str(exc))
            return
        if seconds is not None:
            self._kpis.time_to_triage.observe(max(seconds, 0.0))

    async def run_finished(self, alert_id: uuid.UUID, *, since: datetime) -> None:
        """A run without an agent step triaged its alert as it finished (``store.runs``):
        observed like an investigation's triage, so the histogram counts what the KPIs do."""
        try:
            seconds = await rows.triaged_since(self._db, alert_id, since)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("triage time not observed", error=str(exc))
            return
        if seconds is not None:
            self._kpis.time_to_triage.observe(max(seconds, 0.0))

    async def delivered(self, run_id: uuid.UUID, sink: Sink, sink_name: str) -> None:
        """A sink delivered for the run: an escalation when the sink escalates."""
        if not escalates(sink):
            return
        try:
            escalated = await rows.escalated(self._db, run_id, sink_name, utcnow())
        except (SQLAlchemyError, OSError) as exc:
            # The page went out; only the record of it is missing, which a person can see.
            log.warning("escalation not recorded", sink=sink_name, error=str(exc))
            return
        if escalated:
            self._kpis.escalated.labels(sink_name).inc()
            log.info("alert escalated", sink=sink_name, run_id=str(run_id))
