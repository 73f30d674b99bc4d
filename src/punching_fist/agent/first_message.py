"""What an investigation opens with: the alert, the step's rendered ``context`` and the
standard evidence, read through the step's own kubectl tool before the first LLM request.

Apart from the runtime, which only decides whether a conversation starts or resumes; the
wording of the message is ``prompt.first_message``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from punching_fist.agent.base import AgentRequest
from punching_fist.agent.evidence import Evidence, gather
from punching_fist.agent.evidence_plan import plan_evidence
from punching_fist.agent.facts import evidence_facts
from punching_fist.agent.key_lines import key_lines, say_why
from punching_fist.agent.memory import PastIncident, memory_section
from punching_fist.agent.prompt import first_message
from punching_fist.agent.runbook import run_tool_reads, with_runbook_reads
from punching_fist.agent.tools.base import AgentTool
from punching_fist.agent.toolset import ApprovalNeeded, GuardedToolset
from punching_fist.errors import CommandRejected
from punching_fist.resources.workflow import AgentSettings
from punching_fist.templating import render, render_value

KUBECTL = "kubectl"


def gathers_evidence(settings: AgentSettings, tools: Sequence[AgentTool]) -> bool:
    return settings.evidence != "off" and any(tool.name == KUBECTL for tool in tools)


async def gather_evidence(
    request: AgentRequest,
    toolset: GuardedToolset,
    tools: Sequence[AgentTool],
    *,
    budget_seconds: float,
) -> Evidence:
    """The standard reads for the alert's target, run through the step's own kubectl tool
    (so each is checked, audited and remembered as a call the model need not repeat)."""
    if not gathers_evidence(request.settings, tools):
        return Evidence()
    setting = request.settings.evidence
    if not isinstance(setting, str):
        setting = [render(command, request.context) for command in setting]
    # The runbook's read-only commands join the plan (agent/runbook.py).
    plan = with_runbook_reads(
        plan_evidence(setting, _alert(request).get("labels") or {}), request.runbook
    )
    checker = toolset.validator(KUBECTL)
    assert checker is not None, "gathers_evidence saw the kubectl tool"

    async def run(command: str) -> str:
        arguments = checker.validate_python({"command": command})
        text = await toolset.call(KUBECTL, arguments)
        if isinstance(text, ApprovalNeeded):  # a read-only plan never needs a person
            raise CommandRejected(f"`{command}` is not a read-only command")
        return text

    # The runbook's curl and PromQL reads run beside the kubectl ones, in the same budget.
    kubectl_reads, tool_reads = await asyncio.gather(
        gather(plan, run, budget_seconds=budget_seconds),
        run_tool_reads(
            request.runbook,
            toolset,
            {tool.name for tool in tools},
            budget_seconds=budget_seconds,
        ),
    )
    return Evidence(observations=kubectl_reads.observations + tool_reads)


def first_message_for(request: AgentRequest, evidence: Evidence) -> str:
    """The goal with the whole alert, the step's rendered ``context`` and the evidence."""
    context = request.settings.context
    if context is not None:
        context = _rendered(context, request.context)
    return first_message(
        request.goal,
        alert=_alert(request),
        context=context,
        evidence=evidence.render(),
        key_lines=key_lines((o.command, o.output) for o in evidence.observations),
        runbook=request.runbook.section if request.runbook else None,
        memory=memory_section(request.memory.similar) if request.memory else None,
        facts=facts_for(request, evidence),
    )


def unexplained(request: AgentRequest, evidence: Evidence) -> bool:
    """Whether the first message shows that something fails and nothing of why: its
    failure lines are only the generic signs of a crash loop, no rule found a fact, and no
    runbook or past incident brings knowledge the evidence lacks (a runbook that says which
    key the API needs explains a config map that lacks it, where no rule could)."""
    if request.runbook is not None or any(_knows_why(p) for p in _similar(request)):
        return False
    lines = key_lines((o.command, o.output) for o in evidence.observations)
    return bool(lines) and not say_why(lines) and not facts_for(request, evidence)


def _similar(request: AgentRequest) -> Sequence[PastIncident]:
    return request.memory.similar if request.memory else ()


def _knows_why(incident: PastIncident) -> bool:
    """A past incident with a cause nobody marked wrong, or a fix people reported."""
    return bool((incident.root_cause and incident.correct != "no") or incident.resolution)


def facts_for(request: AgentRequest, evidence: Evidence) -> list[str]:
    """What rules read off the triggering alert and the evidence (``agent.facts``)."""
    observed = ((o.command, o.full or o.output) for o in evidence.observations)
    return evidence_facts(_alert(request), observed)


def _alert(request: AgentRequest) -> Mapping[str, Any]:
    """The triggering alert as templates see it (``.source.data.alert``); empty if none."""
    source = request.context.get("source")
    data = source.get("data") if isinstance(source, Mapping) else None
    alert = data.get("alert") if isinstance(data, Mapping) else None
    return alert if isinstance(alert, Mapping) else {}


def _rendered(value: Any, context: Mapping[str, Any]) -> Any:
    """``context`` with every string rendered as a template, as ``goal`` is."""
    if isinstance(value, str):
        return render_value(value, context)
    if isinstance(value, Mapping):
        return {key: _rendered(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_rendered(item, context) for item in value]
    return value
