"""The ``OperatorConfig`` resource: operator-wide settings (database, chat, LLM, secrets, API)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from punching_fist.resources.approval import ApprovalRule, unique_rule_names
from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel
from punching_fist.resources.durations import Duration
from punching_fist.resources.incident_settings import IncidentSettings
from punching_fist.resources.kpi_settings import KpiSettings
from punching_fist.resources.memory_settings import CacheSettings, KnowledgeSettings
from punching_fist.resources.runbooks import RunbooksConfig
from punching_fist.secret_refs import is_reference

ApiRole = Literal["viewer", "approver", "admin"]


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
    tenant_id: str | None = None
    token_endpoint: str | None = None


class SecretKeyRef(SpecModel):
    secret_ref: str
    key: str


class SecretRotationConfig(SpecModel):
    enabled: bool = False
    check_interval: str = "1h"
    grace_period: str = "300s"


class ApiToken(SpecModel):
    """One bearer token of the HTTP API, and what its holder may do."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+-]*$")
    """Who holds it; recorded as ``decided_by`` of the approvals it decides."""
    secret_ref: str
    """Secret reference of the token (``env://NAME``, ``k8s://namespace/secret/key``)."""
    role: ApiRole
    """``viewer`` reads; ``approver`` also decides approvals; ``admin`` also retries deliveries."""

    @field_validator("secret_ref")
    @classmethod
    def _is_a_reference(cls, value: str) -> str:
        # Never echo the value: it is most likely the token itself.
        if not is_reference(value):
            raise ValueError(
                "must be a secret reference, not the token itself: put the token in an "
                "environment variable or a Kubernetes Secret and write env://NAME or "
                "k8s://namespace/secret/key"
            )
        return value


class ApiSettings(SpecModel):
    """Who may call ``/api/v1``; without tokens the API is open on a loopback address only."""

    tokens: list[ApiToken] = Field(default_factory=list)
    auth: Literal["tokens", "kubernetes"] = "tokens"
    """``kubernetes`` (``serve --kubernetes`` only): Kubernetes tokens are accepted too, checked
    by TokenReview, with roles from SubjectAccessReview; ``tokens`` still work."""
    audiences: list[str] = Field(default_factory=list)
    """With ``auth: kubernetes``: a token must be meant for one of these; empty: the API
    server's own audience."""
    metrics_auth: bool = False
    """Whether ``/metrics`` needs a token (any role) too."""

    @field_validator("tokens")
    @classmethod
    def _names_are_unique(cls, tokens: list[ApiToken]) -> list[ApiToken]:
        names = [token.name for token in tokens]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"token names must be unique (they name who decided): {repeated}")
        return tokens


class RetentionSettings(SpecModel):
    """How long finished records stay; never active alerts, unfinished runs or incidents."""

    enabled: bool = True
    """``false``: nothing is ever deleted."""
    resolved_alerts: Duration = "30d"
    """Alerts resolved longer ago than this go, once no remaining run refers to them."""
    finished_runs: Duration = "30d"
    """Succeeded and failed runs finished longer ago go, with their step results, sink
    deliveries and approvals."""
    audit_events: Duration = "90d"
    """Audit rows (LLM requests, tool calls, approvals) older than this go; a deleted run's
    rows stay until then, no longer linked to it."""
    interval: Duration = "1h"
    """How often to look for rows to delete."""
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    """Rows deleted per transaction, so a large purge never holds the database for long."""


DEFAULT_MAX_RUNS_PER_REQUEST = 100
DEFAULT_MAX_QUEUED_RUNS = 1000
DEFAULT_MAX_QUEUED_RUNS_PER_WORKFLOW = 250
_MOST = 1_000_000


class Limits(SpecModel):
    """How much work one request may start at once, and how many runs wait in memory.

    Runs beyond these limits are not dropped: they are stored ``pending`` and started as
    workers free up. The limits keep one huge notification from occupying the run queue.
    """

    max_runs_per_request: int = Field(default=DEFAULT_MAX_RUNS_PER_REQUEST, ge=1, le=_MOST)
    """Runs one webhook request hands to the run queue right away (a Source may set its own
    ``spec.config.maxRunsPerRequest``); the rest wait in the store."""
    max_queued_runs: int = Field(default=DEFAULT_MAX_QUEUED_RUNS, ge=1, le=_MOST)
    """Runs waiting for a worker in memory, overall."""
    max_queued_runs_per_workflow: int = Field(
        default=DEFAULT_MAX_QUEUED_RUNS_PER_WORKFLOW, ge=1, le=_MOST
    )
    """Runs of one workflow waiting for a worker in memory, so one workflow's burst leaves
    room for the others'."""
    investigations_per_minute: int | None = Field(default=None, ge=1, le=_MOST)
    """Agent steps (investigations) started in any rolling minute, across replicas; runs
    beyond it wait ``waiting_limit``, oldest first, never dropped. Unset: no limit."""
    llm_tokens_per_hour: int | None = Field(default=None, ge=1, le=1_000_000_000_000)
    """LLM tokens (input + output, as the audit trail recorded them) in any rolling hour;
    at or above it new investigations wait until usage ages out. Unset: no limit."""

    @model_validator(mode="after")
    def _share_fits_the_whole(self) -> Limits:
        if self.max_queued_runs_per_workflow > self.max_queued_runs:
            raise ValueError(
                f"maxQueuedRunsPerWorkflow ({self.max_queued_runs_per_workflow}) must not exceed"
                f" maxQueuedRuns ({self.max_queued_runs})"
            )
        return self


class OperatorConfigSpec(SpecModel):
    database: DatabaseConfig | None = None
    chat: ChatSettings | None = None
    llm: LLMSettings | None = None
    runbooks: RunbooksConfig | None = None
    secret_manager: SecretManagerConfig | None = None
    secrets: dict[str, SecretKeyRef] = Field(default_factory=dict)
    secret_rotation: SecretRotationConfig | None = None
    api: ApiSettings | None = None
    approval_rules: list[ApprovalRule] = Field(default_factory=list)
    """Writes of every workflow's agents that need approval, or more than one approver."""
    limits: Limits = Field(default_factory=Limits)
    """Bounds on the work one request starts and on the runs queued in memory."""
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    """How long resolved alerts, finished runs and audit events are kept."""
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    """Similar past incidents in each investigation's first message."""
    cache: CacheSettings = Field(default_factory=CacheSettings)
    """How long a finished investigation is reused for the same signature and evidence."""
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    """How alerts are correlated into incidents (window, extra label sets)."""
    kpis: KpiSettings = Field(default_factory=KpiSettings)
    """LLM prices per model, for the estimated cost per incident (``GET /api/v1/kpis``)."""

    _unique_rules = field_validator("approval_rules")(unique_rule_names)


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
