"""Chat Sources against the other resources: where they listen, who answers them.

Chat Sources of one Slack app share its Request URL (a mention Source and a command Source at
``/slack/events``), so a path may be shared among chat Sources. It may not be a webhook
Source's (webhook paths are matched before any other route: Slack's requests would reach the
alert intake) or one of the server's routes; an api Source's endpoint on it is reported by
``endpoints.endpoint_findings``. Two Sources answering the same slash command at one path
would leave the second one silent; two answering mentions in the same channel would answer
each mention twice. A ``mode: chat`` step answers chat messages only: in a workflow no chat
Source starts, it can never answer (a warning: a Source may come later);
one whose writes wait for approval needs a slack Sink with ``approvals: true`` in its
workflow, or nobody in Slack sees the buttons.
"""

from __future__ import annotations

from punching_fist.resources.endpoints import reserved
from punching_fist.resources.findings import Finding, error, warning
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import SlackSinkSpec
from punching_fist.resources.source import ChatSourceSpec, WebhookSourceSpec
from punching_fist.resources.workflow import (
    AgentSettings,
    AgentStep,
    ConditionalStep,
    RigConfig,
    Workflow,
)


def chat_path_findings(resources: ResourceSet) -> list[Finding]:
    webhooks = {
        source.spec.config.path: name
        for name, source in sorted(resources.sources.items(), reverse=True)
        if isinstance(source.spec, WebhookSourceSpec)
    }
    findings: list[Finding] = []
    commands: dict[tuple[str, str], str] = {}
    mentions: dict[tuple[str, str | None], str] = {}
    for name, source in sorted(resources.sources.items()):
        if not isinstance(source.spec, ChatSourceSpec):
            continue
        config = source.spec.config
        owner = f"webhook Source/{webhooks[config.path]}" if config.path in webhooks else None
        if owner is None and reserved(config.path):
            owner = "the server's own API"
        if owner is not None:
            message = f"{config.path!r} is already served by {owner}: choose another path"
            findings.append(
                error("Source", name, "spec.config.path", message, reason="NameConflict")
            )
        if config.trigger == "mention":
            rival = next(
                (
                    other
                    for (path, channel), other in mentions.items()
                    if path == config.path
                    and (channel is None or config.channel is None or channel == config.channel)
                ),
                None,
            )
            if rival is not None:
                where = f"in {config.channel}" if config.channel else "in any channel"
                message = (
                    f"Source/{rival} at {config.path!r} answers mentions {where} too: each"
                    " mention would be answered twice (set different channels)"
                )
                findings.append(
                    error("Source", name, "spec.config.channel", message, reason="NameConflict")
                )
            mentions.setdefault((config.path, config.channel), name)
        if config.trigger == "command" and config.command is not None:
            key = (config.path, config.command)
            if key in commands:
                message = (
                    f"{config.command} at {config.path!r} is already answered by"
                    f" Source/{commands[key]}"
                )
                findings.append(
                    error("Source", name, "spec.config.command", message, reason="NameConflict")
                )
            commands.setdefault(key, name)
    return findings


def chat_workflow_findings(resources: ResourceSet) -> list[Finding]:
    started = {
        source.spec.trigger_workflow
        for source in resources.sources.values()
        if isinstance(source.spec, ChatSourceSpec)
    }
    findings: list[Finding] = []
    for name, workflow in sorted(resources.workflows.items()):
        buttons = any(
            isinstance(sink.spec, SlackSinkSpec) and sink.spec.config.approvals
            for ref in workflow.spec.sink_refs()
            if (sink := resources.sinks.get(ref.name)) is not None
        )
        for index, step in enumerate(workflow.spec.steps):
            settings: AgentSettings
            if isinstance(step, AgentStep):
                settings, at = step, f"spec.steps[{index}].mode"
            elif isinstance(step, ConditionalStep) and step.agent is not None:
                settings, at = step.agent, f"spec.steps[{index}].agent.mode"
            else:
                continue
            if settings.mode != "chat":
                continue
            if name in started and not buttons and _may_wait(settings, workflow):
                findings.append(
                    warning(
                        "Workflow",
                        name,
                        at.removesuffix(".mode") + ".approvalRequired",
                        "the writes this chat step proposes would wait with no buttons in"
                        " Slack (only `punching-fist approvals` or the API could decide): add"
                        " a slack Sink with approvals: true to the workflow's sinks",
                        reason="UnusedSetting",
                    )
                )
            if name not in started:
                findings.append(
                    warning(
                        "Workflow",
                        name,
                        at,
                        "mode: chat answers the messages of chat Sources, and no chat Source"
                        " triggers this workflow: the step would fail",
                        reason="UnusedSetting",
                    )
                )
    return findings


def _may_wait(settings: AgentSettings, workflow: Workflow) -> bool:
    """Whether the step's writes can wait for a person (else they are refused at once)."""
    rig = settings.rig_config or RigConfig()
    return (
        settings.approval_required
        or bool(rig.safety.require_approval)
        or bool(workflow.spec.approval_rules)
    )
