"""What each dashboard page shows, read from the store and redacted, ready for a template."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from punching_fist.engine.status import RunStatus
from punching_fist.resources.findings import Finding
from punching_fist.resources.loader import Resource, ResourceSet
from punching_fist.store import dashboard_queries, queries
from punching_fist.store.approval_rows import StoredApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.database import Database

RUN_STATUSES = [status.value for status in RunStatus]
APPROVAL_STATUSES = ["pending", "approved", "denied", "expired", "all"]


@dataclass(frozen=True, kw_only=True)
class ResourceView:
    kind: str
    name: str
    summary: str
    errors: list[str]
    warnings: list[str]


class Views:
    def __init__(
        self,
        database: Database,
        redact: Callable[[Any], Any],
        resources: Callable[[], ResourceSet],
        check: Callable[[Resource], list[Finding]],
    ) -> None:
        self._db = database
        self._redact = redact
        self._resources = resources
        self._check = check
        self._approvals = ApprovalStore(database)

    async def runs(self, *, status: str | None, workflow: str | None) -> dict[str, Any]:
        items = await dashboard_queries.recent_runs(
            self._db, status=status or None, workflow=workflow or None
        )
        return {
            "runs": self._redact(items),
            "status": status or "",
            "workflow": workflow or "",
            "statuses": RUN_STATUSES,
            "workflows": await dashboard_queries.workflow_names(self._db),
        }

    async def run(self, run_id: uuid.UUID) -> dict[str, Any]:
        detail = await queries.run_detail(self._db, run_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"run {run_id} not found")
        detail = self._redact(detail)
        by_step: dict[str | None, list[dict[str, Any]]] = {}
        for event in detail["audit"]:
            by_step.setdefault(event.get("step_name"), []).append(event)
        for step in detail["steps"]:
            step["events"] = by_step.pop(step["name"], [])
        detail["other_events"] = [e for events in by_step.values() for e in events]
        detail["alert"] = _alert_of(detail["source_context"])
        detail["live"] = detail["status"] not in _FINISHED
        return dict(detail)

    async def approvals(self, status: str | None) -> list[dict[str, Any]]:
        wanted = None if status in (None, "", "all") else status
        items, _ = await self._approvals.search(status=wanted, limit=200)
        return [dict(self._redact(item.as_json())) for item in items]

    async def approval(self, approval_id: uuid.UUID) -> StoredApproval | None:
        return await self._approvals.get(approval_id)

    def resources(self) -> list[ResourceView]:
        current = self._resources()
        loaded: list[Resource] = [
            *current.sources.values(),
            *current.workflows.values(),
            *current.sinks.values(),
        ]
        if current.operator_config is not None:
            loaded.append(current.operator_config)
        views = []
        for resource in loaded:
            findings = self._check(resource)
            views.append(
                ResourceView(
                    kind=resource.kind,
                    name=resource.metadata.name or "",
                    summary=_summary(resource),
                    errors=[f.text for f in findings if not f.warning],
                    warnings=[f.text for f in findings if f.warning],
                )
            )
        return views


_FINISHED = {RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, "cancelled"}


def _alert_of(context: Any) -> dict[str, Any]:
    """The alert a run started from, as its source context holds it (or nothing)."""
    if not isinstance(context, dict):
        return {}
    data = context.get("data")
    alert = data.get("alert") if isinstance(data, dict) else None
    return alert if isinstance(alert, dict) else {}


def _summary(resource: Resource) -> str:
    spec = getattr(resource, "spec", None)
    if spec is None:
        return ""
    kind = getattr(spec, "type", None)
    steps = getattr(spec, "steps", None)
    if steps is not None:
        return f"{len(steps)} steps: " + ", ".join(f"{s.name} ({s.type})" for s in steps)
    return str(kind or "")
