"""The Alertmanager webhook payload (format version 4), validated at the boundary."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class AlertmanagerNotification(BaseModel):
    """A webhook notification: a group of alerts sharing labels."""

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
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
