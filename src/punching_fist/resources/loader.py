"""Reading resources from YAML: files, multi-document streams and folders.

Every problem names the file, the document number, the resource and the field path, so a user
can find it without guessing. All problems of a folder are collected before failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from punching_fist.errors import ResourceValidationError
from punching_fist.resources.base import API_VERSION
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source
from punching_fist.resources.workflow import Workflow

Resource = Source | Workflow | Sink | OperatorConfig

KINDS: dict[str, type[Resource]] = {
    "Source": Source,
    "Workflow": Workflow,
    "Sink": Sink,
    "OperatorConfig": OperatorConfig,
}

# Tags of discriminated unions appear in pydantic's error locations; users never wrote them.
_UNION_TAGS = frozenset(
    {"webhook", "chat", "schedule", "api", "kubernetes", "cli", "agent", "conditional"}
    | {"slack", "alertmanager", "prometheus", "jira", "pagerduty", "workflow", "stdout"}
    | {"str", "ToolSpec", "SinkRef"}
)


@dataclass(frozen=True, kw_only=True)
class LoadedResource:
    """A parsed resource and where it came from."""

    resource: Resource
    origin: str
    document: int

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def name(self) -> str | None:
        return self.resource.metadata.name


@dataclass(frozen=True, kw_only=True)
class ResourceSet:
    """The resources an engine runs with, by kind and name."""

    sources: dict[str, Source] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    operator_config: OperatorConfig | None = None


def format_location(loc: Iterable[int | str], document: Any = None) -> str:
    """Render a pydantic error location the way the user wrote the YAML (``spec.steps[1].goal``).

    With the ``document`` at hand, a key the user wrote is kept even when a union tag has its
    name (OperatorConfig ``spec.api`` beside the ``api`` Source type).
    """
    parts: list[str] = []
    node = document
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        elif isinstance(node, dict) and item in node:
            parts.append(f".{item}" if parts else item)
            node = node[item]
        elif item in _UNION_TAGS or item.startswith(("function-", "tagged-union")):
            continue
        else:
            parts.append(f".{item}" if parts else item)
            node = None
    return "".join(parts) or "(document)"


def validation_problems(prefix: str, error: ValidationError, document: Any = None) -> list[str]:
    """One line per pydantic error, each naming the field path."""
    problems = []
    for detail in error.errors(include_url=False):
        location = format_location(detail["loc"], document)
        problems.append(f"{prefix}: {location}: {detail['msg']}")
    return problems


def _describe(document: dict[str, Any]) -> str:
    kind = document.get("kind", "?")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{kind}/{name}" if name else str(kind)


def parse_document(document: Any, *, origin: str, index: int) -> Resource:
    """Validate one YAML document as a resource; raises ``ResourceValidationError``."""
    where = f"{origin}: document {index}"
    if not isinstance(document, dict):
        raise ResourceValidationError(
            [f"{where}: expected a mapping, got {type(document).__name__}"]
        )
    where = f"{where} ({_describe(document)})"
    api_version = document.get("apiVersion")
    if api_version != API_VERSION:
        raise ResourceValidationError(
            [f"{where}: apiVersion: expected {API_VERSION!r}, got {api_version!r}"]
        )
    kind = document.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ResourceValidationError(
            [f"{where}: kind: expected one of {', '.join(KINDS)}, got {kind!r}"]
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ResourceValidationError(validation_problems(where, exc, document)) from exc


def parse_yaml(text: str, *, origin: str) -> list[LoadedResource]:
    """Parse a (multi-document) YAML stream; empty documents are skipped."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ResourceValidationError([f"{origin}:{position}: invalid YAML: {problem}"]) from exc
    loaded: list[LoadedResource] = []
    problems: list[str] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        try:
            resource = parse_document(document, origin=origin, index=index)
        except ResourceValidationError as exc:
            problems.extend(exc.problems)
            continue
        loaded.append(LoadedResource(resource=resource, origin=origin, document=index))
    if problems:
        raise ResourceValidationError(problems)
    return loaded


def _yaml_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".yml"}:
            yield path


def load_directory(directory: Path) -> list[LoadedResource]:
    """Every resource in every ``*.yaml``/``*.yml`` file below ``directory``."""
    if not directory.is_dir():
        raise ResourceValidationError([f"{directory}: not a directory"])
    loaded: list[LoadedResource] = []
    problems: list[str] = []
    for path in _yaml_files(directory):
        try:
            loaded.extend(parse_yaml(path.read_text(encoding="utf-8"), origin=str(path)))
        except ResourceValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ResourceValidationError(problems)
    return loaded


def build_resource_set(loaded: Iterable[LoadedResource]) -> ResourceSet:
    """Index resources by kind and name; names must be present and unique per kind."""
    by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    origins: dict[tuple[str, str], LoadedResource] = {}
    problems: list[str] = []
    for item in loaded:
        where = f"{item.origin}: document {item.document} ({item.kind})"
        if not item.name:
            problems.append(f"{where}: metadata.name: field required")
            continue
        first = origins.setdefault((item.kind, item.name), item)
        if first is not item:
            problems.append(
                f"{where}: metadata.name: {item.kind} {item.name!r} is already defined in "
                f"{first.origin} document {first.document}"
            )
            continue
        by_kind[item.kind][item.name] = item.resource
    if len(by_kind["OperatorConfig"]) > 1:
        problems.append("more than one OperatorConfig: keep exactly one")
    if problems:
        raise ResourceValidationError(problems)
    return ResourceSet(
        sources=by_kind["Source"],
        workflows=by_kind["Workflow"],
        sinks=by_kind["Sink"],
        operator_config=next(iter(by_kind["OperatorConfig"].values()), None),
    )


def model_dump_wire(model: BaseModel) -> dict[str, Any]:
    """A resource as it is written in YAML (camelCase, defaults omitted)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
