"""The agent runtime: the ``AgentRunner`` of ``agent/base.py``, running investigations (``loop``).

One ``investigate`` call runs the tool-calling loop for one agent step until the model gives
its final answer, a limit stops it, or it asks for an action a person must approve:

* final answer → ``ANSWERED`` with the ``AgentResult`` as the step's ``result``;
* limit, timeout, unreachable LLM, unusable answer → ``ANSWERED`` with a *partial*
  ``AgentResult`` whose ``error_message`` says what happened: answered because the step did
  produce a result the workflow can use (escalation context for the sinks); its
  ``can_auto_fix`` is False, so a ``resolution-attempt`` conditional stays skipped;
* a configuration problem (unknown provider, missing key or SDK) → ``FAILED``, with the same
  kind of partial result attached, since no investigation took place;
* approval needed → the conversation is saved with one approval row per pending action and
  the outcome is ``WAITING_APPROVAL``. When the engine re-runs the step after a decision,
  ``investigate`` finds the decided batch and resumes the conversation, executing approved
  actions and telling the model about denied ones.

What the conversation opens with is ``first_message``'s, pausing and resuming
``pausing``'s, and the wording of early ends ``endings``'s; this module runs the flow.
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

import structlog
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.models import Model

from punching_fist.agent.approval_rules import ApprovalGate
from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.agent.endings import early_end_reason, outcome_label, partial_outcome
from punching_fist.agent.first_message import (
    first_message_for,
    gather_evidence,
    gathers_evidence,
    unexplained,
)
from punching_fist.agent.history import SavedState, history_messages, ledger_from, observations
from punching_fist.agent.loop import InvestigationLoop
from punching_fist.agent.loop_outcomes import Concluded, InvestigationEnded, Limits, Paused
from punching_fist.agent.memory import evidence_digest, remembered, reuse
from punching_fist.agent.metrics import AgentMetrics
from punching_fist.agent.model import AuditedModel
from punching_fist.agent.pausing import decisions, pause, waiting
from punching_fist.agent.prompt import system_prompt
from punching_fist.agent.providers import (
    PROVIDERS,
    HttpClients,
    HttpSettings,
    LLMChoice,
    LocalEndpointProvider,
    NoLocalModel,
    build_model,
    choose_llm,
)
from punching_fist.agent.providers.base import ProviderFactory
from punching_fist.agent.result import complete_result, partial_result
from punching_fist.agent.retry import policy_for
from punching_fist.agent.tools.base import DEFAULT_OUTPUT_LIMIT, AgentTool, ToolContext
from punching_fist.agent.toolset import CallLedger, GuardedToolset
from punching_fist.errors import ConfigurationError
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.workflow import RigConfig
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.approval_rows import ApprovalStatus, StoredApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.audit import AuditEvent, AuditLog

log = structlog.get_logger(__name__)

DEFAULT_TOKEN_BUDGET = 150_000
"""Tokens (prompt + completion, all requests) one step may use without ``rigConfig.tokenBudget``."""


class ToolBuilder(Protocol):
    """Builds the tools a step asked for (``tools:`` entries), for one investigation."""

    def __call__(self, request: AgentRequest, context: ToolContext) -> Sequence[AgentTool]: ...


@dataclass(frozen=True, kw_only=True)
class RuntimeOptions:
    """Operator-wide knobs of the agent runtime."""

    approval_timeout: timedelta = timedelta(hours=1)
    """How long an approval waits for a decision before it counts as denied."""
    default_token_budget: int = DEFAULT_TOKEN_BUDGET
    stream: bool = False
    """Stream LLM responses (SSE) instead of waiting for whole answers."""
    tool_timeout_seconds: float = 60.0
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    http: HttpSettings = field(default_factory=HttpSettings)
    """Timeouts and limits of the clients LLM requests go through."""
    evidence_seconds: float = 15.0
    """How long gathering the standard evidence may take before the first LLM request."""
    read_only: bool = False
    """``replay``: every call that may change anything (a write, a script) is refused at
    once, whatever the step's approval settings and rules; nothing waits for a person."""


