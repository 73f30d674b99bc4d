"""A runbook chosen for an investigation, as the agent receives it on ``AgentRequest``.

The agent does not know where runbooks come from (``knowledge/runbooks_*`` finds, fills and
words them); it puts ``section`` in the first message, runs ``evidence`` (kubectl) and
``tool_reads`` (curl GETs, PromQL) as read-only evidence before the first LLM request, and
the step's result records ``reference()``. Remediation commands are only ever words in the
prompt: the model may recommend them, and anything it then tries to run goes through the
step's tool policies and approvals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from punching_fist.agent.evidence import DEFAULT_PER_COMMAND_CHARS, Observation, Status
from punching_fist.agent.evidence_plan import Plan
from punching_fist.agent.evidence_text import clean, cut, one_line
from punching_fist.agent.toolset import ApprovalNeeded, GuardedToolset
from punching_fist.errors import PunchingFistError

TIMED_OUT = "[timed out: still running when the evidence time budget ran out]"


@dataclass(frozen=True, kw_only=True)
class ToolRead:
    """A runbook's read through another tool than kubectl (only where the step has it)."""

    tool: Literal["curl", "promql"]
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The tool's arguments, as the model would pass them (``{"url": ...}``, ``{"query": ...}``)."""
    shown: str
    """The read as the evidence shows it after ``$ <tool>``: ``GET <url>``, the query."""


@dataclass(frozen=True, kw_only=True)
class RunbookBrief:
    path: str
    """Where the runbook is, relative to the repository's root."""
    commit: str | None
    """The commit it was read at; ``None`` for a plain local directory."""
    section: str
    """The first message's runbook section: bounded, marked as data."""
    evidence: tuple[str, ...] = ()
    """Read-only kubectl command lines (without ``kubectl``), placeholders filled."""
    tool_reads: tuple[ToolRead, ...] = ()
    """Read-only curl GETs and PromQL queries, placeholders filled."""
    remediation: tuple[str, ...] = ()
    """Commands that change something: proposed in the prompt, never run by the runbook."""
    skipped: tuple[str, ...] = ()
    """Commands not run, each with why (a placeholder no label fills, not a read...)."""

    def reference(self) -> dict[str, Any]:
        """What the step's result records about the runbook used."""
        return {
            "path": self.path,
            "commit": self.commit,
            "evidence": list(self.evidence) + [f"{r.tool} {r.shown}" for r in self.tool_reads],
            "remediation": list(self.remediation),
        }


def with_runbook_reads(plan: Plan, runbook: RunbookBrief | None) -> Plan:
    """``plan`` with the runbook's read-only kubectl commands after its own (once each)."""
    if runbook is None or not runbook.evidence:
        return plan
    extra = tuple(command for command in runbook.evidence if command not in plan.commands)
    return Plan(commands=plan.commands + extra, target=plan.target)


async def run_tool_reads(
    runbook: RunbookBrief | None,
    toolset: GuardedToolset,
    tools: Collection[str],
    *,
    budget_seconds: float,
) -> tuple[Observation, ...]:
    """The runbook's curl and PromQL reads, concurrently, through the step's own tools (so
    each is checked, audited and remembered); a read whose tool the step lacks is not run."""
    reads = [read for read in (runbook.tool_reads if runbook else ()) if read.tool in tools]

    async def one(read: ToolRead) -> Observation:
        checker = toolset.validator(read.tool)
        assert checker is not None, "reads were filtered by the step's tools"
        status: Status = "error"
        try:
            async with asyncio.timeout(budget_seconds):
                text = await toolset.call(read.tool, checker.validate_python(dict(read.arguments)))
        except TimeoutError:
            output, status = TIMED_OUT, "timed out"
        except PunchingFistError as exc:
            output = f"[not run: {one_line(str(exc))}]"
        else:
            if isinstance(text, ApprovalNeeded):
                output = "[not run: it would need a person's approval]"
            else:
                lines = clean(text).splitlines()
                output = "\n".join(cut(lines, DEFAULT_PER_COMMAND_CHARS)) or "(no output)"
                status = "ok"
        return Observation(command=read.shown, output=output, status=status, tool=read.tool)

    return tuple(await asyncio.gather(*(one(read) for read in reads)))
