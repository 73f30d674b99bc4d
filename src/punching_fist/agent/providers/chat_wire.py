"""OpenAI chat completions on the wire: pydantic-ai messages out, answers and errors back.

What our agents send is mapped: system prompts and instructions, user text, the model's text
and tool calls, tool results and corrections, reasoning a server returned in
``reasoning_content`` or ``reasoning``. Anything else (images, audio, files) raises
``UserError`` rather than silently vanishing from the request.

Answers are validated against the ``Wire*`` shapes below in one pass over the raw bytes
(pydantic-core parses and checks together); unknown fields are ignored, so servers that add
their own (llama.cpp's ``timings``) pass.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NotRequired

import pydantic_core
from pydantic import TypeAdapter, ValidationError
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelContextWindowExceededError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelOverloadedError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
    UnexpectedModelBehavior,
    UserError,
)
from pydantic_ai.messages import (
    FinishReason,
    InstructionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RequestUsage
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where OpenAI-compatible servers put a model's reasoning (DeepSeek, llama.cpp; Ollama)."""

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
}

# -- what the server sends ---------------------------------------------------------------


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
            f"invalid response from the chat completions endpoint: {exc}", body=_text(raw)
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
            f"invalid chunk from the chat completions endpoint: {exc}", body=_text(raw)
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


# -- what we send ------------------------------------------------------------------------


