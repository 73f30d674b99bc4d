"""The valid parts of a resource that failed its schema, checked in the same pass.

A typo in one step should not hide an unknown tool or a broken template in the next one
until the user has fixed it and run ``validate`` again. Each step, output and the runtime of
a Workflow (a Sink's or Source's ``config``) is validated on its own; the parts that pass are
put back where they were, with inert stand-ins for the parts that did not (so field paths
still point at what the user wrote), and checked like any resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from punching_fist.resources.findings import Finding
from punching_fist.resources.loader import Resource
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source
from punching_fist.resources.workflow import Output, Runtime, Step, Workflow

_STEP: TypeAdapter[Any] = TypeAdapter(Step)


def partial_findings(
    document: dict[str, Any], check: Callable[[Resource], list[Finding]]
) -> list[Finding]:
    """``check`` (``check_resource``) applied to what is valid in ``document``."""
    resource = _valid_parts(document)
    if resource is None:
        return []
    return [f for f in check(resource) if f.reason != "MissingReference"]


def _valid_parts(document: dict[str, Any]) -> Resource | None:
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return None
    head = {key: document.get(key) for key in ("apiVersion", "kind", "metadata")}
    kind = document.get("kind")
    if kind == "Workflow":
        return _model(Workflow, {**head, "spec": _workflow_spec(spec)})
    typed = {key: spec[key] for key in ("type", "config") if key in spec}  # delivery aside
    if kind == "Sink":
        return _model(Sink, {**head, "spec": typed})
    if kind == "Source":
        trigger = str(spec.get("triggerWorkflow"))
        return _model(Source, {**head, "spec": {**typed, "triggerWorkflow": trigger}})
    return None


def _workflow_spec(spec: dict[str, Any]) -> dict[str, Any]:
    steps = spec.get("steps") if isinstance(spec.get("steps"), list) else []
    outputs = spec.get("outputs") if isinstance(spec.get("outputs"), list) else []
    runtime = spec.get("runtime")
    return {
        "runtime": runtime if _valid(Runtime, runtime) else {},
        "steps": [
            step if _valid_step(step) else {"name": f"-{i}", "type": "cli", "command": ""}
            for i, step in enumerate(steps or [])
        ],
        "outputs": [
            output if _valid(Output, output) else {"name": f"-{i}", "value": ""}
            for i, output in enumerate(outputs or [])
        ],
    }


def _valid_step(step: Any) -> bool:
    try:
        _STEP.validate_python(step)
    except ValidationError:
        return False
    return True


def _valid(model: type[BaseModel], value: Any) -> bool:
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


def _model(model: type[Resource], value: dict[str, Any]) -> Resource | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None  # repeated names and the like: the schema errors say it all
