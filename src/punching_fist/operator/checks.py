"""What the API server cannot check and a user must hear about: each becomes an Event.

The CRD schema rejects wrong structure and enums at ``kubectl apply``. Templates that do not
compile, references to missing workflows or sinks, and secrets that cannot be resolved are
only visible to us; they are reported as Warning Events and a ``Ready=False`` condition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from punching_fist.agent.evidence import evidence_problems
from punching_fist.errors import SecretResolutionError, TemplateError
from punching_fist.operator.mirror import parse_object
from punching_fist.resources.loader import Resource, ResourceSet, format_location
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.references import check_references, workflow_templates
from punching_fist.resources.sink import Sink
from punching_fist.resources.workflow import Workflow
from punching_fist.secret_refs import SecretResolver, is_reference
from punching_fist.templating import compile_template


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One reason the resource cannot work as written; ``reason`` is the Event's reason."""

    reason: str
    message: str


def _templates(resource: Resource) -> Iterator[tuple[str, str]]:
    if isinstance(resource, Workflow):
        yield from workflow_templates(resource)
    elif isinstance(resource, Sink):
        template = getattr(resource.spec.config, "template", None)
        if isinstance(template, str):
            yield "spec.config.template", template


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


def _operator_config_secrets(config: OperatorConfig, namespace: str) -> Iterator[tuple[str, str]]:
    for name, ref in config.spec.secrets.items():
        yield f"spec.secrets.{name}", f"k8s://{namespace}/{ref.secret_ref}/{ref.key}"


class ResourceChecker:
    """Finds the problems of one resource against the current set and the secret stores."""

    def __init__(self, secrets: SecretResolver) -> None:
        self._secrets = secrets

    async def check(self, kind: str, body: dict[str, Any], resources: ResourceSet) -> list[Problem]:
        try:
            resource = parse_object(kind, body)
        except ValidationError as exc:
            return [
                Problem(
                    reason="InvalidSpec", message=f"{format_location(e['loc'], body)}: {e['msg']}"
                )
                for e in exc.errors(include_url=False)
            ]
        name = resource.metadata.name or ""
        namespace = resource.metadata.namespace or ""
        problems = self._conflicts(kind, name, namespace, resources)
        problems += self._template_problems(resource)
        if isinstance(resource, Workflow):
            problems += [
                Problem(reason="InvalidEvidence", message=message)
                for message in evidence_problems(resource)
            ]
        problems += self._reference_problems(kind, name, resource, resources, problems)
        problems += await self._secret_problems(resource, body, namespace)
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
    def _template_problems(resource: Resource) -> list[Problem]:
        problems = []
        for at, source in _templates(resource):
            try:
                compile_template(source)
            except TemplateError as exc:
                problems.append(Problem(reason="InvalidTemplate", message=f"{at}: {exc}"))
        return problems

    @staticmethod
    def _reference_problems(
        kind: str,
        name: str,
        resource: Resource,
        resources: ResourceSet,
        known: list[Problem],
    ) -> list[Problem]:
        if isinstance(resource, OperatorConfig):
            return []
        # Check this resource against the others as they are now, itself included as written.
        table = {"Source": "sources", "Workflow": "workflows", "Sink": "sinks"}[kind]
        merged = {**getattr(resources, table), name: resource}
        candidate = ResourceSet(**{**_as_kwargs(resources), table: merged})
        prefix = f"{kind}/{name}: "
        seen = {p.message for p in known}
        return [
            Problem(reason="MissingReference", message=text.removeprefix(prefix))
            for text in check_references(candidate)
            if text.startswith(prefix) and text.removeprefix(prefix) not in seen
        ]

    async def _secret_problems(
        self, resource: Resource, body: dict[str, Any], namespace: str
    ) -> list[Problem]:
        references = list(secret_references(body.get("spec") or {}))
        if isinstance(resource, OperatorConfig):
            references += list(_operator_config_secrets(resource, namespace))
        problems = []
        for at, reference in references:
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
