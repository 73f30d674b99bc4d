"""What we send a chat completions endpoint: pydantic-ai messages, tools and settings as JSON.

What our agents send is mapped: system prompts and instructions, user text, the model's text
and tool calls, tool results and corrections, reasoning a server returned in
``reasoning_content`` or ``reasoning``. Anything else (images, audio, files) raises
``UserError`` rather than silently vanishing from the request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import (
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

from punching_fist.agent.providers.chat_response import REASONING_FIELDS


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
