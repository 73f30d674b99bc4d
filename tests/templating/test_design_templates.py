"""Every template in the design document renders as written."""

from __future__ import annotations

from typing import Any

import pytest

from punching_fist.templating import (
    compile_template,
    evaluate_condition,
    render,
    render_shell_script,
    render_value,
)
from tests.templating.shell_runner import run_bash


@pytest.fixture
def context() -> dict[str, Any]:
    return {
        "source": {
            "name": "alertmanager-prod",
            "data": {
                "alert": {
                    "alertname": "HighCPUUsage",
                    "summary": "CPU above 90% for 5m",
                    "labels": {"severity": "critical", "service": "api", "namespace": "prod"},
                }
            },
        },
        "env": {"PROMETHEUS_URL": "http://prometheus:9090"},
        "steps": {
            "agent-investigation": {
                "result": {
                    "can_auto_fix": True,
                    "problem_summary": "OOMKilled pods",
                    "fix_command": "kubectl rollout restart deploy/api",
                    "summary": "memory leak in api",
                    "root_cause": "unbounded cache",
                    "escalation_notes": "page the api team",
                }
            },
            "resolution-attempt": {"success": True},
        },
        "workflow": {
            "name": "alert-triage",
            "status": "succeeded",
            "duration": "42s",
            "completedAt": "2024-05-01T12:00:00Z",
            "outputs": {
                "recommendations": "restart the api",
                "severity-assessment": "high",
                "investigation_summary": "memory leak",
                "initial-triage": "pods are crash-looping",
            },
        },
        "outputs": {"auto_fixed": False},
    }


def test_cli_step_prints_alert_name_and_labels_exactly(context: dict[str, Any]) -> None:
    command = (
        'echo "Alert: {{ .source.data.alert.alertname }}"\n'
        'echo "Summary: {{ .source.data.alert.summary }}"\n'
        'echo "Labels: {{ .source.data.alert.labels | toJSON }}"\n'
    )
    script = render_shell_script(command, context)
    assert run_bash(script).stdout == (
        "Alert: HighCPUUsage\n"
        "Summary: CPU above 90% for 5m\n"
        'Labels: {"namespace":"prod","service":"api","severity":"critical"}\n'
    )


def test_agent_goal(context: dict[str, Any]) -> None:
    goal = (
        "I need to investigate this alert: {{ .source.data.alert.summary }}\n"
        "\n"
        "Available information:\n"
        "- Alert name: {{ .source.data.alert.alertname }}\n"
        "- Affected service: {{ .source.data.alert.labels.service }}\n"
        "- Namespace: {{ .source.data.alert.labels.namespace }}\n"
        "- Severity: {{ .source.data.alert.labels.severity }}\n"
    )
    assert render(goal, context) == (
        "I need to investigate this alert: CPU above 90% for 5m\n"
        "\n"
        "Available information:\n"
        "- Alert name: HighCPUUsage\n"
        "- Affected service: api\n"
        "- Namespace: prod\n"
        "- Severity: critical\n"
    )


def test_tool_endpoint(context: dict[str, Any]) -> None:
    assert render("{{ .env.PROMETHEUS_URL }}", context) == "http://prometheus:9090"


def test_conditional_step_condition(context: dict[str, Any]) -> None:
    condition = "{{ .steps.agent-investigation.result.can_auto_fix }}"
    assert evaluate_condition(condition, context) is True
    context["steps"]["agent-investigation"]["result"]["can_auto_fix"] = "false"
    assert evaluate_condition(condition, context) is False
    del context["steps"]["agent-investigation"]
    assert evaluate_condition(condition, context) is False


def test_resolution_goal(context: dict[str, Any]) -> None:
    goal = (
        "Issue: {{ .steps.agent-investigation.result.problem_summary }}\n"
        "Proposed fix: {{ .steps.agent-investigation.result.fix_command }}\n"
    )
    assert render(goal, context) == (
        "Issue: OOMKilled pods\nProposed fix: kubectl rollout restart deploy/api\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{ .steps.agent-investigation.result.summary }}", "memory leak in api"),
        ("{{ .steps.agent-investigation.result.root_cause }}", "unbounded cache"),
        ("{{ .steps.agent-investigation.result.escalation_notes }}", "page the api team"),
    ],
)
def test_workflow_outputs(context: dict[str, Any], value: str, expected: str) -> None:
    assert render_value(value, context) == expected


def test_auto_fixed_output_is_typed(context: dict[str, Any]) -> None:
    value = "{{ .steps.resolution-attempt.success | default false }}"
    assert render_value(value, context) is True
    del context["steps"]["resolution-attempt"]
    assert render_value(value, context) is False


