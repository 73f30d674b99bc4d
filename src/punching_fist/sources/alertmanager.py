"""The Alertmanager webhook payload (format version 4), validated at the boundary."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Alertmanager sends this while an alert is firing: "no end yet".
ZERO_TIME_PREFIX = "0001-01-01"


class AlertmanagerAlert(BaseModel):
    """One alert of a notification."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    def identity(self) -> str:
        """Alertmanager's fingerprint, or a stable hash of the sorted label set without one."""
        if self.fingerprint:
            return self.fingerprint
        canonical = json.dumps(sorted(self.labels.items()), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def effective_ends_at(self) -> datetime | None:
        """``endsAt``, or None while firing (Alertmanager's zero time)."""
        if self.ends_at is None or self.ends_at.year <= 1:
            return None
        return self.ends_at

    def template_view(self) -> dict[str, Any]:
        """The alert as workflow templates see it at ``.source.data.alert``."""
        ends_at = self.effective_ends_at()
        return {
            "alertname": self.labels.get("alertname", ""),
            "summary": self.annotations.get("summary", ""),
            "description": self.annotations.get("description", ""),
            "severity": self.labels.get("severity", ""),
            "status": self.status,
            "fingerprint": self.identity(),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at.isoformat() if self.starts_at else "",
            "endsAt": ends_at.isoformat() if ends_at else "",
            "generatorURL": self.generator_url,
        }


class AlertmanagerGroup(BaseModel):
    """What every alert of a notification shares: Alertmanager's group fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = "4"
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")

    def template_view(self) -> dict[str, Any]:
        """The group as templates see it at ``.source.data.notification``, under Alertmanager's
        names. Without the alerts: each run has its own at ``.source.data.alert``."""
        return {
            "version": self.version,
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
            "status": self.status,
            "receiver": self.receiver,
            "groupLabels": dict(self.group_labels),
            "commonLabels": dict(self.common_labels),
            "commonAnnotations": dict(self.common_annotations),
            "externalURL": self.external_url,
        }


class AlertmanagerNotification(AlertmanagerGroup):
    """A webhook notification: a group of alerts sharing labels."""

    alerts: list[AlertmanagerAlert] = Field(min_length=1)


class NotificationEnvelope(AlertmanagerGroup):
    """A notification whose alerts are left as JSON values, to be validated one slice at a
    time (a large notification) or one by one (to refuse only the invalid ones)."""

    alerts: list[Any] = Field(min_length=1)


ALERT_LIST: TypeAdapter[list[AlertmanagerAlert]] = TypeAdapter(list[AlertmanagerAlert])
