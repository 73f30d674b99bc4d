"""The chart's ``api.auth=kubernetes``: what the operator needs to ask the cluster about tokens.

The operator calls TokenReview and SubjectAccessReview (``system:auth-delegator``), and the
API's roles are RBAC rules on virtual ``punchingfist.io`` resources in its namespace; the
chart renders a Role per API role for people to be bound to. Tokens mode renders none of it.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from punching_fist.operator.token_review import GROUP, ROLE_RULES
from punching_fist.resources.operator_config import OperatorConfig
from tests.operator.test_chart import CHART, K8S_VERSION, render, run_helm
from tests.operator.test_chart import helm as helm  # the fixture, used by name
from tests.operator.test_chart_api_tokens import one, operator_env
from tests.operator.test_chart_security import bound_to, grants, kind

pytestmark = pytest.mark.integration

KUBERNETES = ["--set", "api.auth=kubernetes"]
API_ROLES = {f"punchingfist-api-{role}" for role, _, _ in ROLE_RULES}


def test_kubernetes_auth_binds_the_operator_to_auth_delegator(helm: Path) -> None:
    documents = render(helm, *KUBERNETES)
    [binding] = [
        d
        for d in kind(documents, "ClusterRoleBinding")
        if d["roleRef"]["name"].startswith("system:")
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pf-punching-fist", "namespace": "pf-system"}
    ]
    kubernetes_validate.validate(binding, K8S_VERSION, strict=True)


def test_kubernetes_auth_renders_a_role_per_api_role_with_exactly_its_check(helm: Path) -> None:
    documents = render(helm, *KUBERNETES)
    roles = {r["metadata"]["name"]: r for r in kind(documents, "Role")}
    assert set(roles) >= API_ROLES
    for role, verb, resource in ROLE_RULES:
        rendered = roles[f"punchingfist-api-{role}"]
        assert rendered["metadata"]["namespace"] == "pf-system"  # where the reviewer asks
        assert grants(rendered) == {(GROUP, resource, verb)}
        assert bound_to(documents, f"punchingfist-api-{role}") == []  # people: the admin's
        kubernetes_validate.validate(rendered, K8S_VERSION, strict=True)


def test_kubernetes_auth_reaches_the_rendered_operator_config(helm: Path) -> None:
    documents = render(helm, *KUBERNETES, "--set", "api.audiences={punching-fist}")
    config = OperatorConfig.model_validate(one(documents, "OperatorConfig"))
    assert config.spec.api is not None
    assert config.spec.api.auth == "kubernetes"
    assert config.spec.api.audiences == ["punching-fist"]
    assert [t.name for t in config.spec.api.tokens] == ["admin"]  # tokens still work

    # Kubernetes tokens alone: no chart token, no Secret for one.
    documents = render(helm, *KUBERNETES, "--set", "api.tokens=null")
    config = OperatorConfig.model_validate(one(documents, "OperatorConfig"))
    assert config.spec.api is not None
    assert (config.spec.api.auth, config.spec.api.tokens) == ("kubernetes", [])
    assert not [name for name in operator_env(documents) if name.startswith("PUNCHING_FIST_API")]
    assert not [s for s in kind(documents, "Secret") if s["metadata"]["name"].endswith("-tokens")]


def test_tokens_mode_by_default_renders_none_of_it(helm: Path) -> None:
    documents = render(helm)
    assert not [d for d in documents if "auth-delegator" in str(d.get("roleRef"))]
    assert not {r["metadata"]["name"] for r in kind(documents, "Role")} & API_ROLES
    api = one(documents, "OperatorConfig")["spec"]["api"]
    assert "auth" not in api
    assert "audiences" not in api
    config = OperatorConfig.model_validate(one(documents, "OperatorConfig"))
    assert config.spec.api is not None
    assert config.spec.api.auth == "tokens"


def test_an_unknown_auth_mode_is_refused(helm: Path) -> None:
    done = run_helm(helm, "template", "pf", str(CHART), "--set", "api.auth=oidc")
    assert done.returncode != 0
    assert "api.auth must be tokens or kubernetes" in done.stderr
