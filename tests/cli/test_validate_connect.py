"""``validate --connect``: Sources that could not run where the server would run are errors
(a secret that does not resolve, a cluster that cannot be reached or lacks the resource);
plain ``validate`` checks only the files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from punching_fist.cli import app
from tests.harness.k8s import K8sApiServer

runner = CliRunner()

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: deploys}
spec:
  type: api
  config:
    endpoint: /api/v1/trigger
    authentication: {type: apikey, secretRef: env://PF_TEST_CONNECT_KEY}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: maps}
spec:
  type: kubernetes
  config: {resource: configmaps}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: gizmos}
spec:
  type: kubernetes
  config: {resource: gizmos}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "true"}]
"""


def _validate(folder: Path, *options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(folder), *options])
    return result.exit_code, " ".join(result.output.split())


def test_connect_reports_sources_that_could_not_run_here(
    k8s_apiserver: K8sApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "resources"
    folder.mkdir()
    (folder / "sources.yaml").write_text(RESOURCES)
    monkeypatch.delenv("PF_TEST_CONNECT_KEY", raising=False)
    unset = (
        "Source/deploys): spec.config.authentication.secretRef: env://PF_TEST_CONNECT_KEY is"
        " not set in this environment"
    )
    code, output = _validate(folder)  # an env:// secret needs no --connect
    assert code == 1
    assert unset in output
    assert "1 error(s)" in output

    code, output = _validate(folder, "--connect", "--kubeconfig", str(k8s_apiserver.kubeconfig))
    assert code == 1
    assert output.count("PF_TEST_CONNECT_KEY") == 1  # reported once, not again by --connect
    assert unset in output
    assert "Source/gizmos: spec.config.resource: the API server has no resource 'gizmos'" in output
    assert "Source/maps" not in output
    assert "2 error(s)" in output

    monkeypatch.setenv("PF_TEST_CONNECT_KEY", "k")
    unreachable = tmp_path / "unreachable.kubeconfig"
    config = yaml.safe_load(k8s_apiserver.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:9"
    unreachable.write_text(yaml.safe_dump(config))
    code, output = _validate(folder, "--connect", "--kubeconfig", str(unreachable))
    assert code == 1
    assert "Source/maps: the Kubernetes API at https://127.0.0.1:9" in output
    assert "Source/deploys" not in output
