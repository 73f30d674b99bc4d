"""What an investigation ends with: the ``AgentResult`` workflow templates read.

The model fills a ``Conclusion`` through its ``final_answer`` tool; the runtime turns it into
an ``AgentResult`` (adding ``error_message``). When the model cannot finish (a limit, an
unreachable LLM, an answer that will not validate) the runtime still builds an
``AgentResult`` from what the tools observed, so sinks always get escalation context.

Field descriptions are short on purpose: they are sent to the model with every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field


class Conclusion(BaseModel):
    """Your final answer; call this once you know what is wrong (or cannot find out)."""

    summary: str = Field(description="One or two sentences: what happened.")
    problem_summary: str = Field(default="", description="What exactly is wrong.")
    root_cause: str = Field(default="", description="Why it happened.")
    findings: list[str] = Field(default_factory=list, description="Evidence you saw.")
    recommendations: list[str] = Field(default_factory=list)
    actions_taken: list[str] = Field(default_factory=list, description="Changes you made.")
    can_auto_fix: bool = Field(default=False, description="True if one command fixes it.")
    fix_command: str | None = Field(default=None, description="That kubectl command.")
    confidence: float = Field(default=0.5, ge=0, le=1)
    escalation_notes: str = Field(default="", description="What on-call must know.")


class AgentResult(Conclusion):
    """An agent step's ``result``: the conclusion plus ``error_message`` when it is partial."""

    error_message: str | None = None

    def as_step_result(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One tool call the runtime saw, kept for partial results."""

    tool: str
    arguments: str
    exit_code: int | None
    excerpt: str

    def line(self) -> str:
        status = "" if self.exit_code in (None, 0) else f" (exit {self.exit_code})"
        excerpt = f": {self.excerpt}" if self.excerpt else ""
        return f"{self.tool} {self.arguments}{status}{excerpt}"


def excerpt(text: str, limit: int = 160) -> str:
    """The first meaningful line of ``text``, shortened; enough to remind a reader."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def complete_result(conclusion: Conclusion, *, executed_actions: Sequence[str] = ()) -> AgentResult:
    """The model's conclusion as a result; actions the runtime really ran are listed first."""
    actions = list(executed_actions)
    actions += [a for a in conclusion.actions_taken if a not in actions]
    return AgentResult(**{**conclusion.model_dump(), "actions_taken": actions})


def partial_result(
    *,
    reason: str,
    goal: str,
    observations: Sequence[Observation],
    executed_actions: Sequence[str] = (),
    last_text: str | None = None,
) -> AgentResult:
    """A result that says the investigation stopped early, what stopped it, and what was seen.

    ``can_auto_fix`` is always False: nothing should be changed on the strength of an
    investigation that did not finish.
    """
    findings = [o.line() for o in observations[-10:]]
    summary = f"Automated investigation incomplete: {reason}."
    if last_text:
        summary += f" Last model note: {excerpt(last_text, 300)}"
    checked = f"{len(observations)} tool call(s) ran" if observations else "no tool ran"
    notes = (
        f"The AI investigation could not finish ({reason}); {checked}. "
        "Investigate manually; the findings list what was observed so far. "
        f"Original goal: {excerpt(goal, 300)}"
    )
    return AgentResult(
        summary=summary,
        problem_summary="",
        root_cause="",
        findings=findings,
        recommendations=["Investigate manually: the automated investigation did not finish."],
        actions_taken=list(executed_actions),
        can_auto_fix=False,
        fix_command=None,
        confidence=0.0,
        escalation_notes=notes,
        error_message=reason,
    )
