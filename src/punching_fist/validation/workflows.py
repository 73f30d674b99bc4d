"""What would fail or do nothing in a Workflow: its tools, keys, evidence and ignored settings.

The tool registry refuses a bad ``tools`` entry only when the agent step starts, mid-run;
these checks find the same problems (and a few the registry cannot see, such as ``curl``
with nothing it may fetch) when the resources are loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from punching_fist.agent.approval_rules import rule_findings
from punching_fist.agent.evidence_check import evidence_problems
from punching_fist.agent.tools.curl import HostRule
from punching_fist.agent.tools.registry import PROMETHEUS_URL_VARIABLE, entry_problems
from punching_fist.errors import ConfigurationError
from punching_fist.resources.findings import Finding, error, warning
from punching_fist.resources.workflow import (
    AgentSettings,
    AgentStep,
    CliStep,
    ConditionalStep,
    ToolSpec,
    Workflow,
)
from punching_fist.secret_refs import is_reference
from punching_fist.validation.settings import key_reference

KIND = "Workflow"


def workflow_findings(workflow: Workflow) -> list[Finding]:
    """Problems of one workflow that its schema cannot express."""
    name = workflow.metadata.name or ""
    runtime = workflow.spec.runtime
    findings: list[Finding] = []
    if runtime.image:
        findings.append(
            warning(
                KIND,
                name,
                "spec.runtime.image",
                "ignored: steps run in the operator's container; install what they need in"
                " its image (or the tool PATH) and remove this setting",
            )
        )
    llm = runtime.llm_config
    if llm is not None and llm.api_key and not is_reference(llm.api_key):
        findings.append(
            error(
                KIND,
                name,
                "spec.runtime.llmConfig.apiKey",
                f"must be a secret reference such as {key_reference(llm.provider)} or"
                " k8s://namespace/secret/key, not the key itself (agent steps refuse it)",
            )
        )
    for at, settings in agent_settings(workflow):
        findings += _tool_findings(name, at, settings, runtime.environment)
    for problem in evidence_problems(workflow):
        at, _, message = problem.partition(": ")
        findings.append(error(KIND, name, at, message, reason="InvalidEvidence"))
    findings += rule_findings(KIND, name, workflow.spec.approval_rules)
    findings += _retry_findings(name, workflow)
    return findings


def _retry_findings(name: str, workflow: Workflow) -> list[Finding]:
    # A step marked not idempotent runs at most once; retrying it would break that promise.
    return [
        error(
            KIND,
            name,
            f"spec.steps[{index}].retryPolicy",
            "a step with idempotent: false runs at most once, so it cannot be retried:"
            " remove retryPolicy, or idempotent: false if running it twice does no harm",
        )
        for index, step in enumerate(workflow.spec.steps)
        if isinstance(step, CliStep)
        and not step.idempotent
        and step.retry_policy is not None
        and step.retry_policy.max_attempts > 1
    ]


def agent_settings(workflow: Workflow) -> Iterator[tuple[str, AgentSettings]]:
    """Every agent of a workflow (steps and conditionals' agents) with its field path."""
    for index, step in enumerate(workflow.spec.steps):
        if isinstance(step, AgentStep):
            yield f"spec.steps[{index}]", step
        elif isinstance(step, ConditionalStep) and step.agent is not None:
            yield f"spec.steps[{index}].agent", step.agent


def _tool_findings(
    name: str, at: str, settings: AgentSettings, environment: Mapping[str, str]
) -> list[Finding]:
    findings = [
        error(KIND, name, f"{at}.tools[{index}]", problem)
        for index, problem in entry_problems(settings.tools)
    ]
    for index, entry in enumerate(settings.tools):
        spec = ToolSpec(name=entry) if isinstance(entry, str) else entry
        where = f"{at}.tools[{index}]"
        if spec.name == "curl":
            findings += _curl_findings(name, where, spec)
        elif spec.name == "promql":
            if not spec.endpoint and PROMETHEUS_URL_VARIABLE not in environment:
                findings.append(
                    error(
                        KIND,
                        name,
                        where,
                        "promql has no endpoint: set `endpoint` on the tool or"
                        f" {PROMETHEUS_URL_VARIABLE} in spec.runtime.environment",
                    )
                )
            if spec.token_secret_ref and not is_reference(spec.token_secret_ref):
                findings.append(
                    error(
                        KIND,
                        name,
                        f"{where}.tokenSecretRef",
                        "must be a secret reference such as env://PROMETHEUS_TOKEN or"
                        " k8s://namespace/secret/key, not the token itself",
                    )
                )
    return findings


def _curl_findings(name: str, where: str, spec: ToolSpec) -> list[Finding]:
    if not spec.allowed_hosts:
        # A warning, not an error: the design's own examples list curl this way.
        return [
            warning(
                KIND,
                name,
                where,
                "curl has no allowedHosts, so it refuses every URL: list the hosts it may"
                " fetch, e.g. {name: curl, allowedHosts: [api.shop.svc, '*.shop.svc:8080']}",
                reason="NoAllowedHosts",
            )
        ]
    findings = []
    for index, host in enumerate(spec.allowed_hosts):
        try:
            HostRule.parse(host)
        except ConfigurationError as exc:
            findings.append(error(KIND, name, f"{where}.allowedHosts[{index}]", str(exc)))
    return findings