def test_pagerduty_sink_condition(context: dict[str, Any]) -> None:
    condition = "{{ not .outputs.auto_fixed }}"
    assert evaluate_condition(condition, context) is True
    context["outputs"]["auto_fixed"] = True
    assert evaluate_condition(condition, context) is False
    context["outputs"]["auto_fixed"] = "false"  # outputs often arrive as text
    assert evaluate_condition(condition, context) is True


def test_slack_sink(context: dict[str, Any]) -> None:
    template = (
        "🚨 Alert Triage Complete for {{ .source.data.alert.alertname }}\n"
        "\n"
        "**Recommendations:**\n"
        "{{ .workflow.outputs.recommendations }}\n"
        "\n"
        "**Severity Assessment:** {{ .workflow.outputs.severity-assessment }}\n"
        "\n"
        "**Context:**\n"
        "- Source: {{ .source.name }}\n"
        "- Workflow: {{ .workflow.name }}\n"
        "- Duration: {{ .workflow.duration }}\n"
    )
    assert render(template, context) == (
        "🚨 Alert Triage Complete for HighCPUUsage\n"
        "\n"
        "**Recommendations:**\n"
        "restart the api\n"
        "\n"
        "**Severity Assessment:** high\n"
        "\n"
        "**Context:**\n"
        "- Source: alertmanager-prod\n"
        "- Workflow: alert-triage\n"
        "- Duration: 42s\n"
    )


def test_alertmanager_sink(context: dict[str, Any]) -> None:
    template = (
        'ai_triage: "{{ .workflow.outputs.recommendations }}"\n'
        'ai_severity: "{{ .workflow.outputs.severity-assessment }}"\n'
        'ai_timestamp: "{{ .workflow.completedAt }}"\n'
    )
    assert render(template, context) == (
        'ai_triage: "restart the api"\nai_severity: "high"\nai_timestamp: "2024-05-01T12:00:00Z"\n'
    )


def test_stdout_debug_sink(context: dict[str, Any]) -> None:
    template = (
        "Debug Output for Workflow {{ .workflow.name }}:\n"
        "Source: {{ .source.name }}\n"
        "Alert: {{ .source.data.alert.alertname }}\n"
        "Investigation Summary:\n"
        "{{ .workflow.outputs.investigation_summary }}\n"
        "---\n"
    )
    assert render(template, context) == (
        "Debug Output for Workflow alert-triage:\n"
        "Source: alertmanager-prod\n"
        "Alert: HighCPUUsage\n"
        "Investigation Summary:\n"
        "memory leak\n"
        "---\n"
    )


def test_stdout_sink_range_over_outputs(context: dict[str, Any]) -> None:
    template = (
        "Workflow {{ .workflow.name }} completed.\n"
        "Status: {{ .workflow.status }}\n"
        "Outputs:\n"
        "{{ range $key, $value := .workflow.outputs }}\n"
        "  {{ $key }}: {{ $value }}\n"
        "{{ end }}\n"
    )
    context["workflow"]["outputs"] = {"severity": "high", "auto_fixed": False}
    # Go iterates maps in sorted key order and keeps the text around the actions.
    assert render(template, context) == (
        "Workflow alert-triage completed.\n"
        "Status: succeeded\n"
        "Outputs:\n"
        "\n  auto_fixed: false\n"
        "\n  severity: high\n"
        "\n"
    )


def test_agent_context_is_the_source_data(context: dict[str, Any]) -> None:
    assert render_value("{{ .source.data }}", context) == context["source"]["data"]
    assert render("{{ .source.data }}", context).startswith('{"alert":{"alertname":')


def test_initial_triage_sinks(context: dict[str, Any]) -> None:
    slack = (
        "🤖 **Alert Triage Results**\n"
        "Alert: {{ .source.data.alert.alertname }}\n"
        "{{ .workflow.outputs.initial-triage }}\n"
    )
    assert render(slack, context) == (
        "🤖 **Alert Triage Results**\nAlert: HighCPUUsage\npods are crash-looping\n"
    )
    annotation = 'ai_analysis: "{{ .workflow.outputs.initial-triage }}"\n'
    assert render(annotation, context) == 'ai_analysis: "pods are crash-looping"\n'


def test_referenced_paths_name_steps() -> None:
    template = compile_template(
        "{{ .steps.agent-investigation.result.can_auto_fix }} {{ .workflow.outputs.x }}"
    )
    assert template.referenced_paths() == {
        ("steps", "agent-investigation", "result", "can_auto_fix"),
        ("workflow", "outputs", "x"),
    }
