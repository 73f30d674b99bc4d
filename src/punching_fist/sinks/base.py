"""What every sink implements, and what it is handed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_IMPLEMENTED = "not_implemented"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One workflow result on its way to one sink."""

    run_id: str
    sink_name: str
    context: Mapping[str, Any]  # the template context: .source, .workflow, .outputs, .steps
    fingerprint: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    status: DeliveryStatus
    response: Mapping[str, Any] = field(default_factory=dict)
    external_ref: str | None = None
    error: str | None = None


class SinkDriver(Protocol):
    """Delivers results to one destination; raises ``DeliveryFailed``/``TemporaryFailure``."""

    async def deliver(self, delivery: Delivery) -> DeliveryReport: ...
