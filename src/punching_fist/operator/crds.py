"""CustomResourceDefinitions generated from the resource models the engine uses.

One source of truth: the YAML under ``charts/punching-fist/crds/`` is this module's output
(``punching-fist crds --output charts/punching-fist/crds``), and a test fails when the two
drift apart. The API server then rejects what the models reject for structure and enums,
and the controller reports the rest (templates, references, secrets) as Events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from punching_fist.operator.peering import peering_crds_yaml
from punching_fist.operator.schema import Schema, structural
from punching_fist.resources.base import GROUP, VERSION
from punching_fist.resources.operator_config import OperatorConfig, OperatorConfigStatus
from punching_fist.resources.sink import Sink, SinkStatus
from punching_fist.resources.source import Source, SourceStatus
from punching_fist.resources.workflow import Workflow, WorkflowStatus

CATEGORY = "punchingfist"


@dataclass(frozen=True, kw_only=True)
class Kind:
    """One custom resource kind: its model, names and the columns ``kubectl get`` shows."""

    kind: str
    plural: str
    model: type[BaseModel]
    status: type[BaseModel]
    short_names: tuple[str, ...]
    columns: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


_AGE = _column("Age", ".metadata.creationTimestamp", "date")

KINDS: tuple[Kind, ...] = (
    Kind(
        kind="Source",
        plural="sources",
        model=Source,
        status=SourceStatus,
        short_names=("pfsrc",),
        columns=(
            _column("Type", ".spec.type"),
            _column("Workflow", ".spec.triggerWorkflow"),
            _column("Ready", ".status.ready", "boolean"),
            _column("Events", ".status.eventsProcessed", "integer"),
            _column("Last Event", ".status.lastEventTime", "date"),
            _AGE,
        ),
    ),
    Kind(
        kind="Workflow",
        plural="workflows",
        model=Workflow,
        status=WorkflowStatus,
        short_names=("pfwf",),
        columns=(
            _column("Phase", ".status.phase"),
            _column("Runs", ".status.runsTotal", "integer"),
            _column("Last Run", ".status.lastRunTime", "date"),
            _column("Last Run ID", ".status.lastRunId", priority=1),
            _AGE,
        ),
    ),
    Kind(
        kind="Sink",
        plural="sinks",
        model=Sink,
        status=SinkStatus,
        short_names=("pfsink",),
        columns=(
            _column("Type", ".spec.type"),
            _column("Sent", ".status.messagesSent", "integer"),
            _column("Last Sent", ".status.lastSentTime", "date"),
            _column("Last Error", ".status.lastError", priority=1),
            _AGE,
        ),
    ),
    Kind(
        kind="OperatorConfig",
        plural="operatorconfigs",
        model=OperatorConfig,
        status=OperatorConfigStatus,
        short_names=("pfconfig",),
        columns=(
            _column("Ready", ".status.ready", "boolean"),
            _AGE,
        ),
    ),
)


def kind_by_plural(plural: str) -> Kind:
    return next(k for k in KINDS if k.plural == plural)


def openapi_schema(kind: Kind) -> Schema:
    """The structural schema of one kind, ``spec`` and ``status`` from the models."""
    model_schema = kind.model.model_json_schema(by_alias=True, mode="validation")
    defs = model_schema.get("$defs", {})
    spec = structural({**model_schema["properties"]["spec"], "$defs": defs})
    status = structural(kind.status.model_json_schema(by_alias=True, mode="validation"))
    spec.pop("description", None)
    spec["description"] = f"Desired state of the {kind.kind}."
    status["description"] = f"What the operator observed about the {kind.kind}."
    return {
        "type": "object",
        "description": (kind.model.__doc__ or kind.kind).strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "punching-fist"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def render(kind: Kind) -> str:
    """The CRD as the YAML file checked in under ``charts/punching-fist/crds/``."""
    header = (
        f"# {kind.crd_name}: generated from punching_fist.resources by `punching-fist crds`.\n"
        "# Do not edit by hand; regenerate after changing the models.\n"
    )
    body = yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)
    return header + body


def file_name(kind: Kind) -> str:
    return f"{kind.crd_name}.yaml"


def rendered_files() -> dict[str, str]:
    """File name → content for every generated CRD (the peering CRDs are kopf's, see peering)."""
    files = {file_name(kind): render(kind) for kind in KINDS}
    files["kopf.dev-peerings.yaml"] = peering_crds_yaml()
    return files
