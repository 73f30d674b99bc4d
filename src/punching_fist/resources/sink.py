"""The ``Sink`` resource: where workflow results go."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel


class SlackConfig(SpecModel):
    channel: str
    bot_token: str | None = Field(
        default=None, description="Secret reference (env://, k8s://, vault://) for the bot token."
    )
    template: str | None = None
    message_type: Literal["thread", "message"] = "message"
    mention_users: list[str] = Field(default_factory=list)
    endpoint: str = "https://slack.com/api/"


class AlertmanagerConfig(SpecModel):
    endpoint: str | None = None
    action: Literal["resolve", "annotate", "silence"] = "annotate"
    template: str | None = None
    duration: str = "1h"
    comment: str | None = None


class PushMetric(SpecModel):
    name: str
    value: str
    help: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class PrometheusConfig(SpecModel):
    pushgateway: str
    job: str = "punchingfist-results"
    grouping_key: dict[str, str] = Field(default_factory=dict)
    metrics: list[PushMetric] = Field(default_factory=list)


class JiraConfig(SpecModel):
    project: str
    issue_type: str = "Incident"
    endpoint: str = "https://atlassian.net"
    template: str | None = None
    summary: str | None = None
    user_email: str | None = None
    api_token: str | None = Field(default=None, description="Secret reference for the API token.")


class PagerDutyConfig(SpecModel):
    routing_key: str
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    endpoint: str = "https://events.pagerduty.com"
    template: str | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None


class WorkflowSinkConfig(SpecModel):
    workflow_name: str
    trigger_condition: str | None = None


class StdoutConfig(SpecModel):
    format: Literal["json", "text"] = "json"
    pretty: bool = False
    template: str | None = None


class SlackSinkSpec(SpecModel):
    type: Literal["slack"]
    config: SlackConfig


class AlertmanagerSinkSpec(SpecModel):
    type: Literal["alertmanager"]
    config: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)


class PrometheusSinkSpec(SpecModel):
    type: Literal["prometheus"]
    config: PrometheusConfig


class JiraSinkSpec(SpecModel):
    type: Literal["jira"]
    config: JiraConfig


class PagerDutySinkSpec(SpecModel):
    type: Literal["pagerduty"]
    config: PagerDutyConfig


class WorkflowSinkSpec(SpecModel):
    type: Literal["workflow"]
    config: WorkflowSinkConfig


class StdoutSinkSpec(SpecModel):
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
