"""The OperatorConfig's ``RunbooksSynced`` condition: the runbook sync as ``kubectl`` shows it.

Written by the controller (the leader replica) with the rest of the status, from its own
sync: ``True`` with the commit in use, ``False`` with the last error while a failed sync
keeps the previous copy (or none was ever made), absent while ``spec.runbooks`` is unset.
Each replica syncs its own copy; ``GET /api/v1/runbooks`` answers for the one it reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from punching_fist.resources.base import Condition

TYPE = "RunbooksSynced"
MAX_MESSAGE_CHARS = 1024


class SyncStatus(Protocol):
    def status(self) -> dict[str, Any]: ...


def runbooks_condition(sync: SyncStatus | None, body: Mapping[str, Any]) -> Condition | None:
    """The condition for ``sync``'s state; its transition time kept while the status holds."""
    state = sync.status() if sync is not None else {}
    if not state.get("configured") or state.get("lastAttempt") is None:
        return None
    error = state.get("error")
    status = "False" if error else "True"
    if error:
        kept = f" (still serving commit {state['commit']})" if state.get("commit") else ""
        reason, message = "SyncFailed", f"{error}{kept}"
    else:
        count = len(state.get("runbooks") or [])
        reason = "Synced"
        message = f"{count} runbook(s) at {state.get('commit') or 'the local directory'}"
        if state.get("problems"):
            message += f"; {len(state['problems'])} skipped (GET /api/v1/runbooks)"
    return Condition(
        type=TYPE,
        status=status,
        reason=reason,
        message=message[:MAX_MESSAGE_CHARS],
        last_transition_time=_since(body, status),
    )


def _since(body: Mapping[str, Any], status: str) -> str:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == TYPE and condition.get("status") == status:
            since = condition.get("lastTransitionTime")
            if isinstance(since, str):
                return since
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