@dataclass(kw_only=True)
class AgentRuntimeDeps:
    """What the runtime works with, handed in explicitly."""

    resources: Callable[[], ResourceSet]
    secrets: SecretResolver
    audit: AuditLog
    approvals: ApprovalStore
    tools: ToolBuilder
    local_model: LocalEndpointProvider = field(default_factory=NoLocalModel)
    providers: Mapping[str, ProviderFactory] = field(default_factory=lambda: dict(PROVIDERS))
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    metrics: AgentMetrics = field(default_factory=AgentMetrics)
    tracing: Tracing = field(default_factory=Tracing.off)
    """A span for each LLM request and each tool call that runs."""


class _Trail:
    """One investigation's audit writes: queued at once, awaited together at the end."""

    def __init__(self, audit: AuditLog, secrets: SecretResolver, metrics: AgentMetrics) -> None:
        self._audit = audit
        self._secrets = secrets
        self._metrics = metrics
        self._pending: list[asyncio.Future[None]] = []

    def record(self, event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]:
        # Arguments too: a model that saw a value once (in an alert, say) may pass it on.
        event = replace(
            event,
            output=None if event.output is None else self._secrets.redact(event.output),
            arguments=self._secrets.redact_data(event.arguments),
        )
        self._metrics.observe(event)
        future = self._audit.record(event, urgent=urgent)
        self._pending.append(future)
        return future

    async def flush(self) -> None:
        self._audit.expedite()
        pending, self._pending = self._pending, []
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.warning("audit events were not stored", error=str(outcome))


