"""The investigation loop: model requests and tool calls until an answer, a pause or a limit.

pydantic-ai is the LLM layer (its models, message types, request parameters and usage);
this module drives the conversation itself, which costs a fraction of a general agent
graph per turn. One turn:

1. check the limits (``maxIterations`` requests, the token budget), offer the tools (only
   ``final_answer`` on the last turn, with a note saying so) and send the conversation;
2. handle the answer's tool calls in the order given: function calls run concurrently in
   batches, a ``final_answer`` call is validated into a ``Conclusion``;
3. answer every call in one request, or stop: a valid conclusion ends the loop, and calls
   that wait for a person's approval pause it (``Paused``) unless a conclusion came too.
   An answer whose calls were all repeats of earlier ones makes the next turn the last.

The model gets a corrective answer for an unknown tool, arguments that do not validate (two
retries per tool) and a conclusion that does not validate (one retry); a plain-text answer
is asked to use a tool (one retry, shared with the conclusion). Beyond those retries the
loop raises ``UnusableAnswer``; the wording of each correction is pydantic-ai's (``replies``).
What it stops with, and the limits it stops at, are in ``loop_outcomes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pydantic import ValidationError
from pydantic_ai.messages import (
    InstructionPart,
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    RetryFeedbackPart,
    RetryInfo,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage

from punching_fist.agent.loop_outcomes import (
    Concluded,
    Denial,
    Limits,
    Outcome,
    Paused,
    PendingCall,
    RequestLimit,
    TokenBudget,
    UnusableAnswer,
    Verdict,
)
from punching_fist.agent.prompt import FINAL_TOOL, LAST_TURN_NOTE
from punching_fist.agent.replies import (
    FINAL_DEFERRED,
    FINAL_PROCESSED,
    FINAL_SKIPPED,
    NO_TOOL_CALL,
    OUTPUT_RETRIES,
    TOOL_RETRIES,
    error_details,
    final_tool,
    retried,
    returned,
    unknown_tool,
    validate,
)
from punching_fist.agent.result import Conclusion
from punching_fist.agent.toolset import REPEAT_NOTE, ApprovalNeeded, GuardedToolset
from punching_fist.agent.toolset import validator as validator_for

T = TypeVar("T")


@dataclass(kw_only=True)
class _Turn:
    """What one answer's tool calls produced, in call order."""

    calls: list[ToolCallPart]
    offered: frozenset[str]
    parts: dict[int, ModelRequestPart] = field(default_factory=dict)
    conclusion: Conclusion | None = None
    concluded_by: int = -1
    waiting: list[PendingCall] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)
    function_retried: bool = False
    output_retries: int = 0
    repeats: int = 0
    """Calls answered with the note that they were already made."""

    def only_repeats(self) -> bool:
        return self.repeats > 0 and self.repeats == len(self.calls)

    def request(self) -> ModelRequest:
        return ModelRequest(parts=[self.parts[i] for i in sorted(self.parts)])


