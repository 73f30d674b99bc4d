"""Kubernetes label selectors, matched here rather than by the API server.

A kubernetes Source watches its whole collection and applies its ``labelSelector`` itself:
the server's filtered watch reports an object that gains the label as ADDED and one that
loses it as DELETED, indistinguishable from a creation or deletion. Matching here tells
``entered``/``exited`` from ``created``/``deleted``. The syntax is the API server's:
``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, comma-joined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # in, notin, exists, absent
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "absent":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # notin (and !=): absent matches


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; an empty selector selects everything."""

    requirements: tuple[_Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        return cls(tuple(_requirement(part) for part in _split(text)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


def _split(text: str) -> list[str]:
    """Commas separate requirements, except inside a set's parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _requirement(part: str) -> _Requirement:
    if found := _SET.match(part):
        values = frozenset(v.strip() for v in found.group(4).split(",") if v.strip())
        return _Requirement(found.group(1), found.group(3), values)
    if found := _EQUALITY.match(part):
        operator = "notin" if found.group(3) == "!=" else "in"
        return _Requirement(found.group(1), operator, frozenset({found.group(4)}))
    if found := _EXISTS.match(part):
        return _Requirement(found.group(2), "absent" if found.group(1) else "exists")
    raise ValueError(f"not a label selector requirement: {part.strip()!r}")
