"""``agent/loop.py`` against pydantic-ai's own agent loop, which it mirrors.

The investigation loop replaces pydantic-ai's ``Agent`` graph for speed but promises the model
the same conversation: the same corrections (unknown tool, invalid arguments, no tool call,
invalid final answer), the same status texts for output calls, the ``'graceful'`` end
strategy (function calls before a final answer complete first; a function call's retry wins
over the answer), the same per-tool retry counting and the same ``final_answer`` definition.

Each case plays one scripted model against both: a pydantic-ai ``Agent`` configured as the
loop is (``final_answer`` output tool, the same retry budgets, ``end_strategy='graceful'``)
and our ``InvestigationLoop``. What the model is sent after each answer must be the same.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, ModelMessagesTypeAdapter
from pydantic_ai import ToolOutput as OutputTool
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from punching_fist.agent.history import SavedState
from punching_fist.agent.loop import InvestigationLoop
from punching_fist.agent.loop_outcomes import Limits, UnusableAnswer
from punching_fist.agent.prompt import FINAL_TOOL
from punching_fist.agent.replies import (
    FINAL_DESCRIPTION,
    NO_TOOL_CALL,
    OUTPUT_RETRIES,
    TOOL_RETRIES,
    final_tool,
)
from punching_fist.agent.result import Conclusion
from punching_fist.agent.tools.base import SafetyCheck, ToolContext, ToolOutput
from punching_fist.agent.toolset import CallLedger, GuardedToolset
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.audit import AuditEvent

Script = Sequence[ModelResponse]


class ProbeArgs(BaseModel):
    target: str


class Probe:
    """The loop's side of the one function tool both loops offer."""

    name = "probe"
    description = "Probe a target."
    arguments: type[BaseModel] = ProbeArgs
    read_only = True

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        return SafetyCheck(verdict="allow")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        return ToolOutput(text=probe(ProbeArgs.model_validate(arguments.model_dump()).target))


def probe(target: str) -> str:
    """Probe a target."""
    return f"probed {target}"


