"""A runbook chosen for an investigation, as the agent receives it on ``AgentRequest``.

The agent does not know where runbooks come from (``knowledge/runbooks_*`` finds, fills and
words them); it puts ``section`` in the first message, runs ``evidence`` as read-only
evidence before the first LLM request, and the step's result records ``reference()``.
Remediation commands are only ever words in the prompt: the model may recommend them, and
anything it then tries to run goes through the step's kubectl policy and approvals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from punching_fist.agent.evidence_plan import Plan


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
    remediation: tuple[str, ...] = ()
    """Commands that change the cluster: proposed in the prompt, never run by the runbook."""
    skipped: tuple[str, ...] = ()
    """Commands not run, each with why (a placeholder no label fills, not kubectl...)."""

    def reference(self) -> dict[str, Any]:
        """What the step's result records about the runbook used."""
        return {
            "path": self.path,
            "commit": self.commit,
            "evidence": list(self.evidence),
            "remediation": list(self.remediation),
        }


def with_runbook_reads(plan: Plan, runbook: RunbookBrief | None) -> Plan:
    """``plan`` with the runbook's read-only commands after its own (once each)."""
    if runbook is None or not runbook.evidence:
        return plan
    extra = tuple(command for command in runbook.evidence if command not in plan.commands)
    return Plan(commands=plan.commands + extra, target=plan.target)
