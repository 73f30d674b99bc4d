"""The ``Workflow`` resource: steps (commands, LLM agents, conditionals), outputs, sinks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from punching_fist.resources.approval import ApprovalRule, unique_rule_names
from punching_fist.resources.base import ApiVersion, Condition, ObjectMeta, SpecModel, StatusModel

MAX_EVIDENCE_COMMANDS = 20
"""Evidence commands all start at once; more than this is a workflow asking for a crawl."""

PROVIDERS = ("local", "anthropic", "claude", "openai", "together", "gemini", "cohere")


class LLMConfig(SpecModel):
    """Which LLM a workflow's agents talk to. ``apiKey`` is a secret reference, never the key."""

    provider: Literal["local", "anthropic", "claude", "openai", "together", "gemini", "cohere"]
    endpoint: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    api_key: str | None = None


class Runtime(SpecModel):
    """Where and with what a workflow runs."""

    image: str | None = None
    llm_config: LLMConfig | None = None
    environment: dict[str, str] = Field(default_factory=dict)


class ToolSpec(SpecModel):
    """A tool given to an agent: a built-in (kubectl, promql, curl) or a custom script."""

    name: str
    description: str | None = None
    endpoint: str | None = None
    command: str | None = None
    allowed_hosts: list[str] = Field(default_factory=list)
    token_secret_ref: str | None = None


ToolEntry = str | ToolSpec


