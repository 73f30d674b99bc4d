"""Kubernetes mode reports the same misconfigurations as ``validate``, as Events.

``ResourceChecker`` turns an API object into the problems the controller posts: errors (a
Warning Event and ``Ready=False``) and warnings (a Warning Event only). Checked here on the
objects themselves; ``test_controller.py`` shows the Events reach the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from punching_fist.operator.checks import Problem, ResourceChecker
from punching_fist.resources.loader import ResourceSet
from punching_fist.secret_refs import EnvResolver, SecretResolver

API_VERSION = "punchingfist.io/v1alpha1"


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": "ops"},
        "spec": spec,
    }


async def check(kind: str, spec: dict[str, Any]) -> list[Problem]:
    checker = ResourceChecker(SecretResolver({"env": EnvResolver({"HOOK_TOKEN": "t0ken"})}))
    return await checker.check(kind, obj(kind, "x", spec), ResourceSet())


def agent(tools: list[Any], **spec: Any) -> dict[str, Any]:
    step = {"name": "look", "type": "agent", "goal": "g", "tools": tools}
    return {"steps": [step], **spec}


CASES = [
    (
        "Workflow",
        agent(["kubeclt"]),
        "InvalidSpec",
        "spec.steps[0].tools[0]: tool 'kubeclt' is not built in (did you mean 'kubectl'?)",
    ),
    (
        "Sink",
        {"type": "stdout", "config": {"template": "{{ if .x }}"}},
        "InvalidTemplate",
        "spec.config.template:",
    ),
    (
        "Sink",
        {"type": "pagerduty", "config": {"routingKey": "R0UT1NG"}},
        "InvalidSpec",
        "spec.config.routingKey: a literal value is refused at every delivery",
    ),
    (
        "Source",
        {
            "type": "webhook",
            "config": {"path": "/h", "authentication": {"secretRef": "webhook-secret"}},
            "triggerWorkflow": "wf",
        },
        "InvalidSpec",
        "use env://WEBHOOK_SECRET or k8s://namespace/secret/key",
    ),
    (
        "Source",
        {
            "type": "schedule",
            "config": {"cron": "0 2 * * *", "timezone": "Mars/Olympus"},
            "triggerWorkflow": "wf",
        },
        "InvalidSpec",
        "spec.config.timezone: Value error, unknown time zone 'Mars/Olympus'",
    ),
    (
        "Workflow",
        {"steps": [{"name": "s", "type": "cli", "command": "true", "timeoutSecond": 3}]},
        "InvalidSpec",
        "spec.steps[0].timeoutSecond: Extra inputs are not permitted (did you mean"
        " 'timeoutSeconds'?)",
    ),
]


@pytest.mark.parametrize(("kind", "spec", "reason", "message"), CASES)
async def test_misconfigurations_are_errors(
    kind: str, spec: dict[str, Any], reason: str, message: str
) -> None:
    problems = [p for p in await check(kind, spec) if not p.warning]
    assert any(p.reason == reason and message in p.message for p in problems), problems
    assert all("R0UT1NG" not in p.message for p in problems)


async def test_settings_that_do_nothing_are_warnings() -> None:
    spec = agent(["kubectl", "curl"], runtime={"image": "punchingfist/runtime:v1"})
    problems = await check("Workflow", spec)
    assert [(p.reason, p.warning) for p in problems] == [
        ("IgnoredSetting", True),
        ("NoAllowedHosts", True),
    ]
    assert problems[0].message.startswith("spec.runtime.image: ignored")
    config = await check("OperatorConfig", {"database": {"type": "sqlite"}, "chat": {}})
    assert [(p.message.split(":")[0], p.warning) for p in config] == [
        ("spec.database", True),
        ("spec.chat", True),
    ]
