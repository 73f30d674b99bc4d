"""Issue 17, honest status: a Source whose secret cannot be read never looks ready.

One rule for webhook, api and chat Sources: an ``env://`` secret that is not set is an error
in plain ``validate`` and at load (so ``serve`` refuses the folder), naming the Source and the
field; references that need the cluster or a cloud stop folder-mode ``serve`` at start and, in
Kubernetes mode, make the Source's status say why (``SecretMissing``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.errors import ConfigurationError
from punching_fist.operator.checks import ResourceChecker
from punching_fist.operator.client import KubeClient, login
from punching_fist.operator.runtime import add_secret_schemes
from punching_fist.operator.secrets import KubernetesSecretResolver
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import SecretResolver
from punching_fist.sources.secrets_present import SourceSecretsPresent
from punching_fist.validation import check_folder
from tests.harness.k8s import K8sApiServer
from tests.operator.support import new_namespace
from tests.support.server import resources_from_yaml

runner = CliRunner()

WORKFLOW = """
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "true"}]
"""


def source(name: str, kind: str, config: str) -> str:
    return (
        "apiVersion: punchingfist.io/v1alpha1\nkind: Source\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{type: {kind}, config: {config}, triggerWorkflow: wf}}\n"
    )


def webhook(ref: str) -> str:
    return source("hook", "webhook", f"{{path: /hook, authentication: {{secretRef: {ref}}}}}")


def api(ref: str) -> str:
    auth = f"{{type: apikey, secretRef: {ref}}}"
    return source("deploys", "api", f"{{endpoint: /deploys, authentication: {auth}}}")


def chat(token: str, signing: str) -> str:
    config = f"{{trigger: mention, botToken: {token}, signingSecret: {signing}}}"
    return source("ask", "chat", config)


SET = "env://PF_TEST_SECRET_SET"
UNSET = "env://PF_TEST_SECRET_UNSET"
CASES = [
    pytest.param(
        webhook(UNSET),
        "Source/hook): spec.config.authentication.secretRef: env://PF_TEST_SECRET_UNSET is not"
        " set in this environment: the webhook Source would refuse every request (503)",
        id="webhook",
    ),
    pytest.param(
        api(UNSET),
        "Source/deploys): spec.config.authentication.secretRef: env://PF_TEST_SECRET_UNSET is"
        " not set in this environment: the api Source could not accept any request",
        id="api",
    ),
    pytest.param(
        chat(UNSET, SET),
        "Source/ask): spec.config.botToken: env://PF_TEST_SECRET_UNSET is not set in this"
        " environment: the chat Source could not answer",
        id="chat-botToken",
    ),
    pytest.param(
        chat(SET, UNSET),
        "Source/ask): spec.config.signingSecret: env://PF_TEST_SECRET_UNSET is not set in this"
        " environment: the chat Source could not verify Slack's requests",
        id="chat-signingSecret",
    ),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PF_TEST_SECRET_SET", "s3t-value")
    monkeypatch.delenv("PF_TEST_SECRET_UNSET", raising=False)
    path = tmp_path / "resources"
    path.mkdir()
    return path


def _output(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(("text", "line"), CASES)
def test_an_unset_env_secret_is_a_validate_error_naming_source_and_field(
    folder: Path, text: str, line: str
) -> None:
    (folder / "all.yaml").write_text(text + WORKFLOW)
    (error,) = check_folder(folder).errors
    assert error.endswith(line)
    code, output = _output("validate", str(folder))
    assert code == 1
    assert line in output
    assert "1 error(s)" in output


@pytest.mark.parametrize(("text", "line"), CASES)
def test_serve_refuses_a_folder_with_an_unset_env_secret(
    folder: Path, tmp_path: Path, text: str, line: str
) -> None:
    (folder / "all.yaml").write_text(text + WORKFLOW)
    db = f"sqlite:///{tmp_path / 'pf.db'}"
    code, output = _output("serve", "--resources", str(folder), "--db", db, "--port", "1")
    assert code == 1
    assert line in output
    assert not (tmp_path / "pf.db").exists()  # refused before anything started


@pytest.mark.parametrize("text", [webhook(SET), api(SET), chat(SET, SET)])
def test_set_secrets_and_remote_references_pass_plain_validate(folder: Path, text: str) -> None:
    (folder / "all.yaml").write_text(text + WORKFLOW)
    assert check_folder(folder).errors == []
    remote = text.replace(SET, "vault://secret/data/pf#token")
    (folder / "all.yaml").write_text(remote + WORKFLOW)
    assert check_folder(folder).errors == []  # only --connect, serve and the operator read it


async def test_folder_serve_refuses_to_start_on_a_secret_it_cannot_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PF_TEST_SECRET_SET", "s3t-value")
    text = "---\n".join(
        [webhook("k8s://ops/hook/token"), api(SET), chat(SET, "vault://secret/data/slack#s")]
    )
    registry = ResourceRegistry(resources_from_yaml(text + WORKFLOW))
    secrets = SecretResolver()
    add_secret_schemes(secrets, registry, None)  # as folder-mode serve does
    with pytest.raises(ConfigurationError) as refused:
        await SourceSecretsPresent(registry, secrets).start()
    message = str(refused.value)
    assert "\n" not in message  # one line
    assert message.startswith(
        "Source/ask: spec.config.signingSecret cannot be read, so the chat Source could not"
        " verify Slack's requests: "
    )
    assert (
        "; Source/hook: spec.config.authentication.secretRef cannot be read, so the webhook"
        " Source would refuse every request (503): unsupported secret reference" in message
    )
    assert "deploys" not in message  # its key resolves
    assert "s3t-value" not in message

    fine = ResourceRegistry(resources_from_yaml(api(SET) + WORKFLOW))
    await SourceSecretsPresent(fine, secrets).start()


def _body(name: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "punchingfist.io/v1alpha1",
        "kind": "Source",
        "metadata": {"name": name, "namespace": "ops"},
        "spec": {"type": kind, "config": config, "triggerWorkflow": "wf"},
    }


@pytest.mark.integration
async def test_operator_status_names_a_missing_kubernetes_secret(
    k8s_apiserver: K8sApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = new_namespace(k8s_apiserver, "secrets")
    missing = f"k8s://{namespace}/absent/token"
    monkeypatch.setenv("KUBECONFIG", str(k8s_apiserver.kubeconfig))
    monkeypatch.setenv("PF_TEST_SECRET_SET", "s3t-value")
    client = KubeClient(login())
    try:
        secrets = SecretResolver()
        secrets.register("k8s", KubernetesSecretResolver(client, default_namespace=namespace))
        checker = ResourceChecker(secrets)
        bodies = {
            "spec.config.authentication.secretRef": _body(
                "deploys",
                "api",
                {"endpoint": "/d", "authentication": {"type": "apikey", "secretRef": missing}},
            ),
            "spec.config.signingSecret": _body(
                "ask", "chat", {"trigger": "mention", "botToken": SET, "signingSecret": missing}
            ),
        }
        for at, body in bodies.items():
            problems = await checker.check("Source", body, resources_from_yaml(WORKFLOW))
            assert [(p.reason, p.warning) for p in problems] == [("SecretMissing", False)]
            assert problems[0].message.startswith(f"{at}: ")
            assert "absent" in problems[0].message
    finally:
        await client.close()


async def test_operator_reports_an_unset_env_secret_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PF_TEST_SECRET_UNSET", raising=False)
    body = _body("hook", "webhook", {"path": "/h", "authentication": {"secretRef": UNSET}})
    problems = await ResourceChecker(SecretResolver()).check(
        "Source", body, resources_from_yaml(WORKFLOW)
    )
    assert [p.reason for p in problems] == ["SecretNotFound"]
    assert problems[0].message.startswith("spec.config.authentication.secretRef: ")
