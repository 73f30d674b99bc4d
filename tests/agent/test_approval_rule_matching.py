"""Which approval rule covers a write: what a kubectl command touches, and when we cannot tell.

A rule that *may* cover a write raises the number of people asked (stricter when in doubt);
only a rule that *certainly* covers it lets a read-only step ask instead of refusing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from punching_fist.agent.approval_rules import (
    ApprovalGate,
    Target,
    canonical_kind,
    kubectl_target,
)
from punching_fist.resources.approval import ApprovalRule
from punching_fist.resources.workflow import Workflow


class Command(BaseModel):
    command: str


class Script(BaseModel):
    argument: str


@pytest.mark.parametrize(
    ("command", "target"),
    [
        ("delete pod web-1 -n shop", Target(namespaces=("shop",), kinds=("pod",))),
        ("-n prod scale deploy/web --replicas=3", Target(namespaces=("prod",), kinds=("deployment",))),
        ("kubectl rollout restart deployments.apps web --namespace=prod", Target(namespaces=("prod",), kinds=("deployment",))),
        ("delete pods,services -l app=web -n shop", Target(namespaces=("shop",), kinds=("pod", "service"))),
        ("delete pods --all -A", Target(all_namespaces=True, kinds=("pod",))),
        ("delete ns prod", Target(namespaces=("prod",), kinds=("namespace",))),
        ("set image deployment/web web=nginx:1.27 -n shop", Target(namespaces=("shop",), kinds=("deployment",))),
        ("exec web-1 -n shop -- ls", Target(namespaces=("shop",), kinds=("pod",))),
        ("drain node-1 --ignore-daemonsets", Target(kinds=("node",))),
        ("apply -f prod.yaml", Target()),
        ("delete -f manifests/ -n shop", Target(namespaces=("shop",))),
        ("delete pod 'unbalanced", Target()),
        ("scale statefulsets db --replicas 0", Target(kinds=("statefulset",))),
    ],
)  # fmt: skip
def test_what_a_command_touches(command: str, target: Target) -> None:
    assert kubectl_target(command) == target


def test_kinds_are_read_as_kubectl_spells_them() -> None:
    assert canonical_kind("Deployments") == "deployment"
    assert canonical_kind("deploy") == "deployment"
    assert canonical_kind("netpol") == "networkpolicy"
    assert canonical_kind("ingresses") == "ingress"
    assert canonical_kind("certificates.cert-manager.io") == "certificate"


def gate(*rules: dict[str, Any], severity: str | None = "critical") -> ApprovalGate:
    return ApprovalGate(
        [("Workflow/wf", ApprovalRule.model_validate(rule)) for rule in rules], severity
    )


PROD_TWO = {"name": "prod", "namespaces": ["prod", "prod-*"], "approvers": 2}
DEPLOYMENTS = {"name": "deployments", "kinds": ["deploy"]}
CRITICAL = {"name": "critical", "severities": ["Critical"], "approvers": 3}


@pytest.mark.parametrize(
    ("rules", "command", "rule", "certain"),
    [
        ([PROD_TWO], "delete pod web -n prod-eu", "prod", True),
        ([PROD_TWO], "delete pod web -n staging", None, False),
        ([PROD_TWO], "delete pod web", "prod", False),  # the kubeconfig's namespace: unknown
        ([PROD_TWO], "delete pods --all -A", "prod", True),
        ([PROD_TWO], "delete namespace prod", "prod", True),
        ([DEPLOYMENTS], "scale deployment web --replicas=2 -n x", "deployments", True),
        ([DEPLOYMENTS], "delete pod web -n x", None, False),
        ([DEPLOYMENTS], "apply -f x.yaml", "deployments", False),  # kinds in a file: unknown
        ([DEPLOYMENTS], "delete --grace-period 0 pod web", "deployments", False),  # misread '0'
        ([PROD_TWO, DEPLOYMENTS], "scale deploy web --replicas=1 -n prod", "prod", True),
        ([DEPLOYMENTS, CRITICAL], "delete pod web -n x", "critical", True),
        ([{**PROD_TWO, **CRITICAL, "name": "both"}], "delete pod web -n prod", "both", True),
        ([{**PROD_TWO, **CRITICAL, "name": "both"}], "delete pod web -n dev", None, False),
    ],
)
def test_the_rule_that_applies(
    rules: list[dict[str, Any]], command: str, rule: str | None, certain: bool
) -> None:
    verdict = gate(*rules).judge("kubectl", Command(command=command))
    assert (verdict.rule.name if verdict.rule else None) == rule
    assert verdict.certain is certain


def test_the_strongest_rule_is_shown_and_the_workflow_comes_first_on_a_tie() -> None:
    rules = [
        ("Workflow/wf", ApprovalRule(name="wf-one", namespaces=["prod"])),
        ("OperatorConfig/c", ApprovalRule(name="oc-two", kinds=["pod"], approvers=2)),
        ("OperatorConfig/c", ApprovalRule(name="oc-two-again", approvers=2)),
    ]
    verdict = ApprovalGate(rules, None).judge("kubectl", Command(command="delete pod x -n prod"))
    assert verdict.rule is not None
    assert verdict.rule.as_json() == {
        "name": "oc-two",
        "origin": "OperatorConfig/c",
        "approvers": 2,
    }
    assert verdict.certain


def test_severity_comes_from_the_alert_and_unknown_means_maybe() -> None:
    context = {"source": {"data": {"alert": {"labels": {"severity": "warning"}}}}}
    workflow = Workflow.model_validate(
        {
            "apiVersion": "punchingfist.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "wf"},
            "spec": {"approvalRules": [CRITICAL]},
        }
    )
    warning = ApprovalGate.for_step(workflow, None, context)
    assert warning.judge("kubectl", Command(command="delete pod x")).rule is None
    scheduled = ApprovalGate.for_step(workflow, None, {})  # no alert: cannot tell
    verdict = scheduled.judge("kubectl", Command(command="delete pod x"))
    assert verdict.rule is not None
    assert not verdict.certain


def test_a_script_touches_anything() -> None:
    verdict = gate(PROD_TWO).judge("restart", Script(argument="web"))
    assert verdict.rule is not None
    assert verdict.rule.approvers == 2
    assert not verdict.certain
    assert gate().judge("kubectl", Command(command="delete pod x")).rule is None
    assert not gate().opens_writes
