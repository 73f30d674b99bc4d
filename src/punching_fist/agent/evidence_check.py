"""The load-time check of a workflow's own evidence commands (``evidence: [...]``).

They run before the first LLM request without asking anyone, so at load each must compile
and be a read-only kubectl command by the same policy the agent's kubectl tool applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from punching_fist.agent.tools.kubectl_policy import classify_kubectl
from punching_fist.errors import TemplateError
from punching_fist.resources.workflow import AgentSettings, AgentStep, ConditionalStep, Workflow
from punching_fist.templating import compile_template

_TEMPLATE_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def evidence_problems(workflow: Workflow) -> list[str]:
    """Custom evidence commands that do not compile or would not run without approval.

    One line each, naming the field (``spec.steps[1].evidence[0]: ...``). Template actions
    are judged as one plain word, so a template cannot choose the verb or add flags unseen.
    """
    problems: list[str] = []
    for at, settings in _agent_settings(workflow):
        if isinstance(settings.evidence, str):
            continue
        required = settings.rig_config.safety.require_approval if settings.rig_config else []
        for index, command in enumerate(settings.evidence):
            where = f"{at}.evidence[{index}]"
            try:
                compile_template(command)
            except TemplateError as exc:
                problems.append(f"{where}: {exc}")
                continue
            plain = _TEMPLATE_ACTION.sub("x", command)
            decision = classify_kubectl(plain, require_approval_for=required)
            if decision.kind != "allow":
                problems.append(
                    f"{where}: evidence commands must be read-only kubectl commands that run"
                    f" without approval; {decision.reason}"
                )
    return problems


def _agent_settings(workflow: Workflow) -> Iterator[tuple[str, AgentSettings]]:
    for index, step in enumerate(workflow.spec.steps):
        if isinstance(step, AgentStep):
            yield f"spec.steps[{index}]", step
        elif isinstance(step, ConditionalStep) and step.agent is not None:
            yield f"spec.steps[{index}].agent", step.agent
