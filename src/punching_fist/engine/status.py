"""The run lifecycle's vocabulary: how runs, steps and deliveries stand.

The engine owns these words; the store persists them and drivers report with them. The module
imports nothing from the package, so the layers below the engine may read it (the one
exception the import-linter contract in ``pyproject.toml`` allows).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TypeAlias

RunId: TypeAlias = uuid.UUID
"""A run's id everywhere inside the process; it becomes text only in templates and JSON."""


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_LIMIT = "waiting_limit"
    """Parked before an agent step by the global investigation limits; started in order."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING_APPROVAL = "waiting_approval"

    @property
    def finished(self) -> bool:
        return self in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Owned by a worker: being sent or waiting in-process for its next attempt."""
    DEFERRED = "deferred"
    """Parked until ``next_attempt_at`` (long backoff or open breaker); the retrier takes it."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Dead-lettered: the last attempt failed or the failure was permanent."""
    SKIPPED = "skipped"
    NOT_IMPLEMENTED = "not_implemented"


class AlertStatus(StrEnum):
    RECEIVED = "received"
    FILTERED = "filtered"
    TRIAGING = "triaging"
    TRIAGED = "triaged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
