"""Investigate once per incident: a run whose incident is already investigated skips its
agent steps and points at the run that investigates (storm control, issue 15).

The run itself goes on: its other steps run and its sinks still receive it (an update of
the incident for the SRE), only no second LLM investigation starts. The first run to start
an agent step claims the incident (``store.incident_runs``); if its investigation fails
the claim is released so the next alert's run may try. A workflow with
``investigate: perAlert`` investigates every run; its first still gives the incident its
summary.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from punching_fist.engine.investigations import investigates
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.incidents.causes import REASON, concluded, confidence_of, named_alerts
from punching_fist.resources.workflow import Step, Workflow
from punching_fist.store.incident_runs import IncidentRunStore

log = structlog.get_logger(__name__)


def incident_of(source_context: Mapping[str, Any]) -> uuid.UUID | None:
    """The incident the run's alert joined (``.source.incident.id``), if any."""
    incident = source_context.get("incident")
    if not isinstance(incident, Mapping) or not incident.get("id"):
        return None
    try:
        return uuid.UUID(str(incident["id"]))
    except ValueError:
        return None


class IncidentInvestigations:
    def __init__(self, store: IncidentRunStore) -> None:
        self._store = store

    async def attach(
        self,
        run_id: uuid.UUID,
        source_context: Mapping[str, Any],
        workflow: Workflow,
        step: Step,
        context: Mapping[str, Any],
    ) -> StepOutcome | None:
        """A skipped outcome when another run investigates the incident; None: run the step
        (it is no investigation, the run has no incident, or this run investigates)."""
        incident_id = incident_of(source_context)
        if incident_id is None or not investigates(step, context):
            return None
        investigator = await self._store.claim(incident_id, run_id)
        if investigator is None or workflow.spec.investigate == "perAlert":
            return None
        log.info(
            "agent step attached to the incident's investigation",
            step=step.name,
            incident=str(incident_id),
            investigation=str(investigator.run_id),
        )
        return StepOutcome(
            status=StepStatus.SKIPPED,
            result={
                "attachedTo": str(investigator.run_id),
                "incident": str(incident_id),
                "reason": (
                    f"incident {incident_id} is investigated once, by run {investigator.run_id}"
                ),
                "investigation": investigator.summary,
            },
        )

    async def finished(
        self, run_id: uuid.UUID, source_context: Mapping[str, Any], outcome: StepOutcome
    ) -> None:
        """After an investigating step: its result to the incident (and the alerts its
        diagnosis names, ``caused_by``: ``incidents.causes``), or the claim released."""
        incident_id = incident_of(source_context)
        if incident_id is None:
            return
        if outcome.status is StepStatus.SUCCEEDED and isinstance(outcome.result, dict):
            result = outcome.result
            await self._store.record(incident_id, run_id, result)
            if concluded(result):
                linked = await self._store.link_causes(
                    incident_id,
                    run_id,
                    lambda found: named_alerts(result, found.alert, found.others),
                    confidence=confidence_of(result),
                    reason=f"{REASON}:{run_id}",
                )
                if linked:
                    log.info(
                        "investigation linked alerts as caused by its alert",
                        incident=str(incident_id),
                        run=str(run_id),
                        alerts=linked,
                    )
        elif outcome.status is StepStatus.FAILED:
            await self._store.release(incident_id, run_id)
