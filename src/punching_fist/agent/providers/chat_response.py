"""What a chat completions endpoint answers, validated and turned into pydantic-ai parts.

Answers are validated against the ``Wire*`` shapes below in one pass over the raw bytes
(pydantic-core parses and checks together); unknown fields are ignored, so servers that add
their own (llama.cpp's ``timings``) pass.
"""

from __future__ import annotations

import functools
from typing import Any, NotRequired

from pydantic import TypeAdapter, ValidationError
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    FinishReason,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from pydantic_ai.usage import RequestUsage
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from punching_fist.agent.providers.chat_errors import body_text

REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where OpenAI-compatible servers put a model's reasoning (DeepSeek, llama.cpp; Ollama)."""

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
}


class WireFunction(TypedDict):
    name: str
    arguments: str


class WireToolCall(TypedDict):
    id: NotRequired[str | None]
    function: WireFunction


class WireMessage(TypedDict, total=False):
    content: str | list[dict[str, Any]] | None
    tool_calls: list[WireToolCall] | None
    reasoning_content: str | None
    reasoning: str | None
    refusal: str | None


class WireChoice(TypedDict):
    message: WireMessage
    finish_reason: NotRequired[str | None]


class WireUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_details: dict[str, Any] | None
    completion_tokens_details: dict[str, Any] | None


class WireCompletion(TypedDict):
    id: NotRequired[str | None]
    model: NotRequired[str | None]
    choices: list[WireChoice]
    usage: NotRequired[WireUsage | None]


class WireFunctionDelta(TypedDict, total=False):
    name: str | None
    arguments: str | None


class WireToolCallDelta(TypedDict):
    index: int
    id: NotRequired[str | None]
    function: NotRequired[WireFunctionDelta | None]


class WireDelta(TypedDict, total=False):
    content: str | list[dict[str, Any]] | None
    tool_calls: list[WireToolCallDelta] | None
    reasoning_content: str | None
    reasoning: str | None
    refusal: str | None


class WireChunkChoice(TypedDict):
    delta: NotRequired[WireDelta | None]
    finish_reason: NotRequired[str | None]


class WireChunk(TypedDict, total=False):
    id: str | None
    model: str | None
    choices: list[WireChunkChoice] | None
    usage: WireUsage | None
    error: dict[str, Any] | str | None


@functools.cache
def _adapter(shape: type[WireCompletion] | type[WireChunk]) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def parse_completion(raw: bytes) -> WireCompletion:
    try:
        completion: WireCompletion = _adapter(WireCompletion).validate_json(raw)
    except ValidationError as exc:
        raise UnexpectedModelBehavior(
            f"invalid response from the chat completions endpoint: {exc}", body=body_text(raw)
        ) from exc
    if not completion["choices"]:
        raise UnexpectedModelBehavior("the chat completions endpoint answered without choices")
    return completion


def parse_chunk(raw: bytes | str) -> WireChunk:
    try:
        chunk: WireChunk = _adapter(WireChunk).validate_json(raw)
        return chunk
    except ValidationError as exc:
        raise UnexpectedModelBehavior(
            f"invalid chunk from the chat completions endpoint: {exc}", body=body_text(raw)
        ) from exc


def text_of(content: str | list[dict[str, Any]] | None) -> str:
    """Message content as text; some servers send a list of ``{"type": "text"}`` parts."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def reasoning_of(message: WireMessage | WireDelta) -> tuple[str, str] | None:
    """(field name, text) of the reasoning a message or delta carries, if any."""
    if content := message.get("reasoning_content"):
        return "reasoning_content", content
    if content := message.get("reasoning"):
        return "reasoning", content
    return None


def usage_of(wire: WireUsage | None) -> RequestUsage:
    """Usage as ``OpenAIChatModel`` reports it: cached prompt tokens as cache reads, the
    completion's details (reasoning tokens...) as ``details``."""
    if wire is None:
        return RequestUsage(unmeasured_requests=1)
    cached = (wire.get("prompt_tokens_details") or {}).get("cached_tokens")
    completion = wire.get("completion_tokens_details") or {}
    details = {k: v for k, v in completion.items() if _is_count(v)}
    return RequestUsage(
        input_tokens=wire.get("prompt_tokens", 0),
        output_tokens=wire.get("completion_tokens", 0),
        cache_read_tokens=cached if _is_count(cached) else 0,
        output_reasoning_tokens=details.get("reasoning_tokens", 0),
        details=details,
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def response_parts(
    message: WireMessage, system: str
) -> list[ThinkingPart | TextPart | ToolCallPart]:
    """A whole answer's parts, in the order a stream of it would produce them."""
    parts: list[ThinkingPart | TextPart | ToolCallPart] = []
    if reasoning := reasoning_of(message):
        name, content = reasoning
        parts.append(ThinkingPart(content=content, id=name, provider_name=system))
    if text := text_of(message.get("content")):
        parts.append(TextPart(content=text))
    for call in message.get("tool_calls") or ():
        function = call["function"]
        if call_id := call.get("id"):
            parts.append(
                ToolCallPart(function["name"], function["arguments"], tool_call_id=call_id)
            )
        else:
            parts.append(ToolCallPart(function["name"], function["arguments"]))
    return parts
