"""The agent's tools behind the safety rules that hold on every call.

This is where untrusted model output meets the cluster, so the rules hold whatever the
model says:

* a tool's ``check`` runs before every call; "refuse" never runs (the model is told why),
  "approval" answers ``ApprovalNeeded`` instead of running, and the investigation pauses
  until a person decides; with ``approvalRequired: true`` on the step, tools that declare
  ``read_only = False`` (scripts that may change things) need approval even when their
  check allows them;
* a step that asks for no approvals (``approvals`` False: neither ``approvalRequired`` nor
  ``rigConfig.safety.requireApproval``) is read-only: what would need a person is refused
  at once and the model is told to recommend it, so the run never waits on anyone, unless
  an approval rule certainly covers that write (``approval_rules``); a rule that may cover
  a write also sets how many people must approve it;
* an identical repeat of an earlier call is answered with a note instead of running again;
* output is redacted (known secret values) and capped (head and tail) before the model, the
  audit trail or the logs see it;
* every call is written to the audit trail; an approved call's audit row is committed
  before the call runs.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter
from pydantic_ai.tools import ToolDefinition
from pydantic_core import SchemaValidator

from punching_fist.agent.approval_rules import ApprovalGate
from punching_fist.agent.tools.base import AgentTool, ToolContext, cap_output
from punching_fist.errors import CommandRejected, PunchingFistError
from punching_fist.observability.tracing import Tracing, annotate
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.audit import AuditEvent

REPEAT_NOTE = (
    "You already made this exact call earlier in this investigation; its result (or the"
    " decision on it) is above. Do not repeat it: try a different call or give your answer."
)


READ_ONLY_REFUSAL = (
    "Not run: this investigation is read-only ({reason}). If this command would fix the"
    " problem, put it in fix_command and recommendations in your final answer."
)


class Recorder(Protocol):
    """Queues an audit event (``urgent``: write it now); the future resolves once stored."""

    def __call__(self, event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]: ...


def lean_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema without ``title`` keys: tokens a model does not need.

    Generated once per model class; each caller gets its own copy to change as it likes.
    """
    return copy.deepcopy(_lean_schema(model))


@functools.cache
def _lean_schema(model: type[BaseModel]) -> dict[str, Any]:

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    schema: dict[str, Any] = strip(model.model_json_schema())
    return schema


@functools.cache
def validator(model: type[BaseModel]) -> SchemaValidator:
    """Validates a tool's JSON (or dict) arguments straight into ``model``; built once per class."""
    built: SchemaValidator = TypeAdapter(model).validator  # type: ignore[assignment]
    return built


@functools.cache
def definition(name: str, description: str, arguments: type[BaseModel]) -> ToolDefinition:
    """A tool as the model is offered it; one object per tool for every investigation.

    Providers transform definitions into new objects and never change them in place, and
    the same objects every time let a provider model memoize its transform.
    """
    return ToolDefinition(
        name=name, description=description, parameters_json_schema=_lean_schema(arguments)
    )


def describe_call(arguments: BaseModel) -> str:
    """A call's arguments as one line: the value itself for one-string tools like kubectl."""
    dumped = arguments.model_dump(exclude_none=True)
    if len(dumped) == 1:
        (value,) = dumped.values()
        if isinstance(value, str):
            return value
    return json.dumps(dumped, sort_keys=True, default=str)


@dataclass(kw_only=True)
class CallLedger:
    """What this investigation did with its tools; survives a pause through the history."""

    seen: set[tuple[str, str]] = field(default_factory=set)
    executed_actions: list[str] = field(default_factory=list)
    """Calls that needed approval and ran: the changes actually made."""

    def remember(self, name: str, arguments: dict[str, Any] | str | None) -> None:
        self.seen.add((name, _key(arguments)))


def _key(arguments: dict[str, Any] | str | None) -> str:
    value: Any = arguments
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments or "{}")
        except ValueError:
            return arguments
    return json.dumps(value or {}, sort_keys=True, default=str)


@dataclass(frozen=True, kw_only=True)
class ApprovalNeeded:
    """A call that did not run: it waits for a person's decision."""

    reason: str
    risk: str
    command: str
    """The call as one line, as the person deciding sees it."""
    approvers: int = 1
    rule: dict[str, Any] | None = None
    """The approval rule that applies (``AppliedRule.as_json``), if one does."""


@dataclass(frozen=True, kw_only=True)
class Approval:
    """A person approved a paused call; ``feedback`` is passed on to the model."""

    feedback: str | None = None


