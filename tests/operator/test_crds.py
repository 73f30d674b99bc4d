"""The CRDs: generated from the models, accepted by a real API server, enforcing the schema.

The checked-in YAML must equal what the models generate, the design's examples must apply
unchanged, and the API server itself must refuse objects the models refuse for structure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from punching_fist.operator.crds import KINDS, crd, rendered_files
from punching_fist.operator.schema import structural
from tests.harness.k8s import K8sApiServer
from tests.operator.support import (
    CRD_DIR,
    EXAMPLE_FILES,
    apply_examples,
    install_crds,
    new_namespace,
)

JUNCTOR_FORBIDDEN = {"type", "description", "default", "nullable", "additionalProperties"}


def test_checked_in_crds_match_the_models() -> None:
    expected = rendered_files()
    actual = {path.name: path.read_text(encoding="utf-8") for path in CRD_DIR.glob("*.yaml")}
    drifted = sorted(name for name in expected if actual.get(name) != expected[name])
    assert not drifted, (
        f"{drifted} differ from the models: run "
        "`punching-fist crds --output charts/punching-fist/crds`"
    )
    assert set(actual) == set(expected)


def _junctor_violations(node: Any, inside: bool = False, at: str = "") -> list[str]:
    problems: list[str] = []
    if isinstance(node, dict):
        if inside:
            problems += [f"{at}.{key}" for key in JUNCTOR_FORBIDDEN & node.keys()]
        for key, value in node.items():
            in_junctor = inside or key in ("oneOf", "anyOf", "allOf", "not")
            if key == "properties":  # its keys are field names, its values schemas
                for name, sub in value.items():
                    problems += _junctor_violations(sub, in_junctor, f"{at}.{name}")
            else:
                problems += _junctor_violations(value, in_junctor, f"{at}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problems += _junctor_violations(value, inside, f"{at}[{index}]")
    return problems


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schemas_are_structural_and_declare_every_status_field(kind: Any) -> None:
    version = crd(kind)["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _junctor_violations(schema) == []
    assert "$ref" not in json.dumps(schema)
    status = schema["properties"]["status"]["properties"]
    model_fields = {f.alias or name for name, f in kind.status.model_fields.items()}
    assert set(status) == model_fields
    assert version["subresources"] == {"status": {}}
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].removeprefix(".").split(".")
        if path[0] in ("spec", "status"):
            assert path[1] in schema["properties"][path[0]]["properties"], column


def test_optional_fields_and_unions_convert() -> None:
    schema = structural(
        {
            "type": "object",
            "properties": {
                "a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "b": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {}}]},
                "c": {"type": "integer", "exclusiveMinimum": 0, "default": 3},
                "d": {"type": "object", "additionalProperties": True},
                "e": {},
            },
        }
    )
    props = schema["properties"]
    assert props["a"] == {"type": "string", "nullable": True}
    assert props["b"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["c"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert props["d"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert props["e"] == {"x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.integration
def test_crds_install_and_become_established(k8s_apiserver: K8sApiServer) -> None:
    install_crds(k8s_apiserver)
    for kind in KINDS:
        got = json.loads(k8s_apiserver.kubectl("get", "crd", kind.crd_name, "-o", "json"))
        conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert got["spec"]["scope"] == "Namespaced"


@pytest.mark.integration
def test_every_design_example_applies_and_round_trips(k8s_apiserver: K8sApiServer) -> None:
    install_crds(k8s_apiserver)
    namespace = new_namespace(k8s_apiserver, "examples")
    applied = apply_examples(k8s_apiserver, namespace)
    assert len(applied) == sum(
        1 for p in EXAMPLE_FILES for d in yaml.safe_load_all(p.read_text()) if d
    )
    for document in applied:
        plural = next(k.plural for k in KINDS if k.kind == document["kind"])
        stored = json.loads(
            k8s_apiserver.kubectl(
                "get",
                f"{plural}.punchingfist.io",
                document["metadata"]["name"],
                "-n",
                namespace,
                "-o",
                "json",
            )
        )
        # Nothing the user wrote was pruned as undeclared.
        assert stored["spec"] == document["spec"], document["metadata"]["name"]


INVALID = {
    "wrong source type": (
        "Source",
        {"type": "webhok", "config": {"path": "/x"}, "triggerWorkflow": "w"},
        'spec.type: Unsupported value: "webhok"',
    ),
    "missing webhook path": (
        "Source",
        {"type": "webhook", "config": {}, "triggerWorkflow": "w"},
        "spec.config.path: Required value",
    ),
    "missing triggerWorkflow": (
        "Source",
        {"type": "webhook", "config": {"path": "/x"}},
        "spec.triggerWorkflow: Required value",
    ),
    "cli step without command": (
        "Workflow",
        {"steps": [{"name": "a", "type": "cli"}]},
        "spec.steps[0].command: Required value",
    ),
    "unknown llm provider": (
        "Workflow",
        {"runtime": {"llmConfig": {"provider": "skynet"}}},
        'spec.runtime.llmConfig.provider: Unsupported value: "skynet"',
    ),
    "stdout format": (
        "Sink",
        {"type": "stdout", "config": {"format": "yaml"}},
        'spec.config.format: Unsupported value: "yaml"',
    ),
    "pagerduty action": (
        "Sink",
        {"type": "pagerduty", "config": {"routingKey": "k", "action": "annotate"}},
        "must validate one and only one schema",
    ),
    "operator database type": (
        "OperatorConfig",
        {"database": {"type": "mysql"}},
        'spec.database.type: Unsupported value: "mysql"',
    ),
    "unknown field": (
        "Source",
        {"type": "webhook", "config": {"path": "/x"}, "triggerWorkfow": "w"},
        "triggerWorkfow",
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_objects_are_rejected_by_the_api_server(
    k8s_apiserver: K8sApiServer, case: str
) -> None:
    install_crds(k8s_apiserver)
    kind, spec, expected = INVALID[case]
    document = {
        "apiVersion": "punchingfist.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "invalid", "namespace": "default"},
        "spec": spec,
    }
    with pytest.raises(RuntimeError) as refused:
        k8s_apiserver.kubectl("create", "--validate=strict", "-f", "-", stdin=json.dumps(document))
    assert expected in str(refused.value)