class RetryPolicySpec(SpecModel):
    """How temporary failures are retried: LLM requests (``rigConfig``), command steps."""

    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    initial_delay_seconds: float = Field(default=1.0, ge=0)
    max_delay_seconds: float = Field(default=30.0, ge=0)

    @field_validator("max_delay_seconds")
    @classmethod
    def _not_below_the_first_delay(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_delay_seconds")
        if initial is not None and value < initial:
            raise ValueError(f"must be at least initialDelaySeconds ({initial:g})")
        return value


class SafetyConfig(SpecModel):
    """Extra safety rules: verbs that always need a human's approval."""

    require_approval: list[str] = Field(default_factory=list)


class RigConfig(SpecModel):
    """Agent runtime tuning (named after Rig, the design's Rust LLM library)."""

    retry_policy: RetryPolicySpec = Field(default_factory=RetryPolicySpec)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    token_budget: int | None = Field(default=None, gt=0)


class AgentSettings(SpecModel):
    """What an agent needs: the goal and its tools and limits."""

    goal: str
    mode: Literal["investigate", "chat"] = "investigate"
    """``chat``: the ChatbotAgent; the goal is a chat message (a run of a chat Source), the
    answer is posted in its Slack thread and the thread's earlier turns are the history."""
    tools: list[ToolEntry] = Field(default_factory=list)
    max_iterations: int = Field(default=10, gt=0)
    timeout_minutes: float = Field(default=10, gt=0)
    approval_required: bool = False
    service_account: str | None = None
    rig_config: RigConfig | None = None
    context: Any = None
    evidence: Literal["auto", "off"] | list[str] = "auto"
    """What the runtime reads before the first LLM request: ``auto`` (the standard read-only
    kubectl commands for the alert's target), ``off``, or kubectl command lines of your own,
    which are templates rendered like ``goal``. That they are read-only is checked outside
    this layer (``punching_fist.agent.evidence.evidence_problems``), where the kubectl
    policy lives."""

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence_shape(cls, value: Any) -> Any:
        # Checked here rather than by the union, whose errors would name its members.
        if isinstance(value, bool):  # YAML 1.1 reads a bare `off` (and `on`) as a boolean
            return "auto" if value else "off"
        if isinstance(value, str):
            if value not in ("auto", "off"):
                raise ValueError("expected 'auto', 'off' or a list of kubectl command lines")
        elif isinstance(value, list):
            if len(value) > MAX_EVIDENCE_COMMANDS:
                raise ValueError(f"at most {MAX_EVIDENCE_COMMANDS} commands")
            for index, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    raise ValueError(f"item {index}: expected a kubectl command line")
        else:
            raise ValueError("expected 'auto', 'off' or a list of kubectl command lines")
        return value


class CliStep(SpecModel):
    """Runs a shell command. Template values reach the command as data, never as shell syntax."""

    name: str
    type: Literal["cli"]
    command: str
    timeout_seconds: float = Field(default=300, gt=0)
    service_account: str | None = None
    """The account the command's kubectl acts as (``KUBECONFIG`` is set for it); without
    one, in a pod, the command gets the API server's address but no credentials."""
    idempotent: bool = True
    """Whether running the command twice does no harm. A step interrupted by a crash (the
    server stopped while it ran) runs again when its run resumes, unless this is false: then
    it ran at most once, and ends ``failed`` as interrupted."""
    retry_policy: RetryPolicySpec | None = None
    """Retries of a temporary failure (a timeout, a connection refused, exit code 75); the
    workflow's ``retryPolicy`` when unset; none for a step that is not idempotent."""


class AgentStep(AgentSettings):
    """An LLM agent investigation."""

    name: str
    type: Literal["agent"]


class ConditionalStep(SpecModel):
    """Runs its nested agent (or command) only when ``condition`` holds."""

    name: str
    type: Literal["conditional"]
    condition: str
    agent: AgentSettings | None = None
    command: str | None = None
    timeout_seconds: float = Field(default=300, gt=0)
    service_account: str | None = None
    """For ``command``, as in a ``cli`` step; an ``agent`` names its own."""
    retry_policy: RetryPolicySpec | None = None
    """For ``command``, as in a ``cli`` step; an ``agent`` retries LLM requests per its
    ``rigConfig.retryPolicy``."""

    @model_validator(mode="after")
    def _exactly_one_body(self) -> ConditionalStep:
        if (self.agent is None) == (self.command is None):
            raise ValueError("a conditional step needs exactly one of 'agent' or 'command'")
        return self


Step = Annotated[CliStep | AgentStep | ConditionalStep, Field(discriminator="type")]


class Output(SpecModel):
    """A named value rendered from a template after the steps ran."""

    name: str
    value: str


class SinkRef(SpecModel):
    """A sink to deliver to, optionally only when ``condition`` holds."""

    name: str
    condition: str | None = None


class WorkflowSpec(SpecModel):
    runtime: Runtime = Field(default_factory=Runtime)
    steps: list[Step] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)
    sinks: list[str | SinkRef] = Field(default_factory=list)
    approval_rules: list[ApprovalRule] = Field(default_factory=list)
    """Writes of this workflow's agents that need approval, or more than one approver."""
    retry_policy: RetryPolicySpec | None = None
    """How command steps that fail temporarily are retried, unless a step sets its own;
    unset: a failed step is not retried."""
    investigate: Literal["perIncident", "perAlert"] = "perIncident"
    """``perIncident``: one agent investigation per incident; the runs of later alerts of
    the incident skip their agent steps and point at it. ``perAlert``: every run
    investigates."""

    _unique_rules = field_validator("approval_rules")(unique_rule_names)

    @model_validator(mode="after")
    def _step_names_unique(self) -> WorkflowSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        return self

    def sink_refs(self) -> list[SinkRef]:
        """Sinks as ``SinkRef`` whichever way they were written."""
        return [SinkRef(name=s) if isinstance(s, str) else s for s in self.sinks]


class WorkflowStatus(StatusModel):
    """Summary of the latest run, as the operator publishes it."""

    phase: str | None = None
    last_run_id: str | None = None
    last_run_time: str | None = None
    steps: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    runs_total: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class Workflow(SpecModel):
    """A ``Workflow`` resource."""

    api_version: ApiVersion
    kind: Literal["Workflow"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkflowSpec
    status: WorkflowStatus | None = None
