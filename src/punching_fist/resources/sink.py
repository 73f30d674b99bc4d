"""The ``Sink`` resource: where workflow results go.

Credentials (``botToken``, ``apiToken``, ``routingKey``) are secret references such as
``env://SLACK_BOT_TOKEN``; a literal value loads (the design's examples use placeholders) but a
delivery refuses it, so a pasted token never travels further than the YAML it was pasted in.
Every sink shares ``spec.delivery``: how often to retry, when to stop trying a dead
destination (the circuit breaker) and how long one attempt may take.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel


class RetrySettings(SpecModel):
    """Exponential backoff with jitter: attempt n waits ``initial * multiplier**(n-1)``."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    """Attempts before the delivery is dead-lettered (``failed``)."""
    initial_delay_seconds: float = Field(default=1.0, ge=0)
    max_delay_seconds: float = Field(default=60.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1)
    """Fraction of each delay drawn at random, so many failing deliveries do not retry in step."""


class CircuitBreakerSettings(SpecModel):
    """Stop calling a destination after ``failureThreshold`` failures in a row."""

    failure_threshold: int = Field(default=5, ge=1)
    reset_seconds: float = Field(default=30.0, gt=0)
    """How long the breaker stays open before one probe delivery is let through."""


class DeliverySettings(SpecModel):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    circuit_breaker: CircuitBreakerSettings = Field(default_factory=CircuitBreakerSettings)
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest one attempt may take before it counts as a (retryable) failure."""


class SlackConfig(SpecModel):
    channel: str
    bot_token: str = Field(
        default="env://SLACK_BOT_TOKEN",
        description="Secret reference (env://, k8s://, vault://) for the bot token.",
    )
    template: str | None = None
    message_type: Literal["thread", "message"] = "message"
    mention_users: list[str] = Field(default_factory=list)
    endpoint: str = "https://slack.com/api/"
    run_url: str | None = Field(
        default=None,
        description="Template of the link to the run; default: the server's run API URL.",
    )
    approvals: bool = False
    """Also post the agent's approval requests (runs using this sink) with Approve/Deny."""
    approvers: list[str] = Field(default_factory=list)
    """Slack user ids (``U…``/``W…``) and user-group ids (``S…``) whose clicks decide.

    Anyone in the channel can click; only these people's clicks are honoured.
    """
    signing_secret: str = Field(
        default="env://SLACK_SIGNING_SECRET",
        description="Secret reference of the Slack app's signing secret (verifies clicks).",
    )

    @field_validator("approvers")
    @classmethod
    def _approvers_are_ids(cls, approvers: list[str]) -> list[str]:
        names = [a for a in approvers if not re.fullmatch(r"[UWS][A-Z0-9]{2,}", a)]
        if names:
            raise ValueError(
                f"{names} are not Slack ids: write user ids (U…, W…; a profile's 'Copy member "
                "ID') or user-group ids (S…), not names"
            )
        return approvers

    @model_validator(mode="after")
    def _approvals_have_approvers(self) -> SlackConfig:
        if self.approvals and not self.approvers:
            raise ValueError(
                "approvals: true needs approvers: the Slack user ids (U…) or user-group ids "
                "(S…) whose Approve/Deny clicks count"
            )
        return self


class AlertmanagerConfig(SpecModel):
    endpoint: str = "http://alertmanager:9093"
    action: Literal["resolve", "annotate", "silence"] = "annotate"
    template: str | None = None
    duration: str = "1h"
    """How long a silence (or an annotation alert) lasts, e.g. ``30m``, ``2h``."""
    comment: str | None = None
    """Template of the silence comment."""
    matchers: list[str] | None = None
    """Label names the silence matches on; default: every label of the alert."""
    created_by: str = "punching-fist"
    triage_label: str = "punchingfist_triage"
    """The label that marks the sibling alert ``annotate`` creates."""


class PushMetric(SpecModel):
    name: str
    value: str
    help: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class PrometheusConfig(SpecModel):
    pushgateway: str
    job: str = "punchingfist-results"
    grouping_key: dict[str, str] = Field(default_factory=dict)
    """Templates; default ``{workflow: <name>}``."""
    metrics: list[PushMetric] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    """Templates of labels added to every pushed sample."""


class JiraConfig(SpecModel):
    project: str
    issue_type: str = "Incident"
    endpoint: str = "https://atlassian.net"
    template: str | None = None
    summary: str | None = None
    user_email: str | None = Field(
        default=None, description="Jira Cloud: basic auth as this user; unset: bearer token."
    )
    api_token: str = Field(
        default="env://JIRA_API_TOKEN", description="Secret reference for the API token."
    )
    api_version: Literal["2", "3"] = "2"
    labels: list[str] = Field(default_factory=lambda: ["punching-fist"])


class PagerDutyConfig(SpecModel):
    routing_key: str = Field(description="Secret reference for the integration's routing key.")
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    endpoint: str = "https://events.pagerduty.com"
    template: str | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None
    source: str | None = None
    """Template of the event's ``source``; default: the alert's instance/namespace."""
    component: str | None = None


class WorkflowSinkConfig(SpecModel):
    workflow_name: str
    trigger_condition: str | None = None
    max_depth: int = Field(default=5, ge=1)
    """Longest chain of workflows starting workflows before it is refused."""


class StdoutConfig(SpecModel):
    format: Literal["json", "text"] = "json"
    pretty: bool = False
    template: str | None = None


class _SinkSpec(SpecModel):
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    escalation: bool | None = None
    """Whether a delivery hands the alert to a person (``escalated_at``, the escalation KPIs).
    Unset: PagerDuty sinks with ``action: trigger`` do, every other sink does not."""


class SlackSinkSpec(_SinkSpec):
    type: Literal["slack"]
    config: SlackConfig


class AlertmanagerSinkSpec(_SinkSpec):
    type: Literal["alertmanager"]
    config: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)


class PrometheusSinkSpec(_SinkSpec):
    type: Literal["prometheus"]
    config: PrometheusConfig


class JiraSinkSpec(_SinkSpec):
    type: Literal["jira"]
    config: JiraConfig


class PagerDutySinkSpec(_SinkSpec):
    type: Literal["pagerduty"]
    config: PagerDutyConfig


class WorkflowSinkSpec(_SinkSpec):
    type: Literal["workflow"]
    config: WorkflowSinkConfig


class StdoutSinkSpec(_SinkSpec):
    type: Literal["stdout"]
    config: StdoutConfig = Field(default_factory=StdoutConfig)


SinkSpec = Annotated[
    SlackSinkSpec
    | AlertmanagerSinkSpec
    | PrometheusSinkSpec
    | JiraSinkSpec
    | PagerDutySinkSpec
    | WorkflowSinkSpec
    | StdoutSinkSpec,
    Field(discriminator="type"),
]

SINK_CONFIGS: dict[str, type[SpecModel]] = {
    "slack": SlackConfig,
    "alertmanager": AlertmanagerConfig,
    "prometheus": PrometheusConfig,
    "jira": JiraConfig,
    "pagerduty": PagerDutyConfig,
    "workflow": WorkflowSinkConfig,
    "stdout": StdoutConfig,
}


class SinkStatus(StatusModel):
    """Delivery counters the operator publishes."""

    messages_sent: int = 0
    last_sent_time: str | None = None
    last_error: str | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Sink(SpecModel):
    """A ``Sink`` resource."""

    api_version: ApiVersion
    kind: Literal["Sink"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SinkSpec
    status: SinkStatus | None = None