def record(event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


class Played:
    """What the scripted model was sent after each of its answers, and how the run ended."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []
        self.error: BaseException | None = None
        self.tools: list[ToolDefinition] = []
        self.last: ModelRequest | None = None

    def model(self, script: Script) -> FunctionModel:
        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            latest = messages[-1]
            assert isinstance(latest, ModelRequest)
            self.requests.append(latest)
            self.tools = [*info.function_tools, *info.output_tools]
            assert len(self.requests) <= len(script), "asked for more answers than scripted"
            return script[len(self.requests) - 1]

        return FunctionModel(respond)

    def corrections(self) -> list[list[tuple[Any, ...]]]:
        """Every request after the first, part by part, as the model reads it; the last is
        the one that answered the final answer's calls, which no model is sent."""
        requests = self.requests[1:]
        if self.last is not None:
            requests = [*requests, self.last]
        return [[_seen(part) for part in request.parts] for request in requests]


def _seen(part: object) -> tuple[Any, ...]:
    if isinstance(part, ToolReturnPart):
        return (
            "tool-return",
            part.tool_name,
            part.tool_call_id,
            part.outcome,
            part.retry.cause if part.retry else None,
            part.model_response_str(),
        )
    if isinstance(part, UserPromptPart | RetryFeedbackPart):
        return (type(part).__name__, part.content)
    raise AssertionError(f"unexpected part in a correction: {part!r}")


async def through_pydantic_ai(script: Script) -> Played:
    played = Played()
    agent = Agent(
        played.model(script),
        output_type=OutputTool(Conclusion, name=FINAL_TOOL, description=FINAL_DESCRIPTION),
        retries={"tools": TOOL_RETRIES, "output": OUTPUT_RETRIES},
        end_strategy="graceful",
        tools=[probe],
    )
    try:
        result = await agent.run("Investigate.")
    except UnexpectedModelBehavior as exc:
        played.error = exc
    else:
        played.last = _last_request(result.all_messages())
    return played


def _last_request(messages: Sequence[ModelMessage]) -> ModelRequest:
    last = messages[-1]
    assert isinstance(last, ModelRequest)
    return last


async def through_our_loop(script: Script) -> Played:
    played = Played()
    toolset = GuardedToolset(
        [Probe()],
        context=ToolContext(run_id=uuid.UUID(int=1), step_name="investigate"),
        secrets=SecretResolver(),
        record=record,
        approval_required=False,
        ledger=CallLedger(),
    )
    loop = InvestigationLoop(
        model=played.model(script),
        settings=ModelSettings(),
        toolset=toolset,
        instructions="Investigate.",
        limits=Limits(requests=len(script) + 1, total_tokens=10_000_000),
    )
    try:
        await loop.run("Investigate.")
    except UnusableAnswer as exc:
        played.error = exc
    else:
        played.last = _last_request(loop.messages)
    return played


def answer(*calls: tuple[str, dict[str, Any]] | str) -> ModelResponse:
    """A model answer: ``(tool, arguments)`` calls (ids ``c<n>`` in order), or text."""
    parts: list[ToolCallPart | TextPart] = []
    for n, item in enumerate(calls):
        if isinstance(item, str):
            parts.append(TextPart(item))
        else:
            name, args = item
            parts.append(ToolCallPart(name, args, tool_call_id=f"c{n}"))
    return ModelResponse(parts=parts)


CONCLUDE = (FINAL_TOOL, {"summary": "done"})

SCRIPTS: dict[str, list[ModelResponse]] = {
    "unknown tool, then an answer": [answer(("kubectl_exec", {})), answer(CONCLUDE)],
    "invalid arguments, then an answer": [
        answer(("probe", {"target": 5})),
        answer(CONCLUDE),
    ],
    "text instead of a tool call": [answer("It is the memory limit."), answer(CONCLUDE)],
    "an invalid final answer, then a valid one": [
        answer((FINAL_TOOL, {"summary": 5})),
        answer(CONCLUDE),
    ],
    "a function call's retry wins over the answer beside it": [
        answer(("probe", {"target": 5}), CONCLUDE),
        answer(CONCLUDE),
    ],
    "an unknown tool's retry does not": [answer(("kubectl_exec", {}), CONCLUDE)],
    "calls before the answer run, a second answer is skipped": [
        answer(("probe", {"target": "a"}), CONCLUDE, (FINAL_TOOL, {"summary": "again"})),
    ],
    "calls after the answer still run": [answer(CONCLUDE, ("probe", {"target": "b"}))],
    "retries count until the tool succeeds": [
        answer(("probe", {"target": 1})),
        answer(("probe", {"target": 2})),
        answer(("probe", {"target": "ok"})),
        answer(("probe", {"target": 3})),
        answer(("probe", {"target": 4})),
        answer(CONCLUDE),
    ],
    "too many tool retries end the run": [answer(("probe", {"target": n})) for n in range(4)],
    "an answer out of bounds is told its limits": [
        answer((FINAL_TOOL, {"summary": "x" * 300, "confidence": 2})),
        answer(CONCLUDE),
    ],
    "a text answer and an invalid answer each get their retry": [
        answer("first"),
        answer((FINAL_TOOL, {"summary": 5})),
        answer(CONCLUDE),
    ],
    "a second text answer ends the run": [answer("first"), answer("second")],
    "a second invalid answer ends the run": [
        answer((FINAL_TOOL, {"summary": 5})),
        answer((FINAL_TOOL, {"summary": 6})),
    ],
    "an unknown tool counts against its own name": [
        answer(("kubectl_exec", {})),
        answer(("kubectl_exec", {})),
        answer(("kubectl_exec", {})),
        answer(CONCLUDE),
    ],
}


@pytest.mark.parametrize("script", list(SCRIPTS.values()), ids=list(SCRIPTS))
async def test_the_model_is_sent_what_pydantic_ai_would_send(script: list[ModelResponse]) -> None:
    theirs = await through_pydantic_ai(script)
    ours = await through_our_loop(script)
    assert ours.corrections() == theirs.corrections()
    assert len(ours.requests) == len(theirs.requests)
    assert (ours.error is None) == (theirs.error is None)
    if theirs.error is not None:
        # pydantic-ai adds a hint on raising the retry limit; the count and the cause match.
        assert str(theirs.error).startswith(str(ours.error))


async def test_final_answer_is_described_as_pydantic_ai_describes_an_output_tool() -> None:
    played = Played()
    agent = Agent(
        played.model([answer(CONCLUDE)]),
        output_type=OutputTool(Conclusion, name=FINAL_TOOL, description=FINAL_DESCRIPTION),
    )
    await agent.run("Investigate.")
    (theirs,) = played.tools
    ours = final_tool()
    assert (ours.name, ours.description, ours.kind) == (
        theirs.name,
        theirs.description,
        theirs.kind,
    )
    assert ours.parameters_json_schema == _without_titles(theirs.parameters_json_schema)


def _without_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


async def test_no_tool_call_feedback_is_one_pydantic_ai_sends_in_the_system_voice() -> None:
    """pydantic-ai renders only its own fixed ``no_output`` texts as system text; any other
    content would reach the model fenced as user-voice feedback."""
    played = await through_our_loop([answer("text"), answer(CONCLUDE)])
    (correction,) = played.requests[1].parts
    assert isinstance(correction, UserPromptPart)
    assert correction.content == f"<system>{NO_TOOL_CALL}</system>"


def test_a_state_saved_with_legacy_retry_prompts_still_loads() -> None:
    """States paused by older versions hold ``retry-prompt`` parts (``AuditedModel`` and the
    loop only know the tool returns marked ``retried`` pydantic-ai now loads them as)."""
    before = ModelMessagesTypeAdapter.dump_python(
        [
            ModelRequest(parts=[UserPromptPart("Investigate.")]),
            ModelResponse(parts=[ToolCallPart("kubectl_exec", {}, tool_call_id="c0")]),
        ],
        mode="json",
    )
    legacy = {
        "part_kind": "retry-prompt",
        "content": "Unknown tool name: 'kubectl_exec'.",
        "tool_name": "kubectl_exec",
        "tool_call_id": "c0",
    }
    saved = {
        "version": 1,
        "messages": [*before, {"kind": "request", "parts": [legacy]}],
        "usage": {"requests": 1},
    }
    state = SavedState.load(saved)
    request = state.messages[-1]
    assert isinstance(request, ModelRequest)
    (part,) = request.parts
    assert isinstance(part, ToolReturnPart)
    assert (part.tool_call_id, part.outcome) == ("c0", "retried")
    assert "Unknown tool name" in part.model_response_str()
