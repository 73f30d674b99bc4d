"""Which alert or incident a delivery belongs to, as one string key.

Follow-ups go where the first message went: the Slack thread, the Jira issue, the silence,
the PagerDuty incident. They find it through this key, stored with what the sink remembered
in ``sink_correlations``. An alert grouped into an incident shares the incident's key; a run
started by a ``workflow`` sink carries its parent's key, so a chained escalation replies in
the same thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

KEY_LIMIT = 255
CORRELATION_FIELD = "correlationKey"
"""Where a chained run's source context carries its parent's key."""


def correlation_key(
    source_context: Mapping[str, Any], *, incident_id: str | None, run_id: str
) -> str:
    explicit = source_context.get(CORRELATION_FIELD)
    if explicit:
        return _bounded(str(explicit))
    if incident_id:
        return f"incident:{incident_id}"
    data = source_context.get("data") or {}
    alert = data.get("alert") if isinstance(data, Mapping) else None
    fingerprint = alert.get("fingerprint") if isinstance(alert, Mapping) else None
    if fingerprint:
        return _bounded(f"alert:{source_context.get('name') or ''}:{fingerprint}")
    return f"run:{run_id}"


def short_hash(key: str, length: int = 16) -> str:
    """A stable, label-safe token for ``key`` (Jira labels, silence comments)."""
    return hashlib.sha256(key.encode()).hexdigest()[:length]


def _bounded(key: str) -> str:
    if len(key) <= KEY_LIMIT:
        return key
    return key[: KEY_LIMIT - 17] + "#" + short_hash(key)
