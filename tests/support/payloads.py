"""Alertmanager webhook notifications (format version 4) for tests."""

from __future__ import annotations

from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def alert(
    alertname: str = "PodCrashLooping",
    *,
    status: str = "firing",
    severity: str = "critical",
    fingerprint: str | None = "fp-1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    starts_at: str = "2026-11-25T10:00:00Z",
    ends_at: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "namespace": "shop",
            **(labels or {}),
        },
        "annotations": {
            "summary": f"{alertname} summary",
            "description": "details",
            **(annotations or {}),
        },
        "startsAt": starts_at,
        "endsAt": ends_at or (ZERO_TIME if status == "firing" else "2026-11-25T10:30:00Z"),
        "generatorURL": "http://prometheus:9090/graph",
    }
    if fingerprint is not None:
        body["fingerprint"] = fingerprint
    return body


def notification(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    alerts = alerts or (alert(),)
    overall = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    return {
        "version": "4",
        # Alertmanager's default grouping (by alertname): alerts of another name are another
        # group, so another incident.
        "groupKey": f'{{}}:{{alertname="{alerts[0]["labels"]["alertname"]}"}}',
        "truncatedAlerts": 0,
        "status": overall,
        "receiver": "punchingfist",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
