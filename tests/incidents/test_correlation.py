"""Workloads from labels and pod names, correlation keys, severities: no database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from punching_fist.incidents.correlation import (
    KeyKind,
    Workload,
    correlation_keys,
    higher_severity,
    pod_owner,
    workload_of,
)
from punching_fist.resources.incident_settings import IncidentSettings


@pytest.mark.parametrize(
    ("pod", "owner"),
    [
        ("api-7c9f8d6b5-x2k4j", ("api", "Deployment")),
        ("payments-api-5d8b9c7f4d-qw7zr", ("payments-api", "Deployment")),
        ("redis-0", ("redis", "StatefulSet")),
        ("kafka-broker-12", ("kafka-broker", "StatefulSet")),
        ("node-exporter-9lkxm", ("node-exporter", "DaemonSet")),
        ("standalone", ("standalone", "Pod")),
        # Words are not suffixes: "server" and "worker" have vowels, which Kubernetes'
        # generated names never do.
        ("api-server", ("api-server", "Pod")),
        ("queue-worker", ("queue-worker", "Pod")),
    ],
)
def test_pod_names_give_their_owner(pod: str, owner: tuple[str, str]) -> None:
    assert pod_owner(pod) == owner


def test_owner_labels_win_over_pod_names() -> None:
    labels = {"namespace": "prod", "deployment": "api", "pod": "other-0"}
    assert workload_of(labels) == Workload("prod", "api", "Deployment")
    assert workload_of({"namespace": "prod", "statefulset": "db"}) == Workload(
        "prod", "db", "StatefulSet"
    )
    assert workload_of({"namespace": "ci", "job_name": "migrate"}) == Workload(
        "ci", "migrate", "Job"
    )
    # kube-state-metrics' owner labels: a ReplicaSet owner is its Deployment.
    owned = {"namespace": "prod", "owner_kind": "ReplicaSet", "owner_name": "api-7c9f8d6b5"}
    assert workload_of(owned) == Workload("prod", "api", "Deployment")
    created = {"kubernetes_namespace": "x", "created_by_kind": "DaemonSet", "created_by_name": "ds"}
    assert workload_of(created) == Workload("x", "ds", "DaemonSet")
    assert workload_of({"namespace": "prod", "alertname": "HighCPU"}) is None


def test_one_deployment_one_workload_key() -> None:
    by_pod = workload_of({"namespace": "prod", "pod": "api-7c9f8d6b5-x2k4j"})
    by_label = workload_of({"namespace": "prod", "deployment": "api"})
    other_namespace = workload_of({"namespace": "staging", "pod": "api-7c9f8d6b5-x2k4j"})
    assert by_pod is not None
    assert by_label is not None
    assert other_namespace is not None
    assert by_pod.key == by_label.key == "prod/api"
    assert other_namespace.key != by_pod.key


def test_keys_strongest_first() -> None:
    labels = {"namespace": "prod", "service": "checkout", "pod": "api-0"}
    keys = correlation_keys(
        source_name="am",
        fingerprint="f1",
        labels=labels,
        group_key='{}:{alertname="X"}',
        workload=workload_of(labels),
        label_sets=[["namespace", "service"], ["team"]],
    )
    assert [k.kind for k in keys] == [
        KeyKind.FINGERPRINT,
        KeyKind.GROUP,
        KeyKind.WORKLOAD,
        KeyKind.LABELS,  # ["team"] is missing from the alert: no key
    ]
    assert keys[2].key == "workload:prod/api"
    assert keys[3].reason == "correlateBy namespace=prod, service=checkout"
    huge = correlation_keys(
        source_name="am", fingerprint="f" * 600, labels={}, group_key=None, workload=None
    )
    assert len(huge[0].key) < 100
    assert huge[0].key.startswith("fingerprint:sha256:")


def test_highest_severity() -> None:
    assert higher_severity("warning", "critical") == "critical"
    assert higher_severity("critical", "warning") == "critical"
    assert higher_severity("unknown", "info") == "info"
    assert higher_severity("info", "whatever") == "info"


def test_settings_name_the_wrong_field() -> None:
    settings = IncidentSettings.model_validate({"window": "15m", "correlateBy": [["a", "b"]]})
    assert settings.window_length.total_seconds() == 900
    with pytest.raises(ValidationError, match="window"):
        IncidentSettings.model_validate({"window": "ten minutes"})
    with pytest.raises(ValidationError, match="correlateBy"):
        IncidentSettings.model_validate({"correlateBy": [[]]})
    with pytest.raises(ValidationError, match="windo"):
        IncidentSettings.model_validate({"windo": "10m"})
