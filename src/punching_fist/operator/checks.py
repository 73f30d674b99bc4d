"""What the API server cannot check and a user must hear about: each becomes an Event.

The CRD schema rejects wrong structure and enums at ``kubectl apply``. Templates that do not
compile, unknown tools, settings that do nothing, references to missing workflows or sinks,
and secrets that cannot be resolved are only visible to us (``punching_fist.validation``,
the same checks as ``punching-fist validate``). Errors are Warning Events and make the
``Ready`` condition False; warnings (a setting that loads but does nothing) are Warning
Events only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from punching_fist.errors import SecretResolutionError
from punching_fist.operator.mirror import parse_object
from punching_fist.resources.findings import Finding
from punching_fist.resources.loader import KINDS, Resource, ResourceSet, error_lines
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.references import check_references
from punching_fist.resources.source_secrets import is_offline
from punching_fist.secret_refs import SecretResolver, is_reference
from punching_fist.validation import check_resource


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One reason the resource cannot work as written; ``reason`` is the Event's reason."""

    reason: str
    message: str
    warning: bool = False
    """It loads and runs, but a setting does nothing (or less than it says)."""


def secret_references(value: Any, at: str = "spec") -> Iterator[tuple[str, str]]:
    """Every ``env://``/``k8s://``/``vault://`` string in a resource's spec, with its path."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from secret_references(sub, f"{at}.{key}")
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from secret_references(sub, f"{at}[{index}]")
    elif isinstance(value, str) and is_reference(value):
        yield at, value


def _problem(finding: Finding) -> Problem:
    return Problem(reason=finding.reason, message=finding.text, warning=finding.warning)


class ResourceChecker:
    """Finds the problems of one resource against the current set and the secret stores."""

    def __init__(
        self, secrets: SecretResolver, source_problem: Callable[[str], str | None] | None = None
    ) -> None:
        self._secrets = secrets
        self._source_problem = source_problem

    def runtime_problems(self, kind: str, body: dict[str, Any]) -> list[Problem]:
        """Why a Source that passed every check still does not run (its kubernetes watch
        cannot find its resource, say); asked each time the status is written."""
        if kind != "Source" or self._source_problem is None:
            return []
        why = self._source_problem(str(body.get("metadata", {}).get("name", "")))
        return [Problem(reason="NotRunning", message=why)] if why else []

    async def check(self, kind: str, body: dict[str, Any], resources: ResourceSet) -> list[Problem]:
        try:
            resource = parse_object(kind, body)
        except ValidationError as exc:
            return [
                Problem(reason="InvalidSpec", message=line)
                for line in error_lines(exc, body, KINDS.get(kind))
            ]
        name = resource.metadata.name or ""
        namespace = resource.metadata.namespace or ""
        problems = self._conflicts(kind, name, namespace, resources)
        problems += [_problem(finding) for finding in check_resource(resource)]
        problems += self._reference_problems(kind, name, resource, resources)
        problems += await self._secret_problems(kind, body)
        return problems

    @staticmethod
    def _conflicts(kind: str, name: str, namespace: str, resources: ResourceSet) -> list[Problem]:
        by_kind: dict[str, Any] = {
            "Source": resources.sources,
            "Workflow": resources.workflows,
            "Sink": resources.sinks,
        }
        current = by_kind.get(kind, {}).get(name)
        if current is not None and (current.metadata.namespace or "") != namespace:
            return [
                Problem(
                    reason="NameConflict",
                    message=f"{kind} {name!r} already exists in namespace "
                    f"{current.metadata.namespace!r}; names are unique across namespaces",
                )
            ]
        return []

    @staticmethod
    def _reference_problems(
        kind: str, name: str, resource: Resource, resources: ResourceSet
    ) -> list[Problem]:
        if isinstance(resource, OperatorConfig):
            return []
        # Check this resource against the others as they are now, itself included as written.
        table = {"Source": "sources", "Workflow": "workflows", "Sink": "sinks"}[kind]
        merged = {**getattr(resources, table), name: resource}
        candidate = ResourceSet(**{**_as_kwargs(resources), table: merged})
        return [
            _problem(finding)
            for finding in check_references(candidate)
            if (finding.kind, finding.name) == (kind, name)
        ]

    async def _secret_problems(self, kind: str, body: dict[str, Any]) -> list[Problem]:
        problems = []
        for at, reference in secret_references(body.get("spec") or {}):
            if kind == "Source" and is_offline(reference):
                continue  # check_resource reported it (resources/source_secrets.py)
            try:
                await self._secrets.resolve(reference)
            except SecretResolutionError as exc:
                problems.append(Problem(reason="SecretMissing", message=f"{at}: {exc}"))
        return problems


def _as_kwargs(resources: ResourceSet) -> dict[str, Any]:
    return {
        "sources": resources.sources,
        "workflows": resources.workflows,
        "sinks": resources.sinks,
        "operator_config": resources.operator_config,
    }
