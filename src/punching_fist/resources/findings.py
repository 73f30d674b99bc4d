"""What a check found in a resource: an error to fix, or a warning (a setting with no effect)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem of one resource, at one field, said so the user knows what to change."""

    kind: str
    name: str
    at: str
    """The field path as written in YAML (``spec.steps[0].tools[1]``)."""
    message: str
    warning: bool = False
    """A setting that loads but does nothing (or less than it says); errors stop a load."""
    reason: str = "InvalidSpec"
    """The Event reason Kubernetes mode reports it under."""
    missing: tuple[str, str] | None = None
    """For a reference to a resource that does not exist: its (kind, name)."""

    @property
    def text(self) -> str:
        return f"{self.at}: {self.message}"


def error(kind: str, name: str, at: str, message: str, *, reason: str = "InvalidSpec") -> Finding:
    return Finding(kind=kind, name=name, at=at, message=message, reason=reason)


def warning(
    kind: str, name: str, at: str, message: str, *, reason: str = "IgnoredSetting"
) -> Finding:
    return Finding(kind=kind, name=name, at=at, message=message, warning=True, reason=reason)
