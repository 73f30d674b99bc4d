"""How an investigation that did not conclude is reported: what stopped it, in words a
person reads in the step's result, and the partial result built from the conversation.

Every early end (limit, timeout, LLM failure, unusable answer, a bug) becomes an answered
step with a partial ``AgentResult``, so the alert still gets its escalation context.
"""

from __future__ import annotations

from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.agent.history import last_text, observations
from punching_fist.agent.loop_outcomes import RequestLimit, TokenBudget, UnusableAnswer
from punching_fist.agent.result import AgentResult, partial_result
from punching_fist.agent.toolset import CallLedger


def early_end_reason(exc: BaseException, max_iterations: int, budget: int, minutes: float) -> str:
    if isinstance(exc, RequestLimit):
        return f"reached maxIterations ({max_iterations}) before a final answer"
    if isinstance(exc, TokenBudget):
        return f"used up the token budget ({budget} tokens) before a final answer"
    if isinstance(exc, TimeoutError):
        return f"timed out after timeoutMinutes ({minutes:g})"
    if isinstance(exc, ModelAPIError):
        return (
            f"the LLM could not be reached or kept failing ({type(exc).__name__}: {str(exc)[:200]})"
        )
    if isinstance(exc, UnusableAnswer):
        return f"the model's answer could not be used ({str(exc)[:200]})"
    if isinstance(exc, UnexpectedModelBehavior):  # a provider's answer its SDK could not read
        return f"the model's answer could not be used ({exc.message[:200]})"
    return f"the agent failed ({type(exc).__name__}: {str(exc)[:200]})"


def partial_outcome(
    reason: str, request: AgentRequest, messages: list[ModelMessage], ledger: CallLedger
) -> AgentOutcome:
    result: AgentResult = partial_result(
        reason=reason,
        goal=request.goal,
        observations=observations(messages),
        executed_actions=ledger.executed_actions,
        last_text=last_text(messages),
    )
    return AgentOutcome(ending=Ending.ANSWERED, result=result.as_step_result())


def outcome_label(outcome: AgentOutcome) -> str:
    """The ``investigations`` metric's label: complete, partial, or the ending's name."""
    if outcome.ending is not Ending.ANSWERED:
        return str(outcome.ending.value)
    partial = outcome.result is not None and outcome.result.get("error_message")
    return "partial" if partial else "complete"
