"""What the dashboard works with, handed in by the composition root (``server.service``).

Protocols rather than the services' classes: the dashboard sits beside ``approvals`` in the
layers and calls them only through what the server hands it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from punching_fist.api.auth import ApiAuth
from punching_fist.incidents.feedback import FeedbackService
from punching_fist.resources.findings import Finding
from punching_fist.resources.loader import Resource, ResourceSet
from punching_fist.store.approval_rows import Decision
from punching_fist.store.database import Database
from punching_fist.store.tables import utcnow


class Decider(Protocol):
    """``approvals.service.ApprovalService``: records a decision and resumes the run."""

    async def decide(
        self, approval_id: uuid.UUID, *, approved: bool, feedback: str | None, decided_by: str
    ) -> Decision | None: ...


TryWorkflow = Callable[[bytes, str | None], Awaitable[tuple[str, dict[str, Any]]]]


class Resender(Protocol):
    """``engine.delivery.dispatch.SinkDispatch``: re-sends a delivery now."""

    async def retry(self, delivery_id: uuid.UUID) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class DashboardDeps:
    database: Database
    auth: ApiAuth
    approvals: Decider
    sinks: Resender
    resources: Callable[[], ResourceSet]
    check: Callable[[Resource], list[Finding]]
    """What is wrong with a loaded resource (``validation.check_resource``)."""
    redact: Callable[[Any], Any]
    feedback: FeedbackService | None = None
    """None: the feedback buttons answer 404 (a service built without incidents)."""
    try_workflow: TryWorkflow | None = None
    """Replays a stored alert (``replay.dashboard``); None: not offered."""
    public_url: str | None = None
    """``serve --public-url``: an https one makes the session cookie Secure (TLS ends at an
    ingress, and ``serve`` reads no proxy headers)."""
    clock: Callable[[], float] = time.time
    now: Callable[[], datetime] = utcnow
