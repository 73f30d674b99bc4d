"""Which incident an alert belongs with: its correlation keys, from labels and pod names.

Pure functions, no database: ``engine.intake`` hands each new alert's keys to
``incidents.assign``, which finds the incident holding any of them. Keys are ordered by how
strong the evidence is: the same fingerprint (a refire), the same Alertmanager group, the
same workload, then the OperatorConfig's ``correlateBy`` label sets.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

# Kubernetes names its generated suffixes from this alphabet (no vowels, no 0/1/3): a
# ReplicaSet's pod-template hash and a pod's random suffix. Matching only it keeps real
# words such as ``-server`` or ``-worker`` from being taken for a suffix.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOYMENT_POD = re.compile(rf"^(?P<name>.+)-{_SAFE}{{6,10}}-{_SAFE}{{5}}$")
_STATEFUL_POD = re.compile(r"^(?P<name>.+)-(?:0|[1-9][0-9]{0,5})$")
_GENERATED_POD = re.compile(rf"^(?P<name>.+)-{_SAFE}{{5}}$")
_REPLICASET = re.compile(rf"^(?P<name>.+)-{_SAFE}{{6,10}}$")

_NAMESPACE_LABELS = ("namespace", "kubernetes_namespace")
_POD_LABELS = ("pod", "pod_name", "kubernetes_pod_name")
# Labels that name the owner outright (kube-state-metrics and common relabelings).
_OWNER_LABELS = (
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("job_name", "Job"),
    ("cronjob", "CronJob"),
)
KEY_CHARS = 512


@dataclass(frozen=True, slots=True)
class Workload:
    """A namespace and the name of what owns the alerting pods; ``kind`` is a best guess
    where only a pod name was given, and is not part of the key."""

    namespace: str
    name: str
    kind: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{where}{self.name} ({self.kind})"


def _owner(labels: Mapping[str, str]) -> tuple[str, str] | None:
    for label, kind in _OWNER_LABELS:
        if labels.get(label):
            return labels[label], kind
    for name_label, kind_label in (
        ("owner_name", "owner_kind"),
        ("created_by_name", "created_by_kind"),
    ):
        name = labels.get(name_label)
        if not name:
            continue
        kind = labels.get(kind_label) or "Owner"
        if kind == "ReplicaSet":
            return _replicaset_owner(name)
        return name, kind
    if labels.get("replicaset"):
        return _replicaset_owner(labels["replicaset"])
    return None


def _replicaset_owner(name: str) -> tuple[str, str]:
    match = _REPLICASET.match(name)
    return (match["name"], "Deployment") if match else (name, "ReplicaSet")


def pod_owner(pod: str) -> tuple[str, str]:
    """The owner's name and likely kind from a pod's generated name; the pod's own name
    when it has no generated suffix (a bare pod is its own workload)."""
    for pattern, kind in (
        (_DEPLOYMENT_POD, "Deployment"),
        (_STATEFUL_POD, "StatefulSet"),
        (_GENERATED_POD, "DaemonSet"),  # or a Job's pod: the same shape
    ):
        match = pattern.match(pod)
        if match:
            return match["name"], kind
    return pod, "Pod"


def workload_of(labels: Mapping[str, str]) -> Workload | None:
    """The alert's workload, from owner labels or else its pod's name; None without either."""
    namespace = next((labels[n] for n in _NAMESPACE_LABELS if labels.get(n)), "")
    owner = _owner(labels)
    if owner is None:
        pod = next((labels[p] for p in _POD_LABELS if labels.get(p)), None)
        if pod is None:
            return None
        owner = pod_owner(pod)
    return Workload(namespace=namespace, name=owner[0], kind=owner[1])


class KeyKind(StrEnum):
    FINGERPRINT = "fingerprint"
    GROUP = "group"
    WORKLOAD = "workload"
    LABELS = "labels"


@dataclass(frozen=True, slots=True)
class CorrelationKey:
    kind: KeyKind
    key: str
    """What ``incident_keys`` stores: readable, or hashed when longer than a column holds."""
    reason: str
    """Why two alerts with this key belong together, for the relationship and the API."""


def _key(kind: KeyKind, text: str, reason: str) -> CorrelationKey:
    key = f"{kind.value}:{text}"
    if len(key) > KEY_CHARS:
        key = f"{kind.value}:sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    return CorrelationKey(kind=kind, key=key, reason=reason[:255])


_REFIRE = "the same alert fired again"


# The alerts of a storm share these: built once, not per alert.
@functools.lru_cache(maxsize=4096)
def _group_key(source_name: str, group_key: str) -> CorrelationKey:
    return _key(KeyKind.GROUP, f"{source_name}/{group_key}", f"Alertmanager group {group_key}")


@functools.lru_cache(maxsize=4096)
def _workload_key(workload: Workload) -> CorrelationKey:
    return _key(KeyKind.WORKLOAD, workload.key, f"workload {workload}")


def correlation_keys(
    *,
    source_name: str,
    fingerprint: str,
    labels: Mapping[str, str],
    group_key: str | None,
    workload: Workload | None,
    label_sets: Sequence[Sequence[str]] = (),
) -> list[CorrelationKey]:
    """The alert's keys, strongest first; two alerts sharing any one join one incident."""
    keys = [_key(KeyKind.FINGERPRINT, f"{source_name}/{fingerprint}", _REFIRE)]
    if group_key:
        keys.append(_group_key(source_name, group_key))
    if workload is not None:
        keys.append(_workload_key(workload))
    for position, names in enumerate(label_sets):
        values = [labels.get(name) for name in names]
        if all(values):
            shown = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
            text = f"{position}:{json.dumps(values, separators=(',', ':'))}"
            keys.append(_key(KeyKind.LABELS, text, f"correlateBy {shown}"))
    return keys


SEVERITY_RANK = {
    "critical": 5,
    "page": 5,
    "high": 4,
    "error": 4,
    "major": 4,
    "warning": 3,
    "medium": 3,
    "minor": 2,
    "low": 2,
    "info": 1,
    "none": 0,
}


def higher_severity(current: str, other: str) -> str:
    """The more severe of two severities; unknown words rank lowest."""
    if SEVERITY_RANK.get(other.lower(), 0) > SEVERITY_RANK.get(current.lower(), 0):
        return other
    return current
