"""What a run knows while it executes, and the template context built from it.

Templates see ``.source``, ``.steps.<name>``, ``.workflow``, ``.outputs`` and ``.env`` exactly
as the design document lays them out, and ``.incident`` (issue 15: the run's incident, the
same as ``.source.incident``); this module is the one place that shape is defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.errors import RuntimeFailure


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """How a step ended: the result templates read, and an error if it failed."""

    status: StepStatus
    result: Any = None
    error: str | None = None
    failure: RuntimeFailure | None = None
    """Why it failed, as an error whose type says whether retrying may help."""

    @property
    def success(self) -> bool:
        return self.status is StepStatus.SUCCEEDED


def step_view(step_type: str, outcome: StepOutcome) -> dict[str, Any]:
    """A step as templates see it at ``.steps.<name>``."""
    return {
        "type": step_type,
        "status": outcome.status.value,
        "success": outcome.success,
        "result": outcome.result,
        "error": outcome.error,
    }


def format_duration(seconds: float) -> str:
    """Human-readable duration for messages: ``850ms``, ``12.3s``, ``4m05s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


@dataclass(kw_only=True)
class RunState:
    """Mutable state of one run; ``template_context()`` is what templates render against."""

    run_id: str
    workflow_name: str
    source: dict[str, Any]
    environment: dict[str, str]
    started_at: datetime
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    status: str = RunStatus.RUNNING.value
    completed_at: datetime | None = None

    def record(self, name: str, step_type: str, outcome: StepOutcome) -> None:
        self.steps[name] = step_view(step_type, outcome)

    def workflow_view(self) -> dict[str, Any]:
        end = self.completed_at
        duration = (end - self.started_at).total_seconds() if end else None
        return {
            "name": self.workflow_name,
            "runId": self.run_id,
            "status": self.status,
            "outputs": self.outputs,
            "startedAt": self.started_at.isoformat(),
            "completedAt": end.isoformat() if end else "",
            "duration": format_duration(duration) if duration is not None else "",
            "durationSeconds": duration,
        }

    def template_context(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "steps": self.steps,
            "workflow": self.workflow_view(),
            "outputs": self.outputs,
            "env": self.environment,
            # The incident the run's alert belongs to ({} without one): .incident.id, .title.
            "incident": self.source.get("incident") or {},
        }
