"""Facts that nothing is wrong: a heartbeat alert, a workload that is whole again.

The alert's own text is read only here, to recognise a heartbeat (an alert that fires all
the time by design).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from punching_fist.agent.evidence_plan import is_failing, table_rows
from punching_fist.agent.facts.base import Observed

_HEARTBEAT_NAMES = frozenset(
    {"watchdog", "deadmansswitch", "deadmanssnitch", "heartbeat", "alwaysfiring"}
)
_HEARTBEAT_TEXT = re.compile(
    r"always (?:be )?firing|alerting pipeline is functional|dead ?man'?s? ?(?:switch|snitch)",
    re.IGNORECASE,
)


def heartbeat_fact(alert: Mapping[str, Any]) -> str | None:
    """A heartbeat alert (Watchdog, DeadMansSwitch) fires while the pipeline works."""
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    name = str(labels.get("alertname", "")) if isinstance(labels, Mapping) else ""
    texts = annotations.values() if isinstance(annotations, Mapping) else ()
    if name.lower().replace("_", "") in _HEARTBEAT_NAMES or any(
        isinstance(text, str) and _HEARTBEAT_TEXT.search(text) for text in texts
    ):
        return (
            f"Nothing is wrong: {name or 'this alert'} is a heartbeat alert. It fires all the"
            " time by design, to show that the alerting pipeline works."
        )
    return None


_WORKLOAD = re.compile(r"^get (deployment|statefulset|daemonset) (\S+) -n (\S+) -o wide$")
_READY_OF = re.compile(r"^(\d+)/(\d+)$")


def recovered_fact(observed: Observed) -> str | None:
    """A workload alert whose workload is whole again: every replica ready and available,
    none of its pods failing or restarting. The alert reports what was; this is what is."""
    outputs = dict(observed)
    for command, output in observed:
        found = _WORKLOAD.match(command)
        rows = table_rows(output) if found else []
        if found is None or len(rows) != 1:
            continue
        kind, name, namespace = found[1], found[2], found[3]
        row = rows[0]
        if kind == "daemonset":
            desired = row.get("DESIRED", "")
            whole = desired not in ("", "0") and all(
                row.get(column) == desired for column in ("READY", "UP-TO-DATE", "AVAILABLE")
            )
            ready = f"{row.get('READY')}/{desired}"
        else:
            counts = _READY_OF.match(row.get("READY", ""))
            whole = counts is not None and counts[1] == counts[2] != "0"
            if "AVAILABLE" in row:
                whole = whole and row["AVAILABLE"] == row.get("READY", "").split("/")[-1]
            ready = row.get("READY", "")
        pods = [
            pod
            for pod in table_rows(outputs.get(f"get pods -n {namespace} -o wide", ""))
            if pod.get("NAME", "").startswith(f"{name}-")
        ]
        if whole and pods and not any(is_failing(pod) for pod in pods):
            return (
                f"Nothing is wrong now: {kind} {name} has recovered. It is whole: {ready}"
                " replicas ready and available, none of its pods failing or restarting."
            )
    return None
