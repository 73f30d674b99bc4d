"""Cross-reference checks: everything a resource names must exist.

Schema validation sees one document at a time; these checks see the whole folder, so a Source
that triggers a missing workflow or a template that reads ``.steps.X`` for a step that does not
exist is reported before anything runs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from punching_fist.errors import TemplateError
from punching_fist.resources.chat_checks import chat_path_findings, chat_workflow_findings
from punching_fist.resources.endpoints import endpoint_findings
from punching_fist.resources.findings import Finding, error
from punching_fist.resources.loader import Resource, ResourceSet
from punching_fist.resources.sink import (
    AlertmanagerSinkSpec,
    JiraSinkSpec,
    PagerDutySinkSpec,
    PrometheusSinkSpec,
    Sink,
    SlackSinkSpec,
    StdoutSinkSpec,
    WorkflowSinkSpec,
)
from punching_fist.resources.source import WebhookSourceSpec
from punching_fist.resources.suggest import did_you_mean
from punching_fist.resources.workflow import (
    AgentSettings,
    AgentStep,
    CliStep,
    ConditionalStep,
    ToolSpec,
    Workflow,
)
from punching_fist.templating import compile_template


def workflow_templates(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """Every template of a workflow with the field path it sits at."""
    for name, value in workflow.spec.runtime.environment.items():
        if "{{" in value:
            yield f"spec.runtime.environment.{name}", value
    for index, step in enumerate(workflow.spec.steps):
        at = f"spec.steps[{index}]"
        if isinstance(step, CliStep):
            yield f"{at}.command", step.command
        elif isinstance(step, AgentStep):
            yield from _agent_templates(at, step)
        elif isinstance(step, ConditionalStep):
            yield f"{at}.condition", step.condition
            if step.agent is not None:
                yield from _agent_templates(f"{at}.agent", step.agent)
            if step.command is not None:
                yield f"{at}.command", step.command
    for index, output in enumerate(workflow.spec.outputs):
        yield f"spec.outputs[{index}].value", output.value
    for index, ref in enumerate(workflow.spec.sink_refs()):
        if ref.condition:
            yield f"spec.sinks[{index}].condition", ref.condition


def _agent_templates(at: str, settings: AgentSettings) -> Iterator[tuple[str, str]]:
    yield f"{at}.goal", settings.goal
    for index, tool in enumerate(settings.tools):
        if isinstance(tool, ToolSpec) and tool.endpoint and "{{" in tool.endpoint:
            yield f"{at}.tools[{index}].endpoint", tool.endpoint
    yield from _strings(f"{at}.context", settings.context)


def _strings(at: str, value: Any) -> Iterator[tuple[str, str]]:
    """The strings of a nested value (an agent's ``context``), each rendered as a template."""
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(f"{at}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(f"{at}[{index}]", item)


def sink_templates(sink: Sink) -> Iterator[tuple[str, str]]:
    """Every template of a sink's configuration with the field path it sits at."""
    spec = sink.spec
    fields: dict[str, str | None] = {}
    if isinstance(spec, SlackSinkSpec):
        fields = {"template": spec.config.template, "runUrl": spec.config.run_url}
    elif isinstance(spec, AlertmanagerSinkSpec):
        fields = {"template": spec.config.template, "comment": spec.config.comment}
    elif isinstance(spec, JiraSinkSpec):
        fields = {"template": spec.config.template, "summary": spec.config.summary}
    elif isinstance(spec, PagerDutySinkSpec):
        pagerduty = spec.config
        fields = {"template": pagerduty.template, "source": pagerduty.source}
        fields["component"] = pagerduty.component
    elif isinstance(spec, StdoutSinkSpec):
        fields = {"template": spec.config.template}
    elif isinstance(spec, WorkflowSinkSpec):
        condition = spec.config.trigger_condition
        fields = {"triggerCondition": condition if condition and "{{" in condition else None}
    elif isinstance(spec, PrometheusSinkSpec):
        prometheus = spec.config
        for key, value in prometheus.grouping_key.items():
            yield f"spec.config.groupingKey.{key}", value
        for key, value in prometheus.labels.items():
            yield f"spec.config.labels.{key}", value
        for index, metric in enumerate(prometheus.metrics):
            yield f"spec.config.metrics[{index}].value", metric.value
            for key, value in metric.labels.items():
                yield f"spec.config.metrics[{index}].labels.{key}", value
    for key, template in fields.items():
        if template:
            yield f"spec.config.{key}", template


def template_findings(kind: str, name: str, resource: Resource) -> list[Finding]:
    """Templates of one resource that do not compile."""
    if isinstance(resource, Workflow):
        templates = list(workflow_templates(resource))
    elif isinstance(resource, Sink):
        templates = list(sink_templates(resource))
    else:
        return []
    findings = []
    for at, source in templates:
        try:
            compile_template(source)
        except TemplateError as exc:
            findings.append(error(kind, name, at, str(exc), reason="InvalidTemplate"))
    return findings


def check_references(
    resources: ResourceSet, unloaded: Collection[tuple[str, str]] = ()
) -> list[Finding]:
    """Problems found across resources; empty when everything resolves.

    ``unloaded`` are resources that exist but did not load (their own problems are reported);
    references to them are not reported as missing.
    """
    findings: list[Finding] = []
    served: dict[str, str] = {}
    for name, source in sorted(resources.sources.items()):
        if isinstance(source.spec, WebhookSourceSpec):
            path = source.spec.config.path
            if path in served:
                findings.append(
                    error(
                        "Source",
                        name,
                        "spec.config.path",
                        f"{path!r} is already served by Source/{served[path]}",
                        reason="NameConflict",
                    )
                )
            served.setdefault(path, name)
    findings += endpoint_findings(resources)
    findings += chat_path_findings(resources) + chat_workflow_findings(resources)
    for name, source in resources.sources.items():
        if source.spec.trigger_workflow not in resources.workflows:
            findings.append(
                _missing(
                    "Source",
                    name,
                    "spec.triggerWorkflow",
                    ("Workflow", source.spec.trigger_workflow),
                    resources.workflows,
                )
            )
    for name, workflow in resources.workflows.items():
        findings.extend(_check_workflow(name, workflow, resources))
    for name, sink in resources.sinks.items():
        spec = sink.spec
        if (
            isinstance(spec, WorkflowSinkSpec)
            and spec.config.workflow_name not in resources.workflows
        ):
            findings.append(
                _missing(
                    "Sink",
                    name,
                    "spec.config.workflowName",
                    ("Workflow", spec.config.workflow_name),
                    resources.workflows,
                )
            )
    return [f for f in findings if f.missing is None or f.missing not in set(unloaded)]


def _missing(
    kind: str, name: str, at: str, target: tuple[str, str], existing: Collection[str]
) -> Finding:
    target_kind, target_name = target
    return Finding(
        kind=kind,
        name=name,
        at=at,
        message=f"{target_kind.lower()} {target_name!r} does not exist"
        + did_you_mean(target_name, existing),
        reason="MissingReference",
        missing=target,
    )


def _check_workflow(name: str, workflow: Workflow, resources: ResourceSet) -> list[Finding]:
    findings: list[Finding] = []
    for index, ref in enumerate(workflow.spec.sink_refs()):
        if ref.name not in resources.sinks:
            findings.append(
                _missing(
                    "Workflow", name, f"spec.sinks[{index}]", ("Sink", ref.name), resources.sinks
                )
            )
    step_names = {step.name for step in workflow.spec.steps}
    output_names = {output.name for output in workflow.spec.outputs}
    for at, source in workflow_templates(workflow):
        try:
            template = compile_template(source)
        except TemplateError:
            continue  # reported by template_findings
        for path in sorted(template.referenced_paths()):
            if len(path) >= 2 and path[0] == "steps" and path[1] not in step_names:
                findings.append(
                    error(
                        "Workflow",
                        name,
                        at,
                        f"template refers to .steps.{path[1]}, but the workflow has no step "
                        f"named {path[1]!r}{did_you_mean(path[1], step_names)}",
                        reason="MissingReference",
                    )
                )
            if len(path) >= 2 and path[0] == "outputs" and path[1] not in output_names:
                findings.append(
                    error(
                        "Workflow",
                        name,
                        at,
                        f"template refers to .outputs.{path[1]}, but the workflow has no output "
                        f"named {path[1]!r}{did_you_mean(path[1], output_names)}",
                        reason="MissingReference",
                    )
                )
    return findings
