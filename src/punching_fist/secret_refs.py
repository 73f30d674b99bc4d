"""Resolving secret references: ``env://NAME`` here, the other schemes in ``operator/``.

Resolvers are looked up by scheme and handed in at start-up (``operator.runtime.
add_secret_schemes``). Secret values never appear in error messages; every value resolved is
remembered so output can be redacted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from punching_fist.errors import SecretResolutionError

REDACTED = "[redacted]"

SECRET_MANAGER_SCHEMES: Mapping[str, str] = {
    "kubernetes": "k8s",
    "vault": "vault",
    "aws-secrets": "aws-secrets",
    "azure-keyvault": "azure-keyvault",
}
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


class CachingResolver:
    """Keeps each value for ``ttl`` seconds, so a secret manager is not asked on every request.

    Webhook secrets are checked per request, and remote managers are slow and billed per call;
    a rotated value is picked up within ``ttl``. Failures are not kept.
    """

    def __init__(
        self,
        resolver: SchemeResolver,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._ttl = ttl
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}

    async def resolve(self, reference: str) -> str:
        kept = self._values.get(reference)
        if kept is not None and self._clock() < kept[1]:
            return kept[0]
        value = await self._resolver.resolve(reference)
        self._values[reference] = (value, self._clock() + self._ttl)
        return value


class SecretResolver:
    """Dispatches a reference to the resolver for its scheme and tracks known values."""

    def __init__(self, resolvers: Mapping[str, SchemeResolver] | None = None) -> None:
        self._resolvers: dict[str, SchemeResolver] = dict(resolvers or {"env": EnvResolver()})
        self._known: set[str] = set()

    def register(self, scheme: str, resolver: SchemeResolver) -> None:
        self._resolvers[scheme] = resolver

    @property
    def schemes(self) -> frozenset[str]:
        """The schemes registered so far."""
        return frozenset(self._resolvers)

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

    def redact_data(self, value: Any) -> Any:
        """JSON-like ``value`` with every string in it (keys too) redacted, as a copy."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact_data(k): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_data(item) for item in value]
        return value


def is_reference(value: str) -> bool:
    return "://" in value and value.split("://", 1)[0] in SCHEMES


def json_field(reference: str, value: str, key: str) -> str:
    """Field ``key`` of a secret whose value is a JSON object (``...#key`` references)."""
    try:
        fields = json.loads(value)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise SecretResolutionError(
            f"secret {reference!r}: #{key} needs a JSON object as the secret's value; "
            "drop #key to use the whole value"
        )
    if key not in fields:
        raise SecretResolutionError(f"secret {reference!r}: the secret has no key {key!r}")
    return str(fields[key])


def _describe(reference: str) -> str:
    # Never echo what might be a literal secret pasted where a reference belongs.
    if "://" in reference:
        return repr(reference.split("://", 1)[0] + "://...")
    return "(a literal value, not a reference)"
