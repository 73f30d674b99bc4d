"""What the investigation loop stops with: a conclusion, a pause for calls that wait for a
person (resumed with their ``Verdict``s), or an ``InvestigationEnded`` when its ``Limits``
or the model's answers end it early.

The loop's contract with the runtime, apart from the loop's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_ai.messages import ToolCallPart

from punching_fist.agent.result import Conclusion
from punching_fist.agent.toolset import Approval, ApprovalNeeded
from punching_fist.errors import RuntimeFailure


class InvestigationEnded(RuntimeFailure):
    """The loop stopped before a conclusion; the message says why."""


class RequestLimit(InvestigationEnded):
    """``maxIterations`` requests were made."""


class TokenBudget(InvestigationEnded):
    """The requests used up the step's token budget."""


class UnusableAnswer(InvestigationEnded):
    """The model kept answering in ways the loop cannot use, past the corrective retries."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    requests: int
    """At most this many model requests (``maxIterations``), counted across pauses."""
    total_tokens: int
    """Prompt plus completion tokens over all requests."""


@dataclass(frozen=True, kw_only=True)
class Concluded:
    conclusion: Conclusion


@dataclass(frozen=True, kw_only=True)
class PendingCall:
    call: ToolCallPart
    needed: ApprovalNeeded


@dataclass(frozen=True, kw_only=True)
class Paused:
    """Calls that wait for a person; ``InvestigationLoop.resume`` goes on once they are decided."""

    pending: list[PendingCall]


Outcome = Concluded | Paused


@dataclass(frozen=True, kw_only=True)
class Denial:
    """A person denied a paused call (or nobody decided in time); ``message`` tells the model."""

    message: str


Verdict = Approval | Denial