class InvestigationLoop:
    """One investigation's conversation with the model and its tools.

    ``messages`` and ``usage`` are the state: saved when the loop pauses, and what a partial
    result is built from when it ends early (they are kept current as the loop goes).
    """

    def __init__(
        self,
        *,
        model: Model,
        settings: ModelSettings,
        toolset: GuardedToolset,
        instructions: str,
        limits: Limits,
        stream: bool = False,
        messages: Sequence[ModelMessage] = (),
        usage: RunUsage | None = None,
    ) -> None:
        self.messages: list[ModelMessage] = list(messages)
        self.usage = usage if usage is not None else RunUsage()
        self._model = model
        self._settings = settings
        self._toolset = toolset
        self._limits = limits
        self._stream = stream
        self._final = final_tool()
        self._final_validator = validator_for(Conclusion)
        self._instructions = [InstructionPart(content=instructions)]
        self._last_turn_instructions = [
            *self._instructions,
            InstructionPart(content=LAST_TURN_NOTE, dynamic=True),
        ]
        self._tools = frozenset(d.name for d in toolset.definitions)
        self._retries: dict[str, int] = {}
        self._output_retries = 0

    async def run(self, goal: str) -> Outcome:
        return await self._drive(ModelRequest(parts=[UserPromptPart(goal)]))

    async def resume(self, decisions: Mapping[str, Verdict]) -> Outcome:
        """Go on after a pause: run the approved calls, tell the model about the denied ones."""
        answered: list[ModelRequestPart] = []
        trailing = self.messages[-1] if self.messages else None
        if isinstance(trailing, ModelRequest):
            answered = list(trailing.parts)
            self.messages.pop()
        response = self.messages[-1]
        assert isinstance(response, ModelResponse), "a paused conversation ends with an answer"
        calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
        order = {call.tool_call_id: i for i, call in enumerate(calls)}
        decided = [call for call in calls if call.tool_call_id in decisions]
        parts = await self._gather(
            [self._decided(call, decisions[call.tool_call_id]) for call in decided]
        )
        answered += parts
        answered.sort(key=lambda p: order.get(getattr(p, "tool_call_id", ""), len(order)))
        return await self._drive(ModelRequest(parts=answered))

    async def _decided(self, call: ToolCallPart, decision: Verdict) -> ModelRequestPart:
        if isinstance(decision, Denial):
            return ToolReturnPart(
                tool_name=call.tool_name,
                content=decision.message,
                tool_call_id=call.tool_call_id,
                outcome="denied",
            )
        checker = self._toolset.validator(call.tool_name)
        assert checker is not None, "only this toolset's calls wait for approval"
        arguments = validate(checker, call.args)
        text = await self._toolset.call(call.tool_name, arguments, decision)
        self.usage.tool_calls += 1
        assert isinstance(text, str), "an approved call runs"
        return returned(call, text)

    async def _drive(self, request: ModelRequest) -> Outcome:
        concluding = False
        while True:
            last_turn = concluding or self.usage.requests >= self._limits.requests - 1
            response = await self._request(request, last_turn=last_turn)
            calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
            if not calls:
                self._output_retry()
                request = ModelRequest(
                    parts=[
                        RetryFeedbackPart(
                            content=NO_TOOL_CALL,
                            retry=RetryInfo(
                                cause="no_output",
                                attempt=self._output_retries,
                                max_retries=OUTPUT_RETRIES,
                            ),
                        )
                    ]
                )
                continue
            ids = [call.tool_call_id for call in calls]
            if len(set(ids)) < len(ids):
                # Results and decisions are matched to calls by id: fail closed, as an
                # approval given for one call must never apply to another.
                raise UnusableAnswer(f"tool calls must have unique ids, got {sorted(ids)}")
            turn = _Turn(calls=calls, offered=frozenset() if last_turn else self._tools)
            try:
                await self._handle(turn)
            except BaseException:
                # What ran before the failure belongs in the conversation a partial result shows.
                if turn.parts:
                    self.messages.append(replace(turn.request(), state="interrupted"))
                raise
            self._settle_retries(turn)
            if turn.conclusion is not None:
                self.messages.append(turn.request())
                return Concluded(conclusion=turn.conclusion)
            if turn.waiting:
                if turn.parts:
                    self.messages.append(turn.request())
                return Paused(pending=turn.waiting)
            # A model that only repeats calls it already made has run out of questions: its
            # next turn is the last, so it answers now instead of looping to the limit.
            concluding = turn.only_repeats()
            request = turn.request()

    async def _request(self, request: ModelRequest, *, last_turn: bool) -> ModelResponse:
        limits = self._limits
        self.messages.append(request)  # a partial result shows what it answered, sent or not
        if self.usage.requests >= limits.requests:
            raise RequestLimit(f"made {limits.requests} requests")
        if self.usage.total_tokens > limits.total_tokens:
            raise TokenBudget(f"used more than {limits.total_tokens} tokens")
        instructions = self._last_turn_instructions if last_turn else self._instructions
        request.instructions = InstructionPart.join(instructions)
        parameters = ModelRequestParameters(
            function_tools=[] if last_turn else self._toolset.definitions,
            output_mode="tool",
            output_tools=[self._final],
            allow_text_output=False,
            instruction_parts=instructions,
        )
        messages = self._model.prepare_messages(self.messages, parameters)
        if self._stream:
            async with self._model.request_stream(messages, self._settings, parameters) as stream:
                async for _ in stream:
                    pass
            response = stream.get()
        else:
            response = await self._model.request(messages, self._settings, parameters)
        self.messages.append(response)
        self.usage.requests += 1
        self.usage.incr(response.usage)
        if self.usage.total_tokens > limits.total_tokens:
            raise TokenBudget(f"used more than {limits.total_tokens} tokens")
        return response

    async def _handle(self, turn: _Turn) -> None:
        """Each call in order; function calls before a ``final_answer`` complete before it."""
        batch: list[int] = []
        for index, call in enumerate(turn.calls):
            if call.tool_name != FINAL_TOOL:
                batch.append(index)
                continue
            await self._run_batch(turn, batch)
            batch = []
            if turn.conclusion is not None:
                turn.parts[index] = returned(call, FINAL_SKIPPED)
                continue
            try:
                turn.conclusion = validate(self._final_validator, call.args)
            except ValidationError as exc:
                self._check_retries(FINAL_TOOL, OUTPUT_RETRIES, output=True)
                turn.parts[index] = retried(call, error_details(exc), "validation_error")
                turn.failed.add(FINAL_TOOL)
                turn.output_retries += 1
            else:
                turn.concluded_by = index
                turn.parts[index] = returned(call, FINAL_PROCESSED)
                turn.succeeded.add(FINAL_TOOL)
        await self._run_batch(turn, batch)
        self._output_retries += turn.output_retries
        if turn.conclusion is not None and turn.function_retried:
            # Corrections to tool calls come first: the model answers them, then concludes.
            final = turn.concluded_by
            turn.parts[final] = returned(turn.calls[final], FINAL_DEFERRED)
            turn.conclusion = None

    async def _run_batch(self, turn: _Turn, batch: list[int]) -> None:
        """Validate the calls in ``batch``, then run the valid ones concurrently."""
        runnable = []
        for index in batch:
            call = turn.calls[index]
            name = call.tool_name
            checker = self._toolset.validator(name) if name in turn.offered else None
            if checker is None:
                self._check_retries(name, TOOL_RETRIES)
                turn.parts[index] = retried(call, unknown_tool(name, turn.offered), "unknown_tool")
                turn.failed.add(name)
                continue
            try:
                arguments = validate(checker, call.args)
            except ValidationError as exc:
                self._check_retries(name, TOOL_RETRIES)
                turn.parts[index] = retried(call, error_details(exc), "validation_error")
                turn.failed.add(name)
                turn.function_retried = True
                continue
            runnable.append((index, call, arguments))
        if not runnable:
            return
        results = await self._gather(
            [self._toolset.call(call.tool_name, arguments) for _, call, arguments in runnable]
        )
        for (index, call, _), result in zip(runnable, results, strict=True):
            if isinstance(result, ApprovalNeeded):
                turn.waiting.append(PendingCall(call=call, needed=result))
                continue
            self.usage.tool_calls += 1
            turn.succeeded.add(call.tool_name)
            turn.parts[index] = returned(call, result)
            if result == REPEAT_NOTE:
                turn.repeats += 1

    @staticmethod
    async def _gather(calls: list[Awaitable[T]]) -> list[T]:
        """Run calls concurrently; the first failure cancels the rest and is raised as it is."""
        if len(calls) == 1:
            return [await calls[0]]
        tasks = [asyncio.ensure_future(c) for c in calls]
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    def _check_retries(self, name: str, limit: int, *, output: bool = False) -> None:
        if self._retries.get(name, 0) < limit:
            return
        if output:
            raise UnusableAnswer(f"Exceeded maximum output retries ({limit})")
        raise UnusableAnswer(f"Tool {name!r} exceeded max retries count of {limit}")

    def _settle_retries(self, turn: _Turn) -> None:
        """A tool's retries count until a call of it succeeds, as in pydantic-ai."""
        retries = {n: c for n, c in self._retries.items() if n not in turn.succeeded}
        for name in turn.failed:
            retries[name] = self._retries.get(name, 0) + 1
        self._retries = retries

    def _output_retry(self) -> None:
        self._output_retries += 1
        if self._output_retries > OUTPUT_RETRIES:
            raise UnusableAnswer(f"Exceeded maximum output retries ({OUTPUT_RETRIES})")
