"""What an investigation ends with: the ``AgentResult`` workflow templates read.

The model fills a ``Conclusion`` through its ``final_answer`` tool; the runtime turns it into
an ``AgentResult`` (adding ``error_message``). When the model cannot finish (a limit, an
unreachable LLM, an answer that will not validate) the runtime still builds an
``AgentResult`` from what the tools observed, so sinks always get escalation context.

Field descriptions are short on purpose: they are sent to the model with every request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

SUMMARY_CHARS = 160
CAUSE_CHARS = 240
ITEM_CHARS = 160
FINDINGS = 2
RECOMMENDATIONS = 2
"""Bounds on what the model writes. They go into the JSON schema, so a server that decodes
under the schema (llama-server's grammar) cannot run on; answers from other providers are
cut to the same bounds instead of being sent back for a retry. Every token of the answer
costs a small model on two cores ~60 ms, so the bounds hold what on-call reads: the cause,
the three lines that show it, two things to do."""


def _list_bounds(items: int) -> dict[str, Any]:
    return {"maxItems": items, "items": {"type": "string", "maxLength": ITEM_CHARS}}


class Conclusion(BaseModel):
    """Your final answer; call this once you know what is wrong, or that you cannot tell."""

    model_config = ConfigDict(
        # Asked for in this order: evidence first, then the cause it supports. Optional for
        # validation (older answers and states still load); ``concluded`` reads a missing
        # root cause as an inconclusive answer, never as a diagnosis.
        json_schema_extra={"required": ["findings", "root_cause", "inconclusive"]}
    )

    findings: list[str] = Field(
        default_factory=list,
        description="Evidence you saw, quoted: a status, a limit, a log line.",
        json_schema_extra=_list_bounds(FINDINGS),
    )
    root_cause: str = Field(
        default="",
        description="Why it happened, naming the exact cause; empty if unknown.",
        json_schema_extra={"maxLength": CAUSE_CHARS},
    )
    inconclusive: bool = Field(
        default=False, description="True if the evidence does not show the cause."
    )
    confidence: float = Field(default=0.5, ge=0, le=1)
    recommendations: list[str] = Field(
        default_factory=list,
        json_schema_extra=_list_bounds(RECOMMENDATIONS),
    )
    fix_command: str | None = Field(
        default=None,
        description="The one kubectl command that fixes it, if any.",
        json_schema_extra={
            "anyOf": [{"type": "string", "maxLength": ITEM_CHARS}, {"type": "null"}]
        },
    )
    can_auto_fix: bool = Field(default=False, description="True if fix_command fixes it.")
    # Not asked of the model (tokens it need not write); the runtime fills them. A small
    # model's summary restated its root cause at ~60 ms a token: the summary is the cause's
    # first sentence unless a provider sends one of its own.
    summary: SkipJsonSchema[str] = ""
    problem_summary: SkipJsonSchema[str] = ""
    actions_taken: SkipJsonSchema[list[str]] = Field(default_factory=list)
    escalation_notes: SkipJsonSchema[str] = ""

    def bounded(self) -> Conclusion:
        """A copy within the schema's bounds, for answers no grammar held to them."""
        return self.model_copy(
            update={
                "summary": _cut(self.summary, SUMMARY_CHARS),
                "root_cause": _cut(self.root_cause, CAUSE_CHARS),
                "findings": _items(self.findings, FINDINGS),
                "recommendations": _items(self.recommendations, RECOMMENDATIONS),
                "fix_command": _cut(self.fix_command, ITEM_CHARS) if self.fix_command else None,
            }
        )


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _items(values: list[str], limit: int) -> list[str]:
    """Distinct, non-empty items, each cut to size: a repeating model's list stays short."""
    kept: list[str] = []
    for value in values:
        value = _cut(value, ITEM_CHARS)
        if value and value not in kept:
            kept.append(value)
    return kept[:limit]


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


INCONCLUSIVE_CONFIDENCE = 0.3
"""The most confidence an inconclusive answer may claim."""
UNEXPLAINED_SUMMARY = "The evidence shows that it fails, but not why."
NO_CAUSE_SUMMARY = "The investigation did not find the cause."
HEALTHY = "nothing is wrong"
"""How a diagnosis of a healthy system starts (the prompt asks for it; facts lead with it)."""


def first_sentence(text: str, limit: int) -> str:
    """The first sentence of ``text`` (the whole first line if it has no full stop), cut."""
    line = excerpt(text, 10 * limit)
    end = re.search(r"[.!?](?=\s|$)", line)
    return excerpt(line[: end.end()] if end else line, limit)


def complete_result(
    conclusion: Conclusion,
    *,
    executed_actions: Sequence[str] = (),
    checked: Sequence[str] = (),
    unexplained: bool = False,
) -> AgentResult:
    """The model's conclusion as a result: honest about what it does not know.

    Actions the runtime really ran are listed first. An answer without a root cause is
    inconclusive whatever the model said, and an inconclusive result says what was checked
    (``checked``: the commands that ran) and what on-call should look at next.
    ``unexplained``: all the model read shows only that something fails, not why (the
    generic signs of a crash loop), so a cause it names is a restatement, not a diagnosis.
    """
    conclusion = _healthy_said_in_findings(conclusion.bounded())
    actions = list(executed_actions)
    actions += [a for a in conclusion.actions_taken if a not in actions]
    fields = conclusion.model_dump()
    if unexplained and not conclusion.inconclusive:
        fields.update(root_cause="", fix_command=None)
        conclusion = conclusion.model_copy(
            update={"root_cause": "", "summary": UNEXPLAINED_SUMMARY}
        )
    inconclusive = conclusion.inconclusive or not conclusion.root_cause.strip()
    summary = conclusion.summary or first_sentence(conclusion.root_cause, SUMMARY_CHARS)
    if inconclusive and not summary:
        summary = NO_CAUSE_SUMMARY
    fields.update(
        actions_taken=actions,
        inconclusive=inconclusive,
        summary=summary,
        problem_summary=conclusion.problem_summary or summary,
    )
    if inconclusive:
        fields["confidence"] = min(conclusion.confidence, INCONCLUSIVE_CONFIDENCE)
        fields["can_auto_fix"] = False
        if not conclusion.escalation_notes:
            fields["escalation_notes"] = _next_steps(conclusion, checked)
    return AgentResult(**fields)


def _healthy_said_in_findings(conclusion: Conclusion) -> Conclusion:
    """A conclusive answer whose finding, not its root cause, says nothing is wrong.

    A small model copies the heartbeat or recovered fact ("Nothing is wrong: ...") into
    ``findings`` and leaves ``root_cause`` empty; that is its diagnosis, in the wrong field.
    """
    if conclusion.inconclusive or conclusion.root_cause.strip():
        return conclusion
    said = next((f for f in conclusion.findings if f.lower().startswith(HEALTHY)), None)
    return conclusion.model_copy(update={"root_cause": said}) if said else conclusion


def _next_steps(conclusion: Conclusion, checked: Sequence[str]) -> str:
    ran = "; ".join(dict.fromkeys(checked)) if checked else "no command ran"
    notes = f"The investigation did not find the cause. Checked: {excerpt(ran, 400)}."
    if conclusion.recommendations:
        notes += " Look next at: " + "; ".join(conclusion.recommendations) + "."
    return notes


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
        inconclusive=True,
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