def request_messages(
    messages: Sequence[ModelMessage], instructions: Sequence[InstructionPart] | None
) -> list[dict[str, Any]]:
    """The ``messages`` array; instructions follow the leading system prompts."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            wire.extend(_request_messages(message))
        elif assistant := _assistant_message(message):
            wire.append(assistant)
    if instructions:
        leading = 0
        while leading < len(wire) and wire[leading]["role"] == "system":
            leading += 1
        wire[leading:leading] = [{"role": "system", "content": p.content} for p in instructions]
    return wire


def _request_messages(message: ModelRequest) -> Iterator[dict[str, Any]]:
    for part in message.parts:
        if isinstance(part, SystemPromptPart):
            yield {"role": "system", "content": part.content}
        elif isinstance(part, UserPromptPart):
            yield {"role": "user", "content": _user_content(part)}
        elif isinstance(part, ToolReturnPart):
            yield {
                "role": "tool",
                "tool_call_id": part.tool_call_id,
                "content": part.model_response_str(),
            }
        else:
            raise UserError(
                f"{type(part).__name__} cannot be sent to a chat completions endpoint"
                " (was the history passed through Model.prepare_messages?)"
            )


def _user_content(part: UserPromptPart) -> str | list[dict[str, str]]:
    if isinstance(part.content, str):
        return part.content
    texts = []
    for item in part.content:
        if not isinstance(item, str):
            raise UserError(f"only text can be sent to this model, not {type(item).__name__}")
        texts.append({"type": "text", "text": item})
    return texts


def _assistant_message(message: ModelResponse) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    reasoning: dict[str, list[str]] = {}
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            calls.append(
                {
                    "id": part.tool_call_id,
                    "type": "function",
                    "function": {"name": part.tool_name, "arguments": part.args_as_json_str()},
                }
            )
        elif isinstance(part, ThinkingPart) and part.id in REASONING_FIELDS:
            reasoning.setdefault(part.id, []).append(part.content)
        # Other parts (thinking without a field, files, compaction, native tools) are not
        # sent back: chat completions has no place for them.
    if not texts and not calls:
        return None  # an empty assistant message is a 400 on most servers
    wire: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    for name, contents in reasoning.items():
        wire[name] = "\n\n".join(contents)
    if calls:
        wire["tool_calls"] = calls
    return wire


def request_tools(
    settings: ModelSettings, parameters: ModelRequestParameters, *, named_choice: bool = True
) -> tuple[list[dict[str, Any]], str | dict[str, Any] | None]:
    """``tools`` and ``tool_choice``: a tool call is required when text is no answer.

    With one tool to call, ``tool_choice`` names it, unless ``named_choice`` is False: a
    server that reads only the strings (llama-server treats an object as ``auto``, which
    leaves the answer unconstrained) is sent ``required``, which means the same there.
    """
    definitions = parameters.declared_tool_defs
    choice = settings.get("tool_choice")
    mode = "auto" if parameters.allow_text_output else "required"
    if choice == "none":
        definitions = {d.name: d for d in parameters.output_tools}
        mode = "required" if definitions and not parameters.allow_text_output else "none"
    elif choice == "required":
        mode = "required"
    elif isinstance(choice, list):
        definitions = {n: d for n, d in definitions.items() if n in choice}
        mode = "required"
    elif choice not in (None, "auto"):
        raise UserError(f"tool_choice {choice!r} is not supported by chat completions models")
    tools = [_tool(d) for d in definitions.values()]
    if not tools:
        return [], None
    if mode == "required" and len(tools) == 1 and named_choice:
        return tools, {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    return tools, mode


def _tool(definition: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": definition.name,
        "description": definition.description or "",
        "parameters": definition.parameters_json_schema,
    }
    if definition.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def response_format(parameters: ModelRequestParameters) -> dict[str, Any] | None:
    if parameters.output_mode == "native" and (output := parameters.output_object) is not None:
        schema: dict[str, Any] = {
            "name": output.name or "final_result",
            "schema": output.json_schema,
        }
        if output.description:
            schema["description"] = output.description
        if output.strict is not None:
            schema["strict"] = output.strict
        return {"type": "json_schema", "json_schema": schema}
    if parameters.output_mode == "prompted":
        return {"type": "json_object"}
    return None


def sampling(settings: ModelSettings, *, max_tokens_field: str) -> dict[str, Any]:
    """The sampling settings that were set, under their wire names."""
    wire: dict[str, Any] = {}
    for name, wire_name in _SAMPLING:
        if (value := settings.get(name)) is not None:
            wire[wire_name] = value
    if (max_tokens := settings.get("max_tokens")) is not None:
        wire[max_tokens_field] = max_tokens
    return wire


_SAMPLING = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
    ("logit_bias", "logit_bias"),
    ("stop_sequences", "stop"),
)


# -- errors ------------------------------------------------------------------------------
# As pydantic-ai classifies errors from OpenAI-compatible APIs (``openai_compatible_category``
# and ``stream_error`` in its private ``_model_errors``); tests/drift compares the two.

_Category = type[
    ModelRateLimitError
    | ModelQuotaExceededError
    | ModelUnavailableError
    | ModelServerError
    | ModelTimeoutError
    | ModelRequestRejectedError
]

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "usage_limit_reached",
    }
)
_CONTEXT_WINDOW_MESSAGES = (
    "maximum context length",
    "reduce the length of the messages",
    "exceeded max context length",
)
_OVERLOADED_PHRASES = ("overloaded", "over capacity")
_IN_STREAM_STATUS = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "too_many_requests": 429,
    **dict.fromkeys(_QUOTA_CODES, 429),
    "context_length_exceeded": 400,
    "service_unavailable": 503,
    "service_unavailable_error": 503,
    "server_is_overloaded": 503,
    "overloaded": 503,
    "server_error": 500,
}
"""The status an error sent inside a stream would have had, by its ``code`` or ``type``."""


def status_error(
    status: int, raw: bytes, headers: Mapping[str, str], model_name: str, *, in_stream: bool = False
) -> ModelHTTPError:
    """A ``ModelHTTPError`` that is also the pydantic-ai category its status and code mean.

    ``Retry-After`` (or ``retry-after-ms``) in ``headers`` becomes ``retry_after``.
    """
    body: object
    try:
        body = pydantic_core.from_json(raw)
    except ValueError:
        body = _text(raw)
    error = body.get("error", body) if isinstance(body, dict) else body
    code = error.get("code") if isinstance(error, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return ModelHTTPError.for_category(
        _category(status, code, kind, message),
        status_code=status,
        model_name=model_name,
        body=error,
        headers=headers,
        provider_error_code=code if isinstance(code, str) else None,
        provider_error_type=kind if isinstance(kind, str) else None,
        in_stream=in_stream,
    )


def stream_error(error: dict[str, Any] | str, model_name: str) -> ModelAPIError:
    """An error object sent inside an open stream (llama.cpp and vLLM do), as if sent before it."""
    fields = error if isinstance(error, dict) else {"message": error}
    raw_code, raw_kind = fields.get("code"), fields.get("type")
    code = str(raw_code) if isinstance(raw_code, str | int) else None
    kind = raw_kind if isinstance(raw_kind, str) else None
    status = _IN_STREAM_STATUS.get(code or "") or _IN_STREAM_STATUS.get(kind or "")
    if status is None and code is not None and code.isdigit() and 400 <= int(code) < 600:
        status = int(code)  # llama.cpp and gateways send the HTTP status as the code
    message = str(fields.get("message") or error)
    category = _category(status, code, kind, message)
    if status is None:
        return (category or ModelAPIError)(
            model_name=model_name,
            message=message,
            body=fields,
            provider_error_code=code,
            provider_error_type=kind,
            in_stream=True,
        )
    return ModelHTTPError.for_category(
        category,
        status_code=status,
        model_name=model_name,
        body=fields,
        provider_error_code=code,
        provider_error_type=kind,
        in_stream=True,
    )


def _category(status: int | None, code: object, kind: object, message: object) -> _Category | None:
    if code in _QUOTA_CODES or kind in _QUOTA_CODES:
        return ModelQuotaExceededError  # also a 429, but waiting will not help
    if code == "context_length_exceeded" or (
        isinstance(message, str) and any(m in message.lower() for m in _CONTEXT_WINDOW_MESSAGES)
    ):
        return ModelContextWindowExceededError
    if _says_overloaded(code, kind):
        return ModelOverloadedError
    if code == "model_not_found":
        return ModelNotFoundError
    if code == "invalid_api_key":
        return ModelAuthenticationError
    return None if status is None else _status_category(status, message)


def _status_category(status: int, message: object) -> _Category | None:
    """What the status says on its own."""
    if status == 408:
        return ModelTimeoutError
    if status in (401, 403):
        return ModelAuthenticationError
    if status == 404:
        return ModelNotFoundError
    if status in (400, 413, 422):
        return ModelRequestRejectedError
    if status == 402:
        return ModelQuotaExceededError
    if status == 429:
        return ModelRateLimitError
    if status == 529:
        return ModelOverloadedError
    if status == 503:
        return ModelOverloadedError if _says_overloaded(message) else ModelUnavailableError
    if 500 <= status < 600:
        return ModelServerError
    return None


def _says_overloaded(*texts: object) -> bool:
    return any(
        isinstance(text, str) and any(phrase in text.lower() for phrase in _OVERLOADED_PHRASES)
        for text in texts
    )


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
