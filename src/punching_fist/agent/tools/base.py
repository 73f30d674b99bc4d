"""What every agent tool implements: a small argument schema, a safety check, and a call.

Tools are plain async objects; the agent runtime turns them into LLM tool definitions. The
split between ``check`` and ``call`` is what makes approval gates work: the runtime asks
``check`` first and only calls a tool whose check says "allow" (or that a person approved).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

from punching_fist.errors import CommandRejected

Verdict = Literal["allow", "approval", "refuse"]

DEFAULT_OUTPUT_LIMIT = 8_000  # characters handed back to the LLM per tool call

Args = TypeVar("Args", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class SafetyCheck:
    """Whether a call may run now, needs a person's approval, or must never run."""

    verdict: Verdict
    reason: str = ""
    risk: Literal["low", "medium", "high"] = "low"


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """What a call may use: the step's identity and environment, fixed by trusted config."""

    run_id: uuid.UUID
    step_name: str
    environment: Mapping[str, str] = field(default_factory=dict)
    kubeconfig: str | None = None
    service_account: str | None = None
    require_approval_for: tuple[str, ...] = ()
    timeout_seconds: float = 60.0
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    approved: bool = False
    """A person approved this very call; set by the runtime only when resuming after approval.

    Tools fail closed without it: ``call`` raises ``CommandRejected`` for a call whose
    ``check`` said "approval", so a runtime that forgets to ask cannot run a write.
    """


@dataclass(frozen=True, kw_only=True)
class ToolOutput:
    """A call's result: ``text`` goes to the LLM (already capped and redacted)."""

    text: str
    exit_code: int | None = None
    truncated: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


class AgentTool(Protocol):
    """One tool an agent can call."""

    name: str
    description: str
    arguments: type[BaseModel]

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck: ...

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput: ...


def parse_arguments(model: type[Args], arguments: BaseModel) -> Args:
    """``arguments`` as the tool's own model; the protocol types them as any ``BaseModel``.

    A runtime may validate the LLM's JSON with a model of its own making; re-validating
    its fields keeps each tool working on exactly the schema it declared.
    """
    if isinstance(arguments, model):
        return arguments
    return model.model_validate(arguments.model_dump())


def ensure_permitted(check: SafetyCheck, context: ToolContext) -> None:
    """Raise ``CommandRejected`` unless ``check`` lets the call run in ``context``.

    Every tool's ``call`` repeats its own ``check`` through this, so the approval gate holds
    even if a caller skips ``check``.
    """
    if check.verdict == "refuse":
        raise CommandRejected(check.reason)
    if check.verdict == "approval" and not context.approved:
        raise CommandRejected(f"needs a person's approval: {check.reason}")


def cap_output(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and tail of ``text`` within ``limit`` characters, noting what was cut.

    The head usually holds headers and the first error, the tail the latest events and the
    final error, so both survive; the middle is replaced by a note saying how much went.
    """
    if len(text) <= limit:
        return text, False
    note_room = 80
    keep = max(limit - note_room, 0)
    head = keep * 2 // 3
    tail = keep - head
    cut = len(text) - head - tail
    lines_cut = text[head : len(text) - tail].count("\n")
    note = f"\n[... {cut} characters ({lines_cut} lines) cut from the middle ...]\n"
    return text[:head] + note + (text[-tail:] if tail else ""), True
