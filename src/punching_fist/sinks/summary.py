"""The result of a run as the hosted sinks present it, read out of the template context.

Workflows name their outputs freely; the design's examples use ``investigation_summary``,
``root_cause``, ``recommendations`` and ``auto_fixed``, and agent steps return ``summary``,
``root_cause``, ``recommendations`` and ``confidence``. Slack, Jira and PagerDuty all show the
same handful of facts, so they are looked up once here: outputs first (the workflow author's
choice), then the first agent step's result, then the alert itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUMMARY_KEYS = ("summary", "investigation_summary", "initial-triage", "triage")
ROOT_CAUSE_KEYS = ("root_cause", "rootCause", "root-cause")
RECOMMENDATION_KEYS = ("recommendations", "recommendation", "next_steps")
CONFIDENCE_KEYS = ("confidence", "ai_confidence")


@dataclass(frozen=True, kw_only=True)
class ResultSummary:
    alertname: str
    severity: str
    status: str
    """The workflow's status: ``succeeded`` or ``failed``."""
    summary: str
    root_cause: str
    recommendations: list[str]
    confidence: float | None
    auto_fixed: bool
    workflow: str
    run_id: str
    duration: str
    duration_seconds: float | None
    alert_status: str
    labels: Mapping[str, str] = field(default_factory=dict)
    fingerprint: str = ""


def alert_of(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The alert a run is about (``.source.data.alert``), or {} for other sources."""
    source = context.get("source") or {}
    data = source.get("data") if isinstance(source, Mapping) else None
    alert = data.get("alert") if isinstance(data, Mapping) else None
    return alert if isinstance(alert, Mapping) else {}


def summarize(context: Mapping[str, Any]) -> ResultSummary:
    workflow = context.get("workflow") or {}
    outputs = workflow.get("outputs") or context.get("outputs") or {}
    agent = _agent_result(context.get("steps") or {})
    alert = alert_of(context)
    labels = alert.get("labels") or {}
    return ResultSummary(
        alertname=str(alert.get("alertname") or labels.get("alertname") or workflow.get("name")),
        severity=str(alert.get("severity") or labels.get("severity") or "unknown").lower(),
        status=str(workflow.get("status") or "unknown"),
        summary=_text(_first(outputs, agent, SUMMARY_KEYS) or alert.get("summary")),
        root_cause=_text(_first(outputs, agent, ROOT_CAUSE_KEYS)),
        recommendations=_items(_first(outputs, agent, RECOMMENDATION_KEYS)),
        confidence=_confidence(_first(outputs, agent, CONFIDENCE_KEYS)),
        auto_fixed=_flag(outputs.get("auto_fixed")),
        workflow=str(workflow.get("name") or ""),
        run_id=str(workflow.get("runId") or ""),
        duration=str(workflow.get("duration") or ""),
        duration_seconds=_number(workflow.get("durationSeconds")),
        alert_status=str(alert.get("status") or ""),
        labels={str(k): str(v) for k, v in labels.items()},
        fingerprint=str(alert.get("fingerprint") or ""),
    )


def _agent_result(steps: Mapping[str, Any]) -> Mapping[str, Any]:
    for step in steps.values():
        result = step.get("result") if isinstance(step, Mapping) else None
        if step.get("type") in ("agent", "conditional") and isinstance(result, Mapping):
            return result
    return {}


def _first(outputs: Mapping[str, Any], agent: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for source in (outputs, agent):
        for key in keys:
            value = source.get(key)
            if value not in (None, "", [], {}):
                return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(f"• {item}" for item in value)
    return str(value).strip()


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    lines = [line.strip().lstrip("-*•").strip() for line in str(value).splitlines()]
    return [line for line in lines if line]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _confidence(value: Any) -> float | None:
    number = _number(value) if value is not None else None
    if number is None:
        return None
    return number / 100 if number > 1 else number  # "85" and 0.85 mean the same
