"""The investigation loop on its own: a pydantic-ai ``FunctionModel`` plays the LLM.

The wire-level behaviour (what a provider receives, corrections, limits, approvals through
the API) is tested end to end in the other agent tests; these pin down the loop's own rules
where a scripted HTTP fake cannot reach: calls in one answer run concurrently, and answers
whose tool calls share an id are refused rather than matched to the wrong decision.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.settings import ModelSettings

from punching_fist.agent.loop import InvestigationLoop
from punching_fist.agent.loop_outcomes import (
    Concluded,
    Limits,
    Paused,
    RequestLimit,
    UnusableAnswer,
)
from punching_fist.agent.prompt import FINAL_TOOL
from punching_fist.agent.tools.base import SafetyCheck, ToolContext, ToolOutput
from punching_fist.agent.toolset import Approval, CallLedger, GuardedToolset
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.audit import AuditEvent


class Args(BaseModel):
    target: str


class Rendezvous:
    """A tool whose calls finish only once ``expected`` of them are running at once."""

    name = "probe"
    description = "Probe a target."
    arguments: type[BaseModel] = Args
    read_only = True

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.running = 0
        self.all_in = asyncio.Event()

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        target = Args.model_validate(arguments.model_dump()).target
        return SafetyCheck(verdict="approval" if target.startswith("write") else "allow")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        self.running += 1
        if self.running == self.expected:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), 5)
        return ToolOutput(text=f"probed {Args.model_validate(arguments.model_dump()).target}")


def record(event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


Answer = Callable[[list[ModelMessage]], ModelResponse]


def loop(answer: Answer, tool: Rendezvous, *, requests: int = 6) -> InvestigationLoop:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return answer(messages)

    toolset = GuardedToolset(
        [tool],
        context=ToolContext(run_id=uuid.UUID(int=1), step_name="investigate"),
        secrets=SecretResolver(),
        record=record,
        approval_required=False,
        approvals=True,  # the probe's writes pause for a person, as in an approvalRequired step
        ledger=CallLedger(),
    )
    return InvestigationLoop(
        model=FunctionModel(respond),
        settings=ModelSettings(),
        toolset=toolset,
        instructions="Investigate.",
        limits=Limits(requests=requests, total_tokens=1_000_000),
    )


def calls(*pairs: tuple[str, dict[str, Any], str]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(n, a, tool_call_id=i) for n, a, i in pairs])


def returns(message: ModelMessage) -> list[ToolReturnPart]:
    """The tool results a request carries; nothing else may be in it."""
    assert isinstance(message, ModelRequest)
    parts = [p for p in message.parts if isinstance(p, ToolReturnPart)]
    assert len(parts) == len(message.parts)
    return parts


def turn(messages: list[ModelMessage]) -> int:
    return sum(isinstance(m, ModelResponse) for m in messages)


async def test_calls_in_one_answer_run_concurrently_and_answer_in_one_request() -> None:
    def answer(messages: list[ModelMessage]) -> ModelResponse:
        if turn(messages) == 0:
            return calls(*(("probe", {"target": t}, f"c-{t}") for t in ("a", "b", "c")))
        return calls((FINAL_TOOL, {"summary": "probed three"}, "final"))

    investigation = loop(answer, Rendezvous(expected=3))
    outcome = await investigation.run("Probe everything")
    assert isinstance(outcome, Concluded)
    assert outcome.conclusion.summary == "probed three"
    assert [(p.tool_call_id, p.content) for p in returns(investigation.messages[2])] == [
        ("c-a", "probed a"),
        ("c-b", "probed b"),
        ("c-c", "probed c"),
    ]


async def test_calls_sharing_an_id_are_refused_before_anything_runs() -> None:
    def answer(messages: list[ModelMessage]) -> ModelResponse:
        return calls(("probe", {"target": "write-a"}, "same"), ("probe", {"target": "b"}, "same"))

    tool = Rendezvous(expected=1)
    with pytest.raises(UnusableAnswer, match="unique ids"):
        await loop(answer, tool).run("Probe")
    assert tool.running == 0


async def test_a_pause_resumes_with_the_decision_for_each_call() -> None:
    def answer(messages: list[ModelMessage]) -> ModelResponse:
        if turn(messages) == 0:
            return calls(("probe", {"target": "write-a"}, "w"), ("probe", {"target": "b"}, "r"))
        return calls((FINAL_TOOL, {"summary": "done"}, "final"))

    first = loop(answer, Rendezvous(expected=1))
    paused = await first.run("Probe")
    assert isinstance(paused, Paused)
    assert [p.call.tool_call_id for p in paused.pending] == ["w"]
    resumed = loop(answer, Rendezvous(expected=1))
    resumed.messages, resumed.usage = first.messages, first.usage
    outcome = await resumed.resume({"w": Approval(feedback="fine")})
    assert isinstance(outcome, Concluded)
    answered = returns(resumed.messages[-3])
    assert [p.tool_call_id for p in answered] == ["w", "r"]
    assert "A person approved this action. Their note: fine" in str(answered[0].content)


async def test_the_request_limit_stops_the_loop_before_one_request_too_many() -> None:
    def answer(messages: list[ModelMessage]) -> ModelResponse:
        return calls(("probe", {"target": f"t{turn(messages)}"}, f"c{turn(messages)}"))

    investigation = loop(answer, Rendezvous(expected=1), requests=2)
    with pytest.raises(RequestLimit):
        await investigation.run("Probe")
    assert investigation.usage.requests == 2
