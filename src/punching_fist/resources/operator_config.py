"""The ``OperatorConfig`` resource: operator-wide settings (database, chat, LLM, secrets)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel


class DatabaseConfig(SpecModel):
    type: Literal["postgres", "postgresql", "sqlite"] = "sqlite"
    connection_string: str | None = None


class SlackChatConfig(SpecModel):
    bot_token: str | None = None
    channel_id: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None


class ChatSettings(SpecModel):
    slack: SlackChatConfig | None = None


class ProviderSettings(SpecModel):
    endpoint: str | None = None
    model: str | None = None
    api_key: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)


class LLMSettings(SpecModel):
    default_provider: str = "local"
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)


class RunbooksConfig(SpecModel):
    repository: str
    sync_interval: str = "1h"


class SecretManagerConfig(SpecModel):
    type: Literal["vault", "aws-secrets", "azure-keyvault", "kubernetes"]
    endpoint: str | None = None
    auth_method: str | None = None
    secret_path: str | None = None
    role: str | None = None
    region: str | None = None
    secret_prefix: str | None = None
    vault_url: str | None = None
    client_id: str | None = None


class SecretKeyRef(SpecModel):
    secret_ref: str
    key: str


class SecretRotationConfig(SpecModel):
    enabled: bool = False
    check_interval: str = "1h"
    grace_period: str = "300s"


class OperatorConfigSpec(SpecModel):
    database: DatabaseConfig | None = None
    chat: ChatSettings | None = None
    llm: LLMSettings | None = None
    runbooks: RunbooksConfig | None = None
    secret_manager: SecretManagerConfig | None = None
    secrets: dict[str, SecretKeyRef] = Field(default_factory=dict)
    secret_rotation: SecretRotationConfig | None = None


class OperatorConfigStatus(StatusModel):
    """Whether the operator accepted the configuration (the CRD's status subresource)."""

    ready: bool = False
    conditions: list[Condition] = Field(default_factory=list)


class OperatorConfig(SpecModel):
    """An ``OperatorConfig`` resource."""

    api_version: ApiVersion
    kind: Literal["OperatorConfig"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: OperatorConfigSpec
    status: OperatorConfigStatus | None = None
