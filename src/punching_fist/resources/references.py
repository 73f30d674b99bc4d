"""Cross-reference checks: everything a resource names must exist.

Schema validation sees one document at a time; these checks see the whole folder, so a Source
that triggers a missing workflow or a template that reads ``.steps.X`` for a step that does not
exist is reported before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from punching_fist.errors import TemplateError
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import WorkflowSinkSpec
from punching_fist.resources.source import WebhookSourceSpec
from punching_fist.resources.workflow import AgentStep, CliStep, ConditionalStep, Workflow
from punching_fist.templating import compile_template


def workflow_templates(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """Every template of a workflow with the field path it sits at."""
    for index, step in enumerate(workflow.spec.steps):
        at = f"spec.steps[{index}]"
        if isinstance(step, CliStep):
            yield f"{at}.command", step.command
        elif isinstance(step, AgentStep):
            yield f"{at}.goal", step.goal
        elif isinstance(step, ConditionalStep):
            yield f"{at}.condition", step.condition
            if step.agent is not None:
                yield f"{at}.agent.goal", step.agent.goal
            if step.command is not None:
                yield f"{at}.command", step.command
    for index, output in enumerate(workflow.spec.outputs):
        yield f"spec.outputs[{index}].value", output.value
    for index, ref in enumerate(workflow.spec.sink_refs()):
        if ref.condition:
            yield f"spec.sinks[{index}].condition", ref.condition


def check_references(resources: ResourceSet) -> list[str]:
    """Problems found across resources; empty when everything resolves."""
    problems: list[str] = []
    served: dict[str, str] = {}
    for name, source in sorted(resources.sources.items()):
        if isinstance(source.spec, WebhookSourceSpec):
            path = source.spec.config.path
            if path in served:
                problems.append(
                    f"Source/{name}: spec.config.path: {path!r} is already served by "
                    f"Source/{served[path]}"
                )
            served.setdefault(path, name)
    for name, source in resources.sources.items():
        if source.spec.trigger_workflow not in resources.workflows:
            problems.append(
                f"Source/{name}: spec.triggerWorkflow: workflow "
                f"{source.spec.trigger_workflow!r} does not exist"
            )
    for name, workflow in resources.workflows.items():
        problems.extend(_check_workflow(name, workflow, resources))
    for name, sink in resources.sinks.items():
        spec = sink.spec
        if (
            isinstance(spec, WorkflowSinkSpec)
            and spec.config.workflow_name not in resources.workflows
        ):
            problems.append(
                f"Sink/{name}: spec.config.workflowName: workflow "
                f"{spec.config.workflow_name!r} does not exist"
            )
    return problems


def _check_workflow(name: str, workflow: Workflow, resources: ResourceSet) -> list[str]:
    problems: list[str] = []
    for index, ref in enumerate(workflow.spec.sink_refs()):
        if ref.name not in resources.sinks:
            problems.append(
                f"Workflow/{name}: spec.sinks[{index}]: sink {ref.name!r} does not exist"
            )
    step_names = {step.name for step in workflow.spec.steps}
    output_names = {output.name for output in workflow.spec.outputs}
    for at, source in workflow_templates(workflow):
        try:
            template = compile_template(source)
        except TemplateError as exc:
            problems.append(f"Workflow/{name}: {at}: {exc}")
            continue
        for path in sorted(template.referenced_paths()):
            if len(path) >= 2 and path[0] == "steps" and path[1] not in step_names:
                problems.append(
                    f"Workflow/{name}: {at}: template refers to .steps.{path[1]}, "
                    f"but the workflow has no step named {path[1]!r}"
                )
            if len(path) >= 2 and path[0] == "outputs" and path[1] not in output_names:
                problems.append(
                    f"Workflow/{name}: {at}: template refers to .outputs.{path[1]}, "
                    f"but the workflow has no output named {path[1]!r}"
                )
    return problems
