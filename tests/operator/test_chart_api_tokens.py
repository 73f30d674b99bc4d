"""The chart's API tokens: the operator listens on every address, so it never renders without one."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from punching_fist.resources.operator_config import OperatorConfig
from tests.operator.test_chart import CHART, render, run_helm
from tests.operator.test_chart import helm as helm  # the fixture, used by name

pytestmark = pytest.mark.integration


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"]))


def operator_env(documents: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(documents, "StatefulSet")["spec"]["template"]["spec"]
    return {e["name"]: e for e in pod["containers"][0]["env"]}


def test_by_default_one_generated_admin_token_reaches_the_operator(helm: Path) -> None:
    documents = render(helm)
    secret = one(documents, "Secret", "pf-punching-fist-api-tokens")
    token = base64.b64decode(secret["data"]["admin"]).decode()
    assert len(token) == 48
    assert token.isalnum()
    env = operator_env(documents)["PUNCHING_FIST_API_TOKEN_0"]
    assert env["valueFrom"]["secretKeyRef"] == {
        "name": "pf-punching-fist-api-tokens",
        "key": "admin",
    }
    config = OperatorConfig.model_validate(one(documents, "OperatorConfig"))
    assert config.spec.api is not None
    [entry] = config.spec.api.tokens
    assert (entry.name, entry.role, entry.secret_ref) == (
        "admin",
        "admin",
        "env://PUNCHING_FIST_API_TOKEN_0",
    )
    assert config.spec.api.metrics_auth is False


def test_tokens_from_existing_secrets_and_a_scraper_with_a_viewer_token(helm: Path) -> None:
    documents = render(
        helm,
        "--set",
        "api.metricsAuth=true,serviceMonitor.enabled=true",
        "--set",
        "api.tokens[0].name=prometheus,api.tokens[0].role=viewer,"
        "api.tokens[0].existingSecret=scrape-token",
        "--set",
        "api.tokens[1].name=sre-lead,api.tokens[1].role=approver,api.tokens[1].value=given-value",
    )
    env = operator_env(documents)
    assert env["PUNCHING_FIST_API_TOKEN_0"]["valueFrom"]["secretKeyRef"] == {
        "name": "scrape-token",
        "key": "token",
    }
    assert env["PUNCHING_FIST_API_TOKEN_1"]["valueFrom"]["secretKeyRef"] == {
        "name": "pf-punching-fist-api-tokens",
        "key": "sre-lead",
    }
    secret = one(documents, "Secret", "pf-punching-fist-api-tokens")
    assert secret["data"] == {"sre-lead": base64.b64encode(b"given-value").decode()}
    monitor = one(documents, "ServiceMonitor")["spec"]["endpoints"][0]
    assert monitor["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "scrape-token", "key": "token"},
    }
    config = OperatorConfig.model_validate(one(documents, "OperatorConfig"))
    assert config.spec.api is not None
    assert config.spec.api.metrics_auth is True
    assert [t.role for t in config.spec.api.tokens] == ["viewer", "approver"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("api.tokens=null", "api.tokens needs at least one token"),
        ("api.tokens[0].name=sre lead,api.tokens[0].role=admin", 'name "sre lead" must be'),
        ("api.tokens[0].name=ops,api.tokens[0].role=root", "role must be viewer, approver or"),
        (
            "api.metricsAuth=true,serviceMonitor.enabled=true",
            "needs a token with role viewer",
        ),
    ],
)
def test_values_that_would_not_work_are_refused(helm: Path, values: str, message: str) -> None:
    done = run_helm(helm, "template", "pf", str(CHART), "--set", values)
    assert done.returncode != 0
    assert message in done.stderr
