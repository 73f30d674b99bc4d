"""Folder mode: every Source's secrets must resolve when the server starts.

A Source whose secret cannot be read would answer every request 503 (webhook, api) or
refuse every Slack request (chat); serving it would look like a working endpoint, so
``serve`` refuses to start, with one line naming each Source and field. ``env://``
references are refused at load already; this catches the schemes that need the cluster
or a cloud. In Kubernetes mode the controller reports the same problem in the Source's
status (``SecretMissing``, Ready False) instead (``operator/checks.py``).
"""

from __future__ import annotations

import structlog

from punching_fist.errors import ConfigurationError, SecretResolutionError
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source_secrets import secret_fields
from punching_fist.secret_refs import SecretResolver

log = structlog.get_logger(__name__)


class SourceSecretsPresent:
    """A server extension whose ``start`` fails when any Source's secret cannot be read."""

    def __init__(self, registry: ResourceRegistry, secrets: SecretResolver) -> None:
        self._registry = registry
        self._secrets = secrets

    async def start(self) -> None:
        problems = []
        for name, source in sorted(self._registry.current().sources.items()):
            for field in secret_fields(source):
                try:
                    await self._secrets.resolve(field.reference)
                except SecretResolutionError as exc:
                    problems.append(
                        f"Source/{name}: {field.at} cannot be read, so {field.consequence}: {exc}"
                    )
        if problems:
            problem = "; ".join(problems)
            log.error("sources cannot start", error=problem)  # one line, never cut
            raise ConfigurationError(problem)

    async def stop(self) -> None:
        return None