class AgentRuntime:
    """Runs agent steps; implements ``engine.steps.agent.AgentRunner``."""

    def __init__(self, deps: AgentRuntimeDeps) -> None:
        self._deps = deps
        self._http = HttpClients(deps.options.http)
        self._models: dict[tuple[LLMChoice, str | None], Model] = {}

    async def start(self) -> None:
        """Nothing to open: the HTTP clients are made when a model first needs one."""

    async def stop(self) -> None:
        self._models.clear()
        await self._http.aclose()

    async def _model(self, choice: LLMChoice) -> Model:
        key = await choice.api_key(self._deps.secrets)
        cached = self._models.get((choice, key))
        if cached is None:
            cached = await build_model(
                choice,
                secrets=self._deps.secrets,
                http=self._http,
                local_model=self._deps.local_model,
                providers=self._deps.providers,
            )
            self._models[(choice, key)] = cached
        return cached

    def _tool_context(self, request: AgentRequest) -> ToolContext:
        settings = request.settings
        rig = settings.rig_config or RigConfig()
        env = request.context.get("env") if isinstance(request.context, Mapping) else None
        options = self._deps.options
        return ToolContext(
            run_id=request.run_id,
            step_name=request.step_name,
            environment=dict(env or {}),
            service_account=settings.service_account,
            require_approval_for=tuple(rig.safety.require_approval),
            timeout_seconds=options.tool_timeout_seconds,
            output_limit=options.output_limit,
        )

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        run_id = request.run_id
        batch = await self._deps.approvals.live_batch(run_id, request.step_name)
        if any(a.status is ApprovalStatus.PENDING for a in batch):
            return waiting([a.id for a in batch])
        trail = _Trail(self._deps.audit, self._deps.secrets, self._deps.metrics)
        try:
            outcome = await self._investigate(request, run_id, batch, trail)
        finally:
            await trail.flush()
        self._deps.metrics.investigations.labels(outcome_label(outcome)).inc()
        return outcome

    async def _investigate(
        self,
        request: AgentRequest,
        run_id: uuid.UUID,
        batch: list[StoredApproval],
        trail: _Trail,
    ) -> AgentOutcome:
        settings = request.settings
        rig = settings.rig_config or RigConfig()
        context = self._tool_context(request)
        try:
            tools = list(self._deps.tools(request, context))
            choice = choose_llm(
                request.workflow.spec.runtime.llm_config,
                self._deps.resources().operator_config,
            )
            model = await self._model(choice)
        except ConfigurationError as exc:
            result = partial_result(
                reason=f"the agent could not start: {exc}", goal=request.goal, observations=[]
            )
            return AgentOutcome(
                ending=Ending.FAILED, result=result.as_step_result(), error=str(exc)
            )

        saved: SavedState | None = None
        ledger = CallLedger()
        if batch:
            saved = SavedState.load(batch[0].state)
            ledger = ledger_from(saved.messages, saved.executed_actions)
            # Consumed before anything runs: a crash from here on restarts the step rather
            # than executing an approved action twice.
            await self._deps.approvals.consume_batch(run_id, request.step_name)

        approvals = settings.approval_required or bool(rig.safety.require_approval)
        operator_config = self._deps.resources().operator_config
        gate = ApprovalGate.for_step(request.workflow, operator_config, request.context)
        read_only = self._deps.options.read_only
        if read_only:  # scripts count as writes; no rule and no person can open one
            approvals, gate = False, ApprovalGate([], None)
        toolset = GuardedToolset(
            tools,
            context=context,
            secrets=self._deps.secrets,
            record=trail.record,
            approval_required=settings.approval_required or read_only,
            approvals=approvals,
            ledger=ledger,
            gate=gate,
            tracing=self._deps.tracing,
        )
        audited = AuditedModel(
            model,
            policy=policy_for(rig.retry_policy),
            record=trail.record,
            run_id=run_id,
            step_name=request.step_name,
            tracing=self._deps.tracing,
        )
        model_settings = choice.model_settings()
        budget = rig.token_budget or self._deps.options.default_token_budget
        loop = InvestigationLoop(
            model=audited,
            settings=model_settings,
            toolset=toolset,
            instructions=system_prompt(
                tools,
                max_iterations=settings.max_iterations,
                evidence=gathers_evidence(settings, tools),
                approvals=approvals or gate.opens_writes,
            ),
            limits=Limits(requests=settings.max_iterations, total_tokens=budget),
            stream=self._deps.options.stream,
            messages=saved.messages if saved else history_messages(request.history),
            usage=replace(saved.usage) if saved else None,
        )
        gathered: list[str] = []
        digest: str | None = None
        silent = False
        try:
            async with asyncio.timeout(settings.timeout_minutes * 60):
                if saved is None:
                    evidence = await gather_evidence(
                        request,
                        toolset,
                        tools,
                        budget_seconds=self._deps.options.evidence_seconds,
                    )
                    gathered = [
                        o.command for o in evidence.observations if o.status in ("ok", "failed")
                    ]
                    # No evidence, no reuse: nothing would show the cluster is as it was.
                    digest = evidence_digest(evidence) if evidence.observations else None
                    cached = request.memory.cached if request.memory else None
                    if cached is not None and digest and cached.evidence_digest == digest:
                        # The same signature saw the same evidence within the cache's TTL.
                        log.info("investigation reused", step=request.step_name, run=cached.run_id)
                        return AgentOutcome(
                            ending=Ending.ANSWERED,
                            result=reuse(cached, request.memory.similar if request.memory else ()),
                            evidence_digest=digest,
                        )
                    silent = unexplained(request, evidence)
                    outcome = await loop.run(first_message_for(request, evidence))
                else:
                    outcome = await loop.resume(decisions(batch))
        except (InvestigationEnded, AgentRunError, TimeoutError) as exc:
            reason = early_end_reason(
                exc, settings.max_iterations, budget, settings.timeout_minutes
            )
            log.warning("investigation ended early", step=request.step_name, reason=reason)
            return partial_outcome(reason, request, loop.messages, ledger)
        except Exception as exc:  # a bug in a tool or SDK must not cost the alert its result
            # Not log.exception: SDK stacks are deep, and a console renderer that prints locals
            # takes minutes over them. Where it broke is enough to find it.
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "investigation crashed",
                step=request.step_name,
                error=f"{type(exc).__name__}: {exc}",
                at=f"{where.filename}:{where.lineno} in {where.name}",
            )
            reason = early_end_reason(
                exc, settings.max_iterations, budget, settings.timeout_minutes
            )
            return partial_outcome(reason, request, loop.messages, ledger)

        if isinstance(outcome, Paused):
            state = SavedState(
                messages=loop.messages, usage=loop.usage, executed_actions=ledger.executed_actions
            )
            return await pause(
                self._deps.approvals,
                request,
                outcome,
                state,
                record=trail.record,
                expires_in=self._deps.options.approval_timeout,
            )
        assert isinstance(outcome, Concluded)
        looked_further = observations(loop.messages)
        result = complete_result(
            outcome.conclusion,
            executed_actions=ledger.executed_actions,
            checked=[o.arguments for o in looked_further] + gathered,
            # Silent evidence and no call of its own: whatever cause it names, it guessed.
            unexplained=silent and not looked_further,
        )
        similar = request.memory.similar if request.memory else ()
        return AgentOutcome(
            ending=Ending.ANSWERED,
            result=remembered(result.as_step_result(), similar),
            evidence_digest=digest,
        )
