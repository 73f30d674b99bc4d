"""The rule that decides which alerts an investigation's text names (``incidents.causes``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from punching_fist.incidents.causes import concluded, confidence_of, mentions, named_alerts
from punching_fist.store.incident_causes import IncidentAlert


def incident_alert(alertname: str, **labels: str) -> IncidentAlert:
    return IncidentAlert(alert_id=uuid.uuid4(), alert_name=alertname, labels=labels)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("redis-0 ran out of memory", True),
        ("the cause is redis-0.", True),
        ("pod shop/redis-0, evicted", True),
        ("(redis-0)", True),
        ("`redis-0` restarted", True),
        ("redis-0.redis.shop.svc did not answer", False),
        ("redis-0-backup failed", False),
        ("my-redis-0 failed", False),
        ("redis-01 failed", False),
        ("Redis-0 failed", False),
        ("redis_0 failed", False),
    ],
)
def test_a_name_matches_only_as_a_whole_token(text: str, found: bool) -> None:
    assert mentions(text, "redis-0") is found


def test_named_alerts_by_pod_container_workload_or_alertname() -> None:
    parent = incident_alert("PodCrashLooping", pod="api-0", container="api")
    by_pod = incident_alert("PodCrashLooping", pod="redis-0")
    by_workload = incident_alert("PodCrashLooping", statefulset="queue")
    by_container = incident_alert("PodCrashLooping", pod="web-0", container="nginx-proxy")
    by_alertname = incident_alert("NodeDiskPressure", node="n1")
    unnamed = incident_alert("PodCrashLooping", pod="cache-0")
    result = {
        "root_cause": "redis-0 evicted by NodeDiskPressure",
        "summary": "the queue StatefulSet stalls",
        "findings": ["nginx-proxy OOMKilled", "cache-0-old is gone"],
        "confidence": 0.8,
    }
    others = [by_pod, by_workload, by_container, by_alertname, unnamed]
    assert named_alerts(result, parent, others) == [
        by_pod.alert_id,
        by_workload.alert_id,
        by_container.alert_id,
        by_alertname.alert_id,
    ]


def test_names_the_investigated_alert_shares_are_no_evidence() -> None:
    """A storm of one Deployment: every alert has its alertname and Deployment."""
    parent = incident_alert("PodCrashLooping", pod="api-7c9f8d6b5-bbbbc", deployment="api")
    sibling = incident_alert("PodCrashLooping", pod="api-7c9f8d6b5-ccccd", deployment="api")
    result = {"root_cause": "PodCrashLooping: api OOMKilled", "confidence": 0.9}
    assert named_alerts(result, parent, [sibling]) == []


def test_short_names_are_ignored() -> None:
    parent = incident_alert("PodCrashLooping", pod="api-0")
    other = incident_alert("PodCrashLooping", pod="db-0", container="db")
    assert named_alerts({"root_cause": "db is down"}, parent, [other]) == []
    assert named_alerts({"root_cause": "db-0 is down"}, parent, [other]) == [other.alert_id]


@pytest.mark.parametrize(
    ("result", "diagnosis"),
    [
        ({"root_cause": "redis-0 OOM", "inconclusive": False}, True),
        ({"rootCause": "redis-0 OOM"}, True),
        ({"root_cause": "redis-0 OOM", "inconclusive": True}, False),
        ({"root_cause": "  ", "summary": "redis-0 OOM"}, False),
        ({"summary": "redis-0 OOM"}, False),
    ],
)
def test_only_a_diagnosis_links(result: dict[str, Any], diagnosis: bool) -> None:
    parent = incident_alert("PodCrashLooping", pod="api-0")
    other = incident_alert("PodCrashLooping", pod="redis-0")
    assert concluded(result) is diagnosis
    assert bool(named_alerts(result, parent, [other])) is diagnosis


def test_confidence_within_bounds() -> None:
    assert confidence_of({"confidence": 0.72}) == 0.72
    assert confidence_of({"confidence": 1}) == 1.0
    assert confidence_of({"confidence": 7}) == 1.0
    assert confidence_of({"confidence": True}) is None
    assert confidence_of({"confidence": "high"}) is None
    assert confidence_of({}) is None
