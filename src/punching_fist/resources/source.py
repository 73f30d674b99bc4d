"""The ``Source`` resource: what triggers a workflow (webhook, chat, schedule, API, cluster)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel
from punching_fist.resources.label_selector import LabelSelector
from punching_fist.resources.suggest import did_you_mean

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class Authentication(SpecModel):
    """How callers prove who they are. ``secretRef`` is a secret reference such as ``env://NAME``."""

    type: Literal["bearer", "apikey", "none"] = "bearer"
    secret_ref: str | None = None
    header: str | None = Field(
        default=None, description="Header carrying an API key (default X-API-Key for apikey)."
    )


class WebhookConfig(SpecModel):
    """An HTTP endpoint that accepts Alertmanager webhook notifications."""

    path: str
    filters: dict[str, list[str]] = Field(default_factory=dict)
    authentication: Authentication | None = None
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    trigger_on_resolved: bool = Field(
        default=False, description="Start a run for resolved notifications too."
    )
    max_runs_per_request: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description=(
            "Runs one notification starts right away; its other alerts' runs are stored and"
            " wait for free workers. Default: the OperatorConfig's spec.limits.maxRunsPerRequest"
            " (100)."
        ),
    )

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class ChatConfig(SpecModel):
    """Chat messages (mentions or slash commands) that start a workflow (``docs/chat.md``)."""

    platform: Literal["slack"] = "slack"
    trigger: Literal["mention", "command"] = "mention"
    channel: str | None = Field(
        default=None, description="Only mentions in this channel id (C…) start runs."
    )
    command: str | None = Field(
        default=None, description="The slash command (``/punch``) of ``trigger: command``."
    )
    path: str = Field(
        default="/slack/events",
        description="Where Slack posts events and commands (the app's Request URL).",
    )
    bot_token: str = Field(
        default="env://SLACK_BOT_TOKEN",
        description="Secret reference (env://, k8s://, vault://) for the bot token.",
    )
    signing_secret: str = Field(
        default="env://SLACK_SIGNING_SECRET",
        description="Secret reference of the Slack app's signing secret (verifies requests).",
    )
    endpoint: str = Field(default="https://slack.com/api/", description="The Web API base.")

    @field_validator("path")
    @classmethod
    def _chat_path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("command")
    @classmethod
    def _command_is_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        command = value if value.startswith("/") else f"/{value}"  # the design writes "debug"
        if not re.fullmatch(r"/[a-z0-9_-]{1,31}", command):
            raise ValueError(f"{value!r} is not a slash command such as /punch")
        return command

    @model_validator(mode="after")
    def _command_for_command_trigger(self) -> ChatConfig:
        if self.trigger == "command" and self.command is None:
            raise ValueError("trigger 'command' needs 'command' (such as /punch)")
        return self


class ScheduleConfig(SpecModel):
    """A cron schedule."""

    cron: str
    timezone: str = "UTC"
    catch_up: bool = Field(
        default=True,
        description=(
            "After downtime, start the latest missed run once (never one per missed tick)."
        ),
    )

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        # Checked here: the scheduler can only fall back to UTC, which fires at the wrong hour.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            hint = did_you_mean(value, available_timezones())
            raise ValueError(
                f"unknown time zone {value!r}{hint}: write an IANA name such as UTC,"
                " Europe/Berlin or America/New_York"
            ) from None
        return value


class ApiConfig(SpecModel):
    """An API endpoint that external systems call to start a workflow."""

    endpoint: str
    method: Literal["POST", "PUT"] = "POST"
    authentication: Authentication | None = None
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class KubernetesConfig(SpecModel):
    """Kubernetes object events that start a workflow."""

    resource: str
    event: Literal["created", "updated", "deleted", "entered", "exited"] = Field(
        default="created",
        description=(
            "created/deleted: the object came into or went out of existence; updated: a"
            " selected object changed; entered/exited: an existing object started or stopped"
            " matching labelSelector."
        ),
    )
    label_selector: str | None = None
    namespace: str | None = None

    @field_validator("label_selector")
    @classmethod
    def _selector_is_valid(cls, value: str | None) -> str | None:
        LabelSelector.parse(value)
        return value


class _SourceSpecBase(SpecModel):
    trigger_workflow: str
    context: dict[str, Any] = Field(default_factory=dict)


class WebhookSourceSpec(_SourceSpecBase):
    type: Literal["webhook"]
    config: WebhookConfig


class ChatSourceSpec(_SourceSpecBase):
    type: Literal["chat"]
    config: ChatConfig


class ScheduleSourceSpec(_SourceSpecBase):
    type: Literal["schedule"]
    config: ScheduleConfig


class ApiSourceSpec(_SourceSpecBase):
    type: Literal["api"]
    config: ApiConfig


class KubernetesSourceSpec(_SourceSpecBase):
    type: Literal["kubernetes"]
    config: KubernetesConfig


SourceSpec = Annotated[
    WebhookSourceSpec | ChatSourceSpec | ScheduleSourceSpec | ApiSourceSpec | KubernetesSourceSpec,
    Field(discriminator="type"),
]

SOURCE_CONFIGS: dict[str, type[SpecModel]] = {
    "webhook": WebhookConfig,
    "chat": ChatConfig,
    "schedule": ScheduleConfig,
    "api": ApiConfig,
    "kubernetes": KubernetesConfig,
}


class SourceStatus(StatusModel):
    """What the operator reports about a source."""

    ready: bool = False
    last_event_time: str | None = None
    events_processed: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class Source(SpecModel):
    """A ``Source`` resource."""

    api_version: ApiVersion
    kind: Literal["Source"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SourceSpec
    status: SourceStatus | None = None
