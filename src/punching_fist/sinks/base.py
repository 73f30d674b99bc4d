"""What every sink implements, and what it is handed.

A driver delivers one result and says how it went; it never touches the database. What it
needs to stay idempotent comes in on the ``Delivery`` (the stable ``idempotency_key``, the
``attempt`` number, and ``previous``: what this sink stored for the same alert or incident
before), and what it wants remembered goes back on the ``DeliveryReport`` (``remember``).
Failures are raised with their retry meaning in the type: ``TemporaryFailure(delay=...)`` is
retried, ``DeliveryFailed`` and configuration errors are not.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from punching_fist.engine.status import DeliveryStatus


@dataclass(frozen=True, kw_only=True)
class Correlation:
    """What a sink keeps per alert or incident: the Slack thread, the Jira issue, the silence."""

    external_ref: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One workflow result on its way to one sink."""

    run_id: uuid.UUID
    sink_name: str
    context: Mapping[str, Any]  # the template context: .source, .workflow, .outputs, .steps
    fingerprint: str | None = None
    delivery_id: str = ""
    idempotency_key: str = ""
    """Stable across every attempt and restart of this delivery."""
    attempt: int = 1
    """1 for the first try; higher means an earlier try may or may not have arrived."""
    correlation_key: str = ""
    """Names the alert or incident (``alert:<source>:<fingerprint>``, ``incident:<id>``)."""
    previous: Correlation | None = None
    """What this sink remembered for ``correlation_key`` from an earlier delivery."""
    delivered_ref: str | None = None
    """This delivery's own external reference when it was delivered before (a manual re-send)."""


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    status: DeliveryStatus
    response: Mapping[str, Any] = field(default_factory=dict)
    """A short summary of what the destination answered; stored, so never secrets."""
    external_ref: str | None = None
    error: str | None = None
    remember: Correlation | None = None
    """Stored under the delivery's ``correlation_key`` for the next delivery of the same alert."""


class SinkDriver(Protocol):
    """Delivers results to one destination; raises ``DeliveryFailed``/``TemporaryFailure``."""

    async def deliver(self, delivery: Delivery) -> DeliveryReport: ...
