"""Which of an incident's alerts an investigation names as caused by what it investigated.

When the investigating run's agent step concludes (a root cause, not inconclusive), its text
(``root_cause``, ``summary``, ``findings``) is read for the names of the incident's other
alerts: a pod, workload or container label value, or the alertname. Each alert named is
recorded ``caused_by`` the investigated alert, with the model's confidence
(``store.incident_causes``).

The rule is deliberately strict, since a wrong link misleads the SRE more than a missing one:

- a name matches as a whole token, case-sensitively: not preceded by a letter, digit, ``_``,
  ``-`` or ``.``, not followed by a letter, digit, ``_`` or ``-``, nor by ``.`` and another
  name character (``api-0.`` ending a sentence names ``api-0``; ``api-0.svc`` and
  ``api-0-x`` do not);
- a name the investigated alert also carries is no evidence (in a storm of one Deployment's
  pods every alert has the same alertname and Deployment), nor is one shorter than
  ``MIN_NAME`` characters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from punching_fist.store.incident_causes import IncidentAlert

NAME_LABELS = (
    "pod",
    "pod_name",
    "kubernetes_pod_name",
    "container",
    "container_name",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
    "cronjob",
    "owner_name",
    "created_by_name",
    "replicaset",
)
"""Labels whose values name a pod, its workload or its container."""
MIN_NAME = 3
REASON = "investigation"


def names_of(alert_name: str | None, labels: Mapping[str, Any]) -> set[str]:
    """The names an alert may be called by in an investigation's text."""
    names = {str(labels[label]) for label in NAME_LABELS if labels.get(label)}
    if alert_name:
        names.add(alert_name)
    return {name for name in names if len(name) >= MIN_NAME}


def concluded(result: Mapping[str, Any]) -> bool:
    """A diagnosis: a root cause, and not marked inconclusive."""
    cause = result.get("root_cause") or result.get("rootCause")
    return not result.get("inconclusive") and isinstance(cause, str) and bool(cause.strip())


def confidence_of(result: Mapping[str, Any]) -> float | None:
    """The model's confidence, within 0..1; None when it gave none."""
    value = result.get("confidence")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value), 0.0), 1.0)


def text_of(result: Mapping[str, Any]) -> str:
    """The conclusion's prose the names are looked for in, one line per part."""
    parts: list[Any] = [result.get("root_cause") or result.get("rootCause"), result.get("summary")]
    findings = result.get("findings")
    if isinstance(findings, list):
        parts.extend(findings)
    return "\n".join(part for part in parts if isinstance(part, str))


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` holds ``name`` as a whole token (the module docstring's rule)."""
    pattern = rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)"
    return re.search(pattern, text) is not None


def named_alerts(
    result: Mapping[str, Any],
    parent: IncidentAlert,
    candidates: Iterable[IncidentAlert],
) -> list[uuid.UUID]:
    """The candidates the concluded ``result`` names, in the order given; none when the
    result is no diagnosis."""
    if not concluded(result):
        return []
    text = text_of(result)
    if not text:
        return []
    shared = names_of(parent.alert_name, parent.labels)
    named: list[uuid.UUID] = []
    for candidate in candidates:
        names = names_of(candidate.alert_name, candidate.labels) - shared
        if any(mentions(text, name) for name in sorted(names)):
            named.append(candidate.alert_id)
    return named
