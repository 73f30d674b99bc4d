"""Reading resources from YAML: files, multi-document streams and folders.

Every problem names the file, the document number, the resource and the field path, so a user
can find it without guessing. All problems of a folder are collected before failing.

A folder may hold other YAML beside the resources (Kubernetes manifests, an Alertmanager
configuration, snippets): a document that is not ours (neither our ``apiVersion`` group nor
one of our kinds) is skipped and listed as skipped, never guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from punching_fist.errors import ResourceValidationError
from punching_fist.resources.base import API_VERSION, GROUP
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source
from punching_fist.resources.suggest import allowed_fields, did_you_mean
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


def validation_problems(
    prefix: str, error: ValidationError, document: Any = None, model: type[BaseModel] | None = None
) -> list[str]:
    """One line per pydantic error, each naming the field path (and the likely fix).

    With the ``model``, an unknown field says which allowed field it is closest to.
    """
    return [f"{prefix}: {line}" for line in error_lines(error, document, model)]


def error_lines(
    error: ValidationError, document: Any = None, model: type[BaseModel] | None = None
) -> list[str]:
    """``location: message`` per pydantic error, without the noise of union branches."""
    details = error.errors(include_url=False)
    # A tool entry is a name or a mapping: a mistake in the mapping also fails the name branch.
    mapped = {
        tuple(d["loc"][: d["loc"].index("ToolSpec")]) for d in details if "ToolSpec" in d["loc"]
    }
    lines = []
    for detail in details:
        loc = tuple(detail["loc"])
        if loc[-1:] == ("str",) and loc[:-1] in mapped:
            continue
        message = detail["msg"]
        if detail["type"] == "extra_forbidden" and model is not None:
            message += did_you_mean(str(loc[-1]), allowed_fields(model, loc[:-1]))
        elif detail["type"] == "union_tag_invalid":
            tag = (detail.get("ctx") or {}).get("tag")
            expected = str((detail.get("ctx") or {}).get("expected_tags", ""))
            if isinstance(tag, str):
                message += did_you_mean(tag, [t.strip(" '") for t in expected.split(",")])
        lines.append(f"{format_location(loc, document)}: {message}")
    return lines


def _describe(document: dict[str, Any]) -> str:
    kind = document.get("kind", "?")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{kind}/{name}" if name else str(kind)


def is_ours(document: Any) -> bool:
    """Whether a YAML document claims to be one of our resources (group or kind)."""
    if not isinstance(document, dict):
        return False
    api_version = document.get("apiVersion")
    group = api_version.split("/")[0] if isinstance(api_version, str) else None
    return group == GROUP or document.get("kind") in KINDS


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
        hint = did_you_mean(kind, KINDS) if isinstance(kind, str) else ""
        raise ResourceValidationError(
            [f"{where}: kind: expected one of {', '.join(KINDS)}, got {kind!r}{hint}"]
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ResourceValidationError(validation_problems(where, exc, document, model)) from exc


@dataclass(kw_only=True)
class Parsed:
    """What reading YAML gave: resources, problems, and documents skipped as not ours."""

    loaded: list[LoadedResource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One line per document that is not a resource of ours, saying what it is."""
    unloaded: set[tuple[str, str]] = field(default_factory=set)
    """(kind, name) of resources that did not load, so references to them are not reported
    as missing on top of their own problems."""
    rejected: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    """(origin, document number, document) of resources that failed their schema, so the
    parts of them that are valid can still be checked in the same pass."""

    def extend(self, other: Parsed) -> None:
        self.loaded += other.loaded
        self.problems += other.problems
        self.skipped += other.skipped
        self.unloaded |= other.unloaded
        self.rejected += other.rejected


def read_yaml(text: str, *, origin: str) -> Parsed:
    """Parse a (multi-document) YAML stream, collecting every problem instead of raising."""
    parsed = Parsed()
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        parsed.problems.append(f"{origin}:{position}: invalid YAML: {problem}")
        return parsed
    foreign = [(i, d) for i, d in enumerate(documents, start=1) if d is not None and not is_ours(d)]
    if foreign and len(foreign) == sum(d is not None for d in documents):
        what = "; ".join(_foreign(document) for _, document in foreign)
        parsed.skipped.append(f"{origin}: not a Punching Fist resource ({what})")
    else:
        parsed.skipped += [f"{origin}: document {i}: not ours ({_foreign(d)})" for i, d in foreign]
    for index, document in enumerate(documents, start=1):
        if document is None or not is_ours(document):
            continue
        try:
            resource = parse_document(document, origin=origin, index=index)
        except ResourceValidationError as exc:
            parsed.problems.extend(exc.problems)
            parsed.rejected.append((origin, index, document))
            metadata = document.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if isinstance(name, str):
                parsed.unloaded.add((str(document.get("kind")), name))
            continue
        parsed.loaded.append(LoadedResource(resource=resource, origin=origin, document=index))
    return parsed


def _foreign(document: Any) -> str:
    """What a document that is not ours looks like, in a few words."""
    if not isinstance(document, dict):
        return f"a YAML {type(document).__name__}"
    if "apiVersion" not in document and "kind" not in document:
        return "no apiVersion or kind"
    return f"{document.get('apiVersion')} {_describe(document)}"


def parse_yaml(text: str, *, origin: str) -> list[LoadedResource]:
    """Parse a (multi-document) YAML stream; empty and foreign documents are skipped."""
    parsed = read_yaml(text, origin=origin)
    if parsed.problems:
        raise ResourceValidationError(parsed.problems)
    return parsed.loaded


def _yaml_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".yml"}:
            yield path


def read_directory(directory: Path) -> Parsed:
    """Every resource in every ``*.yaml``/``*.yml`` file below ``directory``, and the problems."""
    parsed = Parsed()
    if not directory.is_dir():
        parsed.problems.append(f"{directory}: not a directory")
        return parsed
    for path in _yaml_files(directory):
        parsed.extend(read_yaml(path.read_text(encoding="utf-8"), origin=str(path)))
    return parsed


def load_directory(directory: Path) -> list[LoadedResource]:
    """Every resource in every ``*.yaml``/``*.yml`` file below ``directory``."""
    parsed = read_directory(directory)
    if parsed.problems:
        raise ResourceValidationError(parsed.problems)
    return parsed.loaded


def build_resource_set(loaded: Iterable[LoadedResource]) -> ResourceSet:
    """Index resources by kind and name; names must be present and unique per kind."""
    resources, problems = index_resources(loaded)
    if problems:
        raise ResourceValidationError(problems)
    return resources


def index_resources(loaded: Iterable[LoadedResource]) -> tuple[ResourceSet, list[str]]:
    """Resources by kind and name, and the problems (missing or repeated names)."""
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
    configs = [origins[("OperatorConfig", name)] for name in by_kind["OperatorConfig"]]
    if len(configs) > 1:
        places = ", ".join(f"{c.origin} document {c.document}" for c in configs)
        problems.append(f"more than one OperatorConfig ({places}): keep exactly one")
    resources = ResourceSet(
        sources=by_kind["Source"],
        workflows=by_kind["Workflow"],
        sinks=by_kind["Sink"],
        operator_config=next(iter(by_kind["OperatorConfig"].values()), None),
    )
    return resources, problems


def model_dump_wire(model: BaseModel) -> dict[str, Any]:
    """A resource as it is written in YAML (camelCase, defaults omitted)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
