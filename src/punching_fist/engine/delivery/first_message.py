"""One Slack thread and one Jira issue per incident, however many of its runs deliver at once.

A delivery about an incident (``correlation_key`` ``incident:<id>``) to a sink that makes
something later deliveries refer to (the Slack thread's parent, the Jira issue) first
claims that reference (``store.sink_claims``). The claimant sends the first message; every
other delivery waits for the claim to be filled and then replies to it (``Delivery.previous``).
Per-alert keys keep today's behaviour: they are not claimed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from punching_fist.store.deliveries import DeliveryRow, DeliveryStore, StoredCorrelation
from punching_fist.store.sink_claims import SinkClaims
from punching_fist.store.tables import utcnow

log = structlog.get_logger(__name__)

FIRST_MESSAGE_SINKS = frozenset({"slack", "jira"})
"""Sink types whose first delivery about an incident creates what later ones refer to."""
INCIDENT_PREFIX = "incident:"
POLL_SECONDS = 0.1


def follows_incident(sink_type: str, key: str | None) -> bool:
    return sink_type in FIRST_MESSAGE_SINKS and bool(key) and str(key).startswith(INCIDENT_PREFIX)


class FirstMessage:
    """Claims an incident's first message per sink, and waits for another's claim."""

    def __init__(
        self,
        claims: SinkClaims,
        deliveries: DeliveryStore,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._claims = claims
        self._deliveries = deliveries
        self._sleep = sleep

    async def previous(
        self, row: DeliveryRow, *, stale: timedelta
    ) -> tuple[StoredCorrelation | None, bool]:
        """What to reply to (None: post the first message), and whether this delivery now
        holds the claim (then ``release`` it unless it delivered)."""
        key = row.correlation_key or ""
        waited = False
        while True:
            outcome = await self._claims.claim(
                row.sink_name, key, row.run_id, now=utcnow(), stale=stale
            )
            if outcome.mine:
                return None, True
            if outcome.external_ref is not None:
                if waited:
                    log.debug("incident's first message posted; replying", sink=row.sink_name)
                return StoredCorrelation(
                    external_ref=outcome.external_ref, data=outcome.data or {}
                ), False
            waited = True
            await self._sleep(POLL_SECONDS)

    async def release(self, row: DeliveryRow) -> None:
        """Drop this delivery's unfilled claim, so the incident's next delivery may post."""
        try:
            await self._claims.release(row.sink_name, row.correlation_key or "", row.run_id)
        except Exception:  # a claim left behind is taken over once stale
            log.warning("could not release an incident message claim", sink=row.sink_name)
