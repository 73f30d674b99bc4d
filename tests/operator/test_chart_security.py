"""The chart's permission model and pod hardening, as ``helm template`` renders them.

Who may do what: the operator's own role stops at what it needs (Secrets only in its
namespace), it may impersonate the step accounts and nobody else, the investigator reads
what the agent's tools read, the remediator is bound to its own account only. What the pod
runs with: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp, a
NetworkPolicy, a PodDisruptionBudget with more than one replica, and a command line that the
CLI accepts and that holds no secret (every process can read it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer

from punching_fist.cli import app
from tests.operator.test_chart import K8S_VERSION, render
from tests.operator.test_chart import helm as helm  # the fixture, used by name

pytestmark = pytest.mark.integration

STEP_ACCOUNTS = ["punchingfist-agent", "punchingfist-investigator", "punchingfist-remediator"]
HA = ["--set", "database.type=postgres", "--set", "database.postgres.url=postgresql://x"]
HA += ["--set", "replicaCount=3", "--set", "workload=Deployment"]

Grant = tuple[str, str, str]


def kind(documents: list[dict[str, Any]], wanted: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == wanted]


def named(documents: list[dict[str, Any]], wanted: str, name: str) -> dict[str, Any]:
    return next(d for d in kind(documents, wanted) if d["metadata"]["name"] == name)


def grants(role: dict[str, Any]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def bound_to(documents: list[dict[str, Any]], role: str) -> list[tuple[str, str | None]]:
    """(account, namespace of the binding) of every binding of ``role``."""
    return [
        (subject["name"], binding["metadata"].get("namespace"))
        for binding in kind(documents, "ClusterRoleBinding") + kind(documents, "RoleBinding")
        if binding["roleRef"]["name"] == role
        for subject in binding["subjects"]
    ]


def pod_spec(documents: list[dict[str, Any]]) -> dict[str, Any]:
    workload = next(d for d in documents if d["kind"] in ("StatefulSet", "Deployment"))
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


OURS = ("sources", "workflows", "sinks", "operatorconfigs")
OPERATOR_WRITES: set[Grant] = {
    *(("punchingfist.io", r, v) for r in OURS for v in ("patch", "update")),
    *(("punchingfist.io", f"{r}/status", v) for r in OURS for v in ("patch", "update")),
    *(("kopf.dev", r, v) for r in ("kopfpeerings", "clusterkopfpeerings") for v in ("patch", "create")),
    *((g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")),
}  # fmt: skip


def test_the_operators_own_role_stops_at_what_it_needs(helm: Path) -> None:
    documents = render(helm, "--set", "operator.secretNamespaces={team-a}")
    operator = grants(named(documents, "ClusterRole", "pf-punching-fist-operator"))
    assert not {g for g in operator if g[1] in ("secrets", "pods/log", "serviceaccounts")}
    assert not {g for g in operator if "*" in g}
    assert {g for g in operator if g[2] not in {"get", "list", "watch"}} == OPERATOR_WRITES
    # Secrets: get by name, in its own namespace and the ones named, through Roles only.
    roles = [r for r in kind(documents, "Role") if r["metadata"]["name"].endswith("-secrets")]
    assert {r["metadata"]["namespace"] for r in roles} == {"pf-system", "team-a"}
    for role in roles:
        assert grants(role) == {("", "secrets", "get")}
    assert sorted(bound_to(documents, "pf-punching-fist-secrets")) == [
        ("pf-punching-fist", "pf-system"),
        ("pf-punching-fist", "team-a"),
    ]


def test_the_operator_may_impersonate_the_step_accounts_and_nobody_else(helm: Path) -> None:
    documents = render(helm, "--set", "agentRbac.extraServiceAccounts={db-fixer}")
    impersonating = [
        (role, rule)
        for role in kind(documents, "Role") + kind(documents, "ClusterRole")
        for rule in role["rules"]
        if "impersonate" in rule["verbs"]
    ]
    [(role, rule)] = impersonating
    assert role["kind"] == "Role"  # in the release namespace: its accounts only
    assert rule["resources"] == ["serviceaccounts"]
    assert rule["resourceNames"] == [*STEP_ACCOUNTS, "db-fixer"]
    assert bound_to(documents, role["metadata"]["name"]) == [("pf-punching-fist", None)]
    args = pod_spec(documents)["containers"][0]["args"]
    assert "--agent-service-account=punchingfist-agent" in args
    # The agent's default reads; the remediator acts only for steps that name it.
    assert bound_to(documents, "punchingfist-investigator") == [
        ("punchingfist-agent", None),
        ("punchingfist-investigator", None),
    ]
    assert bound_to(documents, "punchingfist-remediator") == [("punchingfist-remediator", None)]
    accounts = {d["metadata"]["name"] for d in kind(documents, "ServiceAccount")}
    assert accounts >= set(STEP_ACCOUNTS)


# What the agent's kubectl and its evidence read: `describe`, `logs`, events, `top`.
AGENT_READS: list[Grant] = [
    ("", "pods", "get"), ("", "pods", "list"), ("", "pods/log", "get"),
    ("", "events", "list"), ("events.k8s.io", "events", "list"),
    ("", "services", "get"), ("", "endpoints", "get"), ("", "nodes", "get"),
    ("", "persistentvolumeclaims", "get"), ("storage.k8s.io", "storageclasses", "list"),
    ("apps", "deployments", "get"), ("apps", "replicasets", "list"),
    ("apps", "statefulsets", "get"), ("apps", "daemonsets", "get"),
    ("batch", "jobs", "get"), ("metrics.k8s.io", "pods", "list"),
]  # fmt: skip


def test_the_investigator_reads_what_the_agents_tools_read_and_no_secret(helm: Path) -> None:
    investigator = grants(named(render(helm), "ClusterRole", "punchingfist-investigator"))
    assert set(AGENT_READS) <= investigator
    assert not {g for g in investigator if g[1] in ("secrets", "configmaps") or "*" in g}
    writes = {g for g in investigator if g[2] not in {"get", "list", "watch"}}
    # The design's approval-gated writes, and nothing else.
    assert writes == {
        ("", "pods", "delete"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "deployments/scale", "update"),
        ("apps", "statefulsets/scale", "patch"),
        ("apps", "statefulsets/scale", "update"),
    }


@pytest.mark.parametrize("values", [[], HA], ids=["default", "ha"])
def test_every_argument_is_a_serve_option_and_no_secret_is_on_the_command_line(
    helm: Path, values: list[str]
) -> None:
    container = pod_spec(render(helm, *values))["containers"][0]
    serve = typer.main.get_group(app).commands["serve"]
    options = {opt for param in serve.params for opt in param.opts}
    args = container["args"]
    assert args[0] == "serve"
    for arg in args[1:]:
        assert arg.split("=", 1)[0] in options, arg
        assert "$(" not in arg, arg  # no variable (a secret) expanded onto the command line
    env = {e["name"]: e for e in container["env"]}
    assert "PUNCHING_FIST_DB" in env  # read by --db from the environment


def test_the_pod_runs_unprivileged_with_a_read_only_root(helm: Path) -> None:
    pod = pod_spec(render(helm))
    container = pod["containers"][0]
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # What it writes (kubeconfigs for steps, kubectl's cache, HOME) goes to an emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_network_policy_opens_the_http_port_only(helm: Path) -> None:
    documents = render(helm)
    [policy] = kind(documents, "NetworkPolicy")
    labels = next(d for d in documents if d["kind"] == "StatefulSet")["spec"]["template"][
        "metadata"
    ]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress open: LLMs and sinks anywhere
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]

    restricted = render(
        helm,
        "--set", "networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.team=sre",
        "--set", "networkPolicy.egress[0].to[0].ipBlock.cidr=10.0.0.0/8",
    )  # fmt: skip
    [policy] = kind(restricted, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"team": "sre"}}}
    ]
    dns, given = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert given == {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert not kind(render(helm, "--set", "networkPolicy.enabled=false"), "NetworkPolicy")


def test_a_disruption_budget_keeps_replicas_serving(helm: Path) -> None:
    assert not kind(render(helm), "PodDisruptionBudget")  # one replica: nothing to keep
    documents = render(helm, *HA)
    [budget] = kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    labels = kind(documents, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    kubernetes_validate.validate(budget, K8S_VERSION, strict=True)
