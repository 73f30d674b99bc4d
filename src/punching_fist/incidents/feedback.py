"""People telling the system whether its investigation was right.

The REST route (``api.feedback``), Slack's "Root cause right / wrong" buttons
(``approvals.slack_feedback``) and ``punching-fist incidents feedback`` (through the REST
API) end here: stored with ``store.feedback`` and counted as
``punchingfist_feedback_total{correct}``. AI accuracy and escalation accuracy
(``incidents.kpis``) are computed from these answers.
"""

from __future__ import annotations

import uuid

import structlog

from punching_fist.knowledge.memory import Memory
from punching_fist.observability.kpi_metrics import KpiMetrics
from punching_fist.store.database import Database
from punching_fist.store.feedback import NewFeedback, StoredFeedback, record_feedback

log = structlog.get_logger(__name__)


class FeedbackService:
    def __init__(
        self, database: Database, kpis: KpiMetrics, *, knowledge: Memory | None = None
    ) -> None:
        self._db = database
        self._kpis = kpis
        self._knowledge = knowledge
        """The knowledge base, told what people said (``knowledge.memory.Memory.feedback``)."""

    async def give(
        self,
        incident_id: uuid.UUID,
        *,
        root_cause_correct: bool,
        given_by: str,
        source: str,
        human_needed: bool | None = None,
        notes: str | None = None,
        resolution: str | None = None,
    ) -> StoredFeedback | None:
        """Record one answer; ``None`` when there is no such incident."""
        stored = await record_feedback(
            self._db,
            NewFeedback(
                incident_id=incident_id,
                root_cause_correct=root_cause_correct,
                human_needed=human_needed,
                notes=notes,
                resolution=resolution,
                given_by=given_by,
                source=source,
            ),
        )
        if stored is None:
            return None
        self._kpis.feedback.labels(str(root_cause_correct).lower()).inc()
        if self._knowledge is not None:
            await self._knowledge.feedback(
                incident_id,
                root_cause_correct=root_cause_correct,
                given_by=given_by,
                resolution=resolution,
                notes=notes,
            )
        log.info(
            "incident feedback",
            incident_id=str(incident_id),
            root_cause_correct=root_cause_correct,
            given_by=given_by,
            source=source,
        )
        return stored
