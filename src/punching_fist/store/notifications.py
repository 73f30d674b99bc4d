"""A run's notification, rejoined with its source context on reading.

The intake stores each Alertmanager notification's group fields once (``notifications``)
and a run only its own alert, with ``notification_id``. Whoever reads a run back (a worker
claiming it, a delivery retried later, the API) gets the context templates were written
against: ``.source.data.alert`` and ``.source.data.notification``. Runs stored before
migration 0005 still hold their whole notification and are returned as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.sql import FromClause

from punching_fist.store.tables import notifications, workflow_runs

NOTIFICATION = notifications.c.data.label("notification_data")
"""The column readers add to their ``SELECT`` of runs (None for runs without one)."""


def runs_with_notification() -> FromClause:
    """``workflow_runs`` joined to its notification, for a ``select_from``."""
    return workflow_runs.outerjoin(
        notifications, workflow_runs.c.notification_id == notifications.c.id
    )


def select_runs() -> Select[Any]:
    """Every column of ``workflow_runs`` and ``notification_data``."""
    return select(workflow_runs, NOTIFICATION).select_from(runs_with_notification())


def with_notification(source_context: dict[str, Any], notification: Any) -> dict[str, Any]:
    """``source_context`` with the notification's group fields at ``data.notification``."""
    if notification is None:
        return source_context
    data = dict(source_context.get("data") or {})
    data["notification"] = notification
    return {**source_context, "data": data}
