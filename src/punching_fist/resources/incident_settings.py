"""``spec.incidents`` of the OperatorConfig: how alerts are correlated into incidents.

The default rules (one Alertmanager group, one workload) always apply; ``correlateBy`` adds
label sets, and ``window`` says how long after its last alert an incident still takes new
ones. Checked at load, so ``validate`` names the field that is wrong.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator

from punching_fist.resources.base import SpecModel
from punching_fist.resources.durations import Duration, parse_duration

DEFAULT_WINDOW = "10m"
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class IncidentSettings(SpecModel):
    """Correlation rules beyond the defaults (same ``groupKey``, same workload)."""

    window: Duration = DEFAULT_WINDOW
    """An incident takes new alerts while open and for this long after its last alert
    or its resolution; after that the same workload or group opens a new incident."""
    correlate_by: list[list[str]] = Field(default_factory=list, max_length=20)
    """Label sets: alerts with equal values of every label of one set join one incident,
    e.g. ``[[namespace, service]]``."""

    @field_validator("correlate_by")
    @classmethod
    def _label_sets(cls, sets: list[list[str]]) -> list[list[str]]:
        for position, labels in enumerate(sets):
            if not labels:
                raise ValueError(f"correlateBy[{position}] is empty; name at least one label")
            for label in labels:
                if not _LABEL.match(label):
                    raise ValueError(f"correlateBy[{position}]: {label!r} is not a label name")
            if len(set(labels)) != len(labels):
                raise ValueError(f"correlateBy[{position}] names a label twice")
        return sets

    @property
    def window_length(self) -> timedelta:
        return parse_duration(self.window)
