"""Resolving secret references: ``env://NAME`` here, the other schemes in ``operator/``.

Resolvers are looked up by scheme and handed in at start-up (``operator.runtime.
add_secret_schemes``). Secret values never appear in error messages; every value resolved is
remembered so output can be redacted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from punching_fist.errors import SecretResolutionError

REDACTED = "[redacted]"

SECRET_MANAGER_SCHEMES: Mapping[str, str] = {"kubernetes": "k8s", "vault": "vault"}
"""The reference scheme of each ``secretManager.type`` that has a working backend."""
SUPPORTED_SECRET_MANAGERS = frozenset(SECRET_MANAGER_SCHEMES)
"""The OperatorConfig ``secretManager.type`` values that work; any other is a validation error."""
SCHEMES = frozenset({"env", *SECRET_MANAGER_SCHEMES.values()})
"""Every reference scheme a server can resolve (``k8s://`` needs Kubernetes mode)."""


class SchemeResolver(Protocol):
    async def resolve(self, reference: str) -> str: ...


class EnvResolver:
    """``env://NAME`` reads the process environment of the server (at call time, not import)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    async def resolve(self, reference: str) -> str:
        name = reference.removeprefix("env://")
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(name)
        if not name or value is None:
            raise SecretResolutionError(f"secret {reference!r}: environment variable is not set")
        return value


class SecretResolver:
    """Dispatches a reference to the resolver for its scheme and tracks known values."""

    def __init__(self, resolvers: Mapping[str, SchemeResolver] | None = None) -> None:
        self._resolvers: dict[str, SchemeResolver] = dict(resolvers or {"env": EnvResolver()})
        self._known: set[str] = set()

    def register(self, scheme: str, resolver: SchemeResolver) -> None:
        self._resolvers[scheme] = resolver

    async def resolve(self, reference: str) -> str:
        scheme, sep, _ = reference.partition("://")
        resolver = self._resolvers.get(scheme) if sep else None
        if resolver is None:
            known = ", ".join(f"{s}://" for s in sorted(self._resolvers))
            raise SecretResolutionError(
                f"unsupported secret reference {_describe(reference)}: use one of {known}"
            )
        value = await resolver.resolve(reference)
        if len(value) >= 4:  # very short values would redact ordinary words
            self._known.add(value)
        return value

    def redact(self, text: str) -> str:
        """``text`` with every secret value this resolver has handed out replaced."""
        for value in sorted(self._known, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text


def is_reference(value: str) -> bool:
    return "://" in value and value.split("://", 1)[0] in SCHEMES


def _describe(reference: str) -> str:
    # Never echo what might be a literal secret pasted where a reference belongs.
    if "://" in reference:
        return repr(reference.split("://", 1)[0] + "://...")
    return "(a literal value, not a reference)"