class GuardedToolset:
    """``AgentTool`` objects offered to the model behind the runtime's safety rules."""

    def __init__(
        self,
        tools: Sequence[AgentTool],
        *,
        context: ToolContext,
        secrets: SecretResolver,
        record: Recorder,
        approval_required: bool,
        ledger: CallLedger,
        approvals: bool | None = None,
        gate: ApprovalGate | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """``approvals``: whether a call may wait for a person (default: ``approval_required``);
        ``gate``: the step's approval rules; ``tracing``: a span for each call that runs."""
        self._tracing = tracing or Tracing.off()
        self._approvals = approval_required if approvals is None else approvals
        self._gate = gate or ApprovalGate([], None)
        self._tools = {tool.name: tool for tool in tools}
        self._context = context
        self._secrets = secrets
        self._record = record
        self._approval_required = approval_required
        self._run_id = context.run_id
        self.ledger = ledger
        self.definitions = [
            definition(tool.name, tool.description, tool.arguments) for tool in tools
        ]

    def validator(self, name: str) -> SchemaValidator | None:
        """How to validate a call's arguments; None for a tool this toolset does not have."""
        tool = self._tools.get(name)
        return None if tool is None else validator(tool.arguments)

    async def call(
        self, name: str, arguments: BaseModel, approval: Approval | None = None
    ) -> str | ApprovalNeeded:
        """Run one validated call: the text for the model, or why it waits for a person."""
        agent_tool = self._tools[name]
        approved = approval is not None
        call_line = describe_call(arguments)
        audit_args = arguments.model_dump(mode="json")
        key = (name, json.dumps(audit_args, sort_keys=True, default=str))
        if not approved and key in self.ledger.seen:
            self._audit(name, audit_args, output=REPEAT_NOTE, verdict="repeat")
            return REPEAT_NOTE
        self.ledger.seen.add(key)
        context = replace(self._context, approved=True) if approved else self._context
        check = agent_tool.check(arguments, context)
        if check.verdict == "refuse":
            message = f"Refused by the safety policy, nothing ran: {check.reason}"
            self._audit(name, audit_args, output=message, verdict="refuse")
            return message
        needs_approval = check.verdict == "approval" or (
            self._approval_required and getattr(agent_tool, "read_only", None) is False
        )
        verdict = self._gate.judge(name, arguments) if needs_approval and not approved else None
        may_ask = self._approvals or (verdict is not None and verdict.certain)
        if needs_approval and not approved and not may_ask:
            message = READ_ONLY_REFUSAL.format(reason=check.reason or f"{name} may change things")
            self._audit(name, audit_args, output=message, verdict="refuse")
            return message
        if needs_approval and not approved:
            rule = verdict.rule if verdict is not None else None
            return ApprovalNeeded(
                reason=check.reason or f"{name} may change the system",
                risk=check.risk if check.verdict == "approval" else "medium",
                command=call_line,
                approvers=rule.approvers if rule is not None else 1,
                rule=rule.as_json() if rule is not None else None,
            )
        if needs_approval:
            # Audit before acting: the record of a change must exist even if we crash mid-way.
            try:
                await self._audit(
                    name, audit_args, output="approved; running", verdict="approved", urgent=True
                )
            except PunchingFistError:
                return "The audit trail could not be written, so the approved action did not run."
        started = time.perf_counter()
        exit_code: int | None = None
        call_span = {"punchingfist.tool.name": name, "punchingfist.tool.call": call_line[:500]}
        with self._tracing.span(f"tool {name}", self._secrets.redact_data(call_span)) as span:
            try:
                output = await agent_tool.call(arguments, context)
                text, exit_code = output.text, output.exit_code
            except CommandRejected as exc:
                text = f"Refused, nothing ran: {exc}"
            except PunchingFistError as exc:  # a tool's own failure is information for the model
                text = f"The tool failed: {exc}"
            if exit_code is not None:
                annotate(span, {"punchingfist.tool.exit_code": exit_code})
        text, _ = cap_output(self._secrets.redact(text), context.output_limit)
        duration_ms = (time.perf_counter() - started) * 1000
        self._audit(name, audit_args, output=text, exit_code=exit_code, duration_ms=duration_ms)
        if needs_approval:
            self.ledger.executed_actions.append(f"{name} {call_line}")
            assert approval is not None
            note = f" Their note: {approval.feedback}" if approval.feedback else ""
            text = f"[A person approved this action.{note}]\n{text}"
        return text

    def _audit(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        output: str,
        exit_code: int | None = None,
        duration_ms: float | None = None,
        verdict: str | None = None,
        urgent: bool = False,
    ) -> asyncio.Future[None]:
        details = {**arguments, "verdict": verdict} if verdict else arguments
        return self._record(
            AuditEvent(
                run_id=self._run_id,
                step_name=self._context.step_name,
                kind="tool",
                name=name,
                arguments=details,
                exit_code=exit_code,
                duration_ms=duration_ms,
                output=output,
            ),
            urgent=urgent,
        )
