"""What the investigation loop answers tool calls with, worded as pydantic-ai's agent words
them: results, the corrections a model gets for an unknown tool, invalid arguments, an
invalid conclusion or a plain-text answer, and the ``final_answer`` tool they refer to.

A model tuned on pydantic-ai's agent sees the same conversation from our loop; the wording
is checked against pydantic-ai by ``tests/drift/test_pydantic_ai_loop.py``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import ValidationError
from pydantic_ai.messages import RetryInfo, ToolCallPart, ToolReturnPart
from pydantic_ai.tools import ToolDefinition

from punching_fist.agent.prompt import FINAL_TOOL
from punching_fist.agent.result import Conclusion
from punching_fist.agent.toolset import lean_schema

TOOL_RETRIES = 2
"""Corrective answers per tool before the investigation gives up on the model."""
OUTPUT_RETRIES = 1
"""Corrective answers for a conclusion that does not validate, or a plain-text answer."""

FINAL_DESCRIPTION = "Give your final answer; this ends the investigation."
NO_TOOL_CALL = "Please include your response in a tool call."
FINAL_PROCESSED = "Final result processed."
FINAL_SKIPPED = "Output tool not used - a final result was already processed."
FINAL_DEFERRED = (
    "Output not used as the final result - addressing tool retries from this round first."
)


@functools.cache
def final_tool() -> ToolDefinition:
    """``final_answer``: the ``Conclusion`` schema, described as pydantic-ai's output tools are."""
    schema = lean_schema(Conclusion)
    description = schema.pop("description", None)
    return ToolDefinition(
        name=FINAL_TOOL,
        description=f"{FINAL_DESCRIPTION}. {description}" if description else FINAL_DESCRIPTION,
        parameters_json_schema=schema,
        kind="output",
    )


def validate(checker: Any, args: str | dict[str, Any] | None) -> Any:
    if isinstance(args, str):
        return checker.validate_json(args or "{}")
    return checker.validate_python(args or {})


def returned(call: ToolCallPart, content: str) -> ToolReturnPart:
    return ToolReturnPart(tool_name=call.tool_name, content=content, tool_call_id=call.tool_call_id)


def retried(call: ToolCallPart, content: Any, cause: Any) -> ToolReturnPart:
    return ToolReturnPart(
        tool_name=call.tool_name,
        content=content,
        tool_call_id=call.tool_call_id,
        outcome="retried",
        retry=RetryInfo(cause=cause),
    )


def unknown_tool(name: str, offered: frozenset[str]) -> str:
    available = sorted({*offered, FINAL_TOOL})
    return f"Unknown tool name: {name!r}. Available tools: {', '.join(map(repr, available))}"


def error_details(error: ValidationError) -> list[dict[str, Any]]:
    """The errors as the model is shown them; a repeated whole-input value is sent once."""
    details: list[dict[str, Any]] = json.loads(error.json(include_url=False, include_context=False))
    root_input: object = None
    seen_root = False
    for detail in details:
        if len(detail.get("loc", ())) > 1:
            continue
        if not seen_root:
            root_input, seen_root = detail.get("input"), True
        elif detail.get("input") == root_input:
            detail.pop("input", None)
    return details
