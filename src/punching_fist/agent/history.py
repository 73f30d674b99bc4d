"""Reading and saving an investigation's conversation.

The message history is the investigation's whole state: what was asked, which tools ran and
what they returned. It is saved (as JSON, via pydantic-ai's ``ModelMessagesTypeAdapter``)
when a run pauses for approval, and read back to resume; partial results are built from it
so they include what happened before a pause too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.usage import RunUsage

from punching_fist.agent.base import ChatExchange
from punching_fist.agent.prompt import FINAL_TOOL
from punching_fist.agent.result import Observation, excerpt
from punching_fist.agent.toolset import CallLedger

STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class SavedState:
    """What a paused investigation needs to go on."""

    messages: list[ModelMessage]
    usage: RunUsage
    executed_actions: list[str] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "messages": ModelMessagesTypeAdapter.dump_python(self.messages, mode="json"),
            "usage": {
                "requests": self.usage.requests,
                "tool_calls": self.usage.tool_calls,
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
            },
            "executed_actions": self.executed_actions,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> SavedState:
        usage = data.get("usage") or {}
        return cls(
            messages=ModelMessagesTypeAdapter.validate_python(data["messages"]),
            usage=RunUsage(
                requests=int(usage.get("requests", 0)),
                tool_calls=int(usage.get("tool_calls", 0)),
                input_tokens=int(usage.get("input_tokens", 0)),
                output_tokens=int(usage.get("output_tokens", 0)),
            ),
            executed_actions=list(data.get("executed_actions") or []),
        )


def _calls(messages: Sequence[ModelMessage]) -> list[ToolCallPart]:
    return [
        part
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart) and part.tool_name != FINAL_TOOL
    ]


def ledger_from(messages: Sequence[ModelMessage], executed: Sequence[str] = ()) -> CallLedger:
    """The calls already made, so a resumed investigation still spots repeats."""
    ledger = CallLedger(executed_actions=list(executed))
    for call in _calls(messages):
        ledger.remember(call.tool_name, call.args)
    return ledger


def observations(messages: Sequence[ModelMessage]) -> list[Observation]:
    """Each tool call with the first line of what it returned, in order."""
    returns: dict[str, str] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    returns[part.tool_call_id] = part.model_response_str()
    seen = []
    for call in _calls(messages):
        try:
            args = call.args_as_dict() if call.args else {}
        except ValueError:  # the model sent broken JSON; show it as it came
            args = {"arguments": str(call.args)}
        line = str(next(iter(args.values()))) if len(args) == 1 else str(args)
        seen.append(
            Observation(
                tool=call.tool_name,
                arguments=line[:200],
                exit_code=None,
                excerpt=excerpt(returns.get(call.tool_call_id, "(no result)")),
            )
        )
    return seen


def last_text(messages: Sequence[ModelMessage]) -> str | None:
    """The model's most recent plain-text words, if it wrote any."""
    for message in reversed(messages):
        if isinstance(message, ModelResponse):
            texts = [p.content for p in message.parts if isinstance(p, TextPart)]
            text = " ".join(t.strip() for t in texts if t.strip())
            if text:
                return text
    return None


def history_messages(history: Sequence[ChatExchange]) -> list[ModelMessage]:
    """A chat thread's earlier turns as the conversation the next question continues."""
    messages: list[ModelMessage] = []
    for exchange in history:
        messages.append(ModelRequest(parts=[UserPromptPart(exchange.question)]))
        messages.append(ModelResponse(parts=[TextPart(exchange.answer)]))
    return messages
