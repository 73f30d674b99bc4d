"""``ChatCompletionsModel`` against pydantic-ai's ``OpenAIChatModel``, which it stands in for.

The local, openai and together providers use our model to skip the OpenAI SDK's CPU cost, so
it re-implements what ``OpenAIChatModel`` does over that SDK: the request JSON (messages, tool
schemas under OpenAI's profile, ``tool_choice``, sampling settings), the answer's parts, usage
and finish reason, whole and streamed, and the error category of a status or of an error
sent inside a stream. Both models are sent the same conversation, or answered with the same
bytes, and must come out the same.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer
from openai import AsyncOpenAI
from pydantic_ai import exceptions
from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from punching_fist.agent.providers.chat_completions import PROFILE, ChatCompletionsModel
from punching_fist.agent.providers.chat_stream import ChatStream
from punching_fist.agent.providers.http_clients import HttpClients
from punching_fist.agent.replies import final_tool
from punching_fist.agent.tools.curl import CurlTool
from punching_fist.agent.tools.kubectl import KubectlTool
from punching_fist.agent.tools.promql import PromqlTool
from punching_fist.agent.tools.script import ScriptTool
from punching_fist.agent.toolset import definition

KUBECTL = ToolDefinition(
    name="kubectl",
    description="Run kubectl.",
    parameters_json_schema={
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
)
LOGS = ToolDefinition(
    name="logs",
    description="Read logs.",
    parameters_json_schema={
        "type": "object",
        "properties": {"pod": {"type": "string"}, "lines": {"type": "integer", "default": 50}},
    },
)
FINAL = ToolDefinition(
    name="final_answer",
    description="Give your final answer.",
    parameters_json_schema={
        "type": "object",
        "properties": {"summary": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["summary"],
    },
    kind="output",
)
TOOLS = ModelRequestParameters(
    function_tools=[KUBECTL, LOGS],
    output_mode="tool",
    output_tools=[FINAL],
    allow_text_output=False,
)
FINAL_ONLY = ModelRequestParameters(
    output_mode="tool", output_tools=[FINAL], allow_text_output=False
)
TEXT = ModelRequestParameters()
NO_RETRIES = ModelSettings(max_retries=0)


def conversation() -> list[ModelMessage]:
    """A goal, two answers with tool calls and text, their results and corrections."""
    return [
        ModelRequest(
            parts=[SystemPromptPart("You are an SRE."), UserPromptPart("web-1 crash-loops")],
            instructions="Answer with final_answer.",
        ),
        ModelResponse(
            parts=[
                TextPart("Looking."),
                ToolCallPart("kubectl", {"command": "get pods"}, "call-1"),
                ToolCallPart("logs", '{"pod": "web-1"}', "call-2"),
            ]
        ),
        ModelRequest(
            parts=[
                ToolReturnPart("kubectl", "web-1 0/1 CrashLoopBackOff", "call-1"),
                ToolReturnPart("logs", {"lines": ["OOMKilled"]}, "call-2"),
            ]
        ),
        ModelResponse(parts=[ToolCallPart("final_answer", {"summary": 5}, "call-3")]),
        ModelRequest(
            parts=[
                ToolReturnPart(
                    "final_answer",
                    [
                        {
                            "type": "string_type",
                            "loc": ["summary"],
                            "msg": "Input should be a string",
                        }
                    ],
                    "call-3",
                    outcome="retried",
                ),
                UserPromptPart(["Use ", "the tool."]),
            ]
        ),
    ]


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    async with RawTestServer(handler) as server:
        yield str(server.make_url("/v1"))


@asynccontextmanager
async def replaying(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Every request answered with these bytes; yields the base URL and the bodies received."""
    received: list[dict[str, Any]] = []

    async def answer(request: web.BaseRequest) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=status, body=body, headers=headers)

    async with serving(answer) as url:
        yield url, received


def sse(*chunks: dict[str, Any] | str) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines).encode()


@pytest.fixture
async def http() -> AsyncIterator[HttpClients]:
    clients = HttpClients()
    yield clients
    await clients.aclose()


def both(
    http: HttpClients, url: str, *, named_tool_choice: bool = False
) -> tuple[ChatCompletionsModel, OpenAIChatModel]:
    """Our model as the openai provider builds it, and pydantic-ai's over the SDK with the
    profile ours declares (no ``allowed_tools``, which OpenAI-compatible servers lack; the
    profile itself is compared with OpenAIChatModel's own below)."""
    ours = ChatCompletionsModel(
        "gpt-test",
        base_url=url,
        session=http.session(),
        api_key="k",
        max_tokens_field="max_completion_tokens",
        named_tool_choice=named_tool_choice,
    )
    client = AsyncOpenAI(base_url=url, api_key="k", http_client=http.httpx(), max_retries=0)
    provider = OpenAIProvider(openai_client=client)
    theirs = OpenAIChatModel("gpt-test", provider=provider, profile=PROFILE)
    return ours, theirs


async def ask(
    model: Model,
    messages: list[ModelMessage],
    parameters: ModelRequestParameters,
    settings: ModelSettings | None = None,
    *,
    stream: bool,
) -> ModelResponse:
    """One request as the investigation loop makes it (``prepare_messages`` first)."""
    settings = ModelSettings(**{**NO_RETRIES, **(settings or {})})
    prepared = model.prepare_messages(messages, parameters)
    if not stream:
        return await model.request(prepared, settings, parameters)
    async with model.request_stream(prepared, settings, parameters) as streamed:
        async for _ in streamed:
            pass
    return streamed.get()


WHOLE_TOOL_CALLS = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_790_000_000,
    "model": "gpt-test-2026",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking memory.",
                "tool_calls": [
                    {
                        "id": "call-a",
                        "type": "function",
                        "function": {"name": "kubectl", "arguments": '{"command": "top pod"}'},
                    },
                    {
                        "id": "call-b",
                        "type": "function",
                        "function": {"name": "final_answer", "arguments": '{"summary": "OOM"}'},
                    },
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0},
    },
}


def streamed_tool_calls(finish_reason: str = "tool_calls") -> bytes:
    base = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1_790_000_000,
        "model": "gpt-test-2026",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    function = {"name": "kubectl", "arguments": ""}
    first_call = {"index": 0, "id": "call-a", "type": "function", "function": function}
    return sse(
        chunk({"role": "assistant", "content": "Check"}),
        chunk({"content": "ing."}),
        chunk({"tool_calls": [first_call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"command"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ': "top pod"}'}}]}),
        chunk({}, finish_reason),
        {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": 90,
                "completion_tokens": 9,
                "total_tokens": 99,
                "prompt_tokens_details": {"cached_tokens": 32},
            },
        },
        "[DONE]",
    )


def whole(finish_reason: str | None) -> dict[str, Any]:
    message = {"role": "assistant", "content": "pods are crash-looping"}
    return {
        "id": "chatcmpl-3",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": "gpt-test-2026",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    }


def comparable(response: ModelResponse) -> dict[str, Any]:
    """What the rest of the agent reads from an answer."""
    parts: list[tuple[Any, ...]] = []
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            parts.append(("call", part.tool_name, part.args_as_dict(), part.tool_call_id))
        elif isinstance(part, TextPart):
            parts.append(("text", part.content))
        else:
            parts.append((type(part).__name__, getattr(part, "content", None)))
    details = response.provider_details or {}
    return {
        "parts": parts,
        "usage": response.usage,
        "model_name": response.model_name,
        "finish_reason": response.finish_reason,
        "raw_finish_reason": details.get("finish_reason"),
        "provider_name": response.provider_name,
        "provider_response_id": response.provider_response_id,
    }


def sent(body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """A request body, without the ``"stream": false`` the SDK spells out and we leave out."""
    if not stream and body.get("stream") is False:
        body = {k: v for k, v in body.items() if k != "stream"}
    return body


async def test_the_profile_is_openai_chat_models_for_what_it_covers(http: HttpClients) -> None:
    """Our tool schemas are transformed as OpenAIChatModel's own profile transforms them:
    every tool an agent step can offer, and ``final_answer``, come out the same, as strict."""
    client = AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1", api_key="k", http_client=http.httpx(), max_retries=0
    )
    theirs = OpenAIChatModel("gpt-test", provider=OpenAIProvider(openai_client=client))
    for key, value in PROFILE.items():
        if key != "json_schema_transformer":
            assert theirs.profile.get(key) == value, key
    ours = ChatCompletionsModel("gpt-test", base_url=str(client.base_url), session=http.session())
    tools = [
        definition(name, "", arguments)
        for name, arguments in (
            ("kubectl", KubectlTool.arguments),
            ("promql", PromqlTool.arguments),
            ("curl", CurlTool.arguments),
            ("script", ScriptTool.arguments),
        )
    ]
    parameters = ModelRequestParameters(function_tools=tools, output_tools=[final_tool()])
    our_tools, their_tools = (
        model.customize_request_parameters(parameters) for model in (ours, theirs)
    )
    assert our_tools.function_tools == their_tools.function_tools
    assert our_tools.output_tools == their_tools.output_tools


SAMPLING = ModelSettings(
    temperature=0.1,
    top_p=0.9,
    seed=7,
    max_tokens=256,
    presence_penalty=0.5,
    frequency_penalty=0.25,
    stop_sequences=["\n\n"],
    parallel_tool_calls=False,
)
PARAMETERS = {"tools": TOOLS, "final answer only": FINAL_ONLY, "text": TEXT}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("parameters", list(PARAMETERS.values()), ids=list(PARAMETERS))
@pytest.mark.parametrize("settings", [ModelSettings(), SAMPLING], ids=["defaults", "sampling"])
async def test_the_request_body_is_the_one_openai_chat_model_sends(
    http: HttpClients,
    stream: bool,
    parameters: ModelRequestParameters,
    settings: ModelSettings,
) -> None:
    """Byte for byte (as JSON), for the settings the runtime sends."""
    answer = streamed_tool_calls() if stream else json.dumps(WHOLE_TOOL_CALLS).encode()
    async with replaying(200, answer) as (url, received):
        ours, theirs = both(http, url)
        for model in (ours, theirs):
            await ask(model, conversation(), parameters, settings, stream=stream)
    our_body, their_body = (sent(body, stream=stream) for body in received)
    assert our_body == their_body


def choice(body: dict[str, Any]) -> dict[str, Any]:
    """Which tools the model may call (with their schemas), and whether it must call one."""
    tools = {t["function"]["name"]: t["function"] for t in body.get("tools", [])}
    picked = body.get("tool_choice")
    if isinstance(picked, dict) and picked["type"] == "allowed_tools":
        allowed = picked["allowed_tools"]
        tools = {t["function"]["name"]: tools[t["function"]["name"]] for t in allowed["tools"]}
        picked = allowed["mode"]
    elif isinstance(picked, dict):
        tools = {picked["function"]["name"]: tools[picked["function"]["name"]]}
    elif picked == "none":
        tools = {}
    return {"callable": tools, "must_call": picked not in (None, "auto", "none")}


TOOL_CHOICES: dict[str, ModelSettings] = {
    "default": ModelSettings(),
    "none": ModelSettings(tool_choice="none"),
    "required": ModelSettings(tool_choice="required"),
    "one named": ModelSettings(tool_choice=["kubectl"]),
    "two named": ModelSettings(tool_choice=["kubectl", "logs"]),
}


CHOICE_CASES = [
    pytest.param(settings, parameters, id=f"{choice_name}-{parameters_name}")
    for choice_name, settings in TOOL_CHOICES.items()
    for parameters_name, parameters in PARAMETERS.items()
    # tool_choice names function tools: without any it is a usage error in both
    if parameters.function_tools or "tool_choice" not in settings
]


@pytest.mark.parametrize("named", [False, True], ids=["required", "named"])
@pytest.mark.parametrize(("settings", "parameters"), CHOICE_CASES)
async def test_the_tools_the_model_may_call_are_the_ones_openai_chat_model_offers(
    http: HttpClients, named: bool, settings: ModelSettings, parameters: ModelRequestParameters
) -> None:
    """Where the bodies differ on purpose: we name the one tool to call (unless the provider
    reads only strings) where pydantic-ai sends ``required``, and leave out the tools a
    ``tool_choice`` rules out where pydantic-ai lists them all (keeping its prompt cache) and
    names the one. The model's choice is the same either way."""
    answer = json.dumps(WHOLE_TOOL_CALLS).encode()
    async with replaying(200, answer) as (url, received):
        ours, theirs = both(http, url, named_tool_choice=named)
        for model in (ours, theirs):
            await ask(model, conversation(), parameters, settings, stream=False)
    our_choice, their_choice = map(choice, received)
    assert our_choice == their_choice


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_answer_comes_back_as_openai_chat_model_reads_it(
    http: HttpClients, stream: bool
) -> None:
    answer = streamed_tool_calls() if stream else json.dumps(WHOLE_TOOL_CALLS).encode()
    async with replaying(200, answer) as (url, _):
        ours, theirs = both(http, url)
        responses = [
            await ask(model, conversation(), TOOLS, stream=stream) for model in (ours, theirs)
        ]
    our_answer, their_answer = map(comparable, responses)
    assert our_answer == their_answer


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_answer_without_usage_is_an_unmeasured_request_in_both(
    http: HttpClients, stream: bool
) -> None:
    """Our stream opts into pydantic-ai's usage tracking (``_usage_received``, ``_add_usage``)."""
    if stream:
        answer = streamed_tool_calls().replace(b'"usage"', b'"no_usage"')
    else:
        answer = json.dumps({k: v for k, v in whole("stop").items() if k != "usage"}).encode()
    async with replaying(200, answer) as (url, _):
        ours, theirs = both(http, url)
        responses = [
            await ask(model, conversation(), TOOLS, stream=stream) for model in (ours, theirs)
        ]
    our_usage, their_usage = (response.usage for response in responses)
    assert our_usage == their_usage
    assert our_usage.unmeasured_requests == 1


def test_the_private_pydantic_ai_api_our_model_uses_is_still_there() -> None:
    """``ChatCompletionsModel`` and ``ChatStream`` subclass pydantic-ai's ``Model`` and
    ``StreamedResponse`` and use these private members; the parity tests above run them, this
    names the one that went missing."""
    instruction_parts = inspect.signature(Model._get_instruction_parts)
    assert list(instruction_parts.parameters) == ["self", "messages", "model_request_parameters"]
    add_usage = inspect.signature(StreamedResponse._add_usage)
    assert add_usage.parameters["reported"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "_get_event_iterator" in StreamedResponse.__abstractmethods__
    fields = {f.name: f for f in dataclasses.fields(StreamedResponse)}
    assert fields["_usage_received"].default is None  # a stream opts in by defaulting to False
    parts_manager = inspect.getattr_static(StreamedResponse, "_parts_manager")
    assert isinstance(parts_manager, functools.cached_property)
    assert {f.name: f.default for f in dataclasses.fields(ChatStream)}["_usage_received"] is False


@pytest.mark.parametrize(
    "finish_reason", ["stop", "length", "tool_calls", "content_filter", "function_call"]
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_finish_reasons_map_as_openai_chat_model_maps_them(
    http: HttpClients, finish_reason: str, stream: bool
) -> None:
    answer = streamed_tool_calls(finish_reason) if stream else json.dumps(whole(finish_reason))
    raw = answer if isinstance(answer, bytes) else answer.encode()
    async with replaying(200, raw) as (url, _):
        ours, theirs = both(http, url)
        responses = [
            await ask(model, conversation(), TOOLS, stream=stream) for model in (ours, theirs)
        ]
    our_answer, their_answer = map(comparable, responses)
    assert our_answer["finish_reason"] == their_answer["finish_reason"]
    assert our_answer["raw_finish_reason"] == their_answer["raw_finish_reason"]


CATEGORIES = (
    exceptions.ModelHTTPError,
    exceptions.ModelRateLimitError,
    exceptions.ModelQuotaExceededError,
    exceptions.ModelOverloadedError,
    exceptions.ModelUnavailableError,
    exceptions.ModelServerError,
    exceptions.ModelTimeoutError,
    exceptions.ModelConnectionError,
    exceptions.ModelRequestRejectedError,
    exceptions.ModelContextWindowExceededError,
    exceptions.ModelAuthenticationError,
    exceptions.ModelNotFoundError,
)


def category(error: BaseException) -> dict[str, Any]:
    """What the retry policy and the audit trail read from a failed request."""
    assert isinstance(error, ModelAPIError), error
    return {
        "categories": [c.__name__ for c in CATEGORIES if isinstance(error, c)],
        "status_code": getattr(error, "status_code", None),
        "retry_after": error.retry_after,
        "in_stream": error.in_stream,
        "provider_error_code": error.provider_error_code,
        "provider_error_type": error.provider_error_type,
    }


def error_body(message: str, *, code: str | None = None, kind: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "code": code, "type": kind}}).encode()


STATUSES: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "400": (400, error_body("bad request", kind="invalid_request_error"), {}),
    "400 context": (400, error_body("too long", code="context_length_exceeded"), {}),
    "400 context message": (400, error_body("This model's maximum context length is 8192"), {}),
    "401": (401, error_body("no key", code="invalid_api_key"), {}),
    "402": (402, error_body("pay up"), {}),
    "403": (403, error_body("forbidden"), {}),
    "404": (404, error_body("no such model", code="model_not_found"), {}),
    "408": (408, error_body("timed out"), {}),
    "413": (413, error_body("too large"), {}),
    "422": (422, error_body("unprocessable"), {}),
    "429": (429, error_body("slow down", code="rate_limit_exceeded"), {"retry-after": "7"}),
    "429 quota": (429, error_body("quota", code="insufficient_quota"), {}),
    "500": (500, error_body("oops", kind="server_error"), {}),
    "502 not json": (502, b"<html>bad gateway</html>", {}),
    "503": (503, error_body("unavailable"), {"retry-after-ms": "1500"}),
    "503 overloaded": (503, error_body("The server is overloaded"), {}),
    "529": (529, error_body("overloaded", kind="overloaded_error"), {}),
    "418": (418, error_body("teapot"), {}),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("answer", list(STATUSES.values()), ids=list(STATUSES))
async def test_an_error_status_is_the_category_openai_chat_model_raises(
    http: HttpClients, answer: tuple[int, bytes, dict[str, str]], stream: bool
) -> None:
    status, body, headers = answer
    async with replaying(status, body, {"content-type": "application/json", **headers}) as (
        url,
        _,
    ):
        ours, theirs = both(http, url)
        errors = []
        for model in (ours, theirs):
            with pytest.raises(ModelAPIError) as caught:
                await ask(model, conversation(), TOOLS, stream=stream)
            errors.append(caught.value)
    our_error, their_error = map(category, errors)
    assert our_error == their_error


IN_STREAM: dict[str, dict[str, Any]] = {
    "rate limit": {"message": "slow down", "code": "rate_limit_exceeded"},
    "quota": {"message": "quota", "type": "insufficient_quota"},
    "context": {"message": "too long", "code": "context_length_exceeded"},
    "server error": {"message": "oops", "type": "server_error"},
    "overloaded": {"message": "busy", "type": "overloaded"},
    "status as code": {"message": "unavailable", "code": 503},
    "status as a string code": {"message": "too many", "code": "429"},
    "model not found": {"message": "no such model", "code": "model_not_found"},
    "bad key": {"message": "who are you", "code": "invalid_api_key"},
    "over capacity": {"message": "busy", "type": "engine_over_capacity"},
    "no status": {"message": "something else"},
}


@pytest.mark.parametrize("error", list(IN_STREAM.values()), ids=list(IN_STREAM))
async def test_an_error_inside_a_stream_is_the_category_openai_chat_model_raises(
    http: HttpClients, error: dict[str, Any]
) -> None:
    first = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1_790_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"content": "Hm"}}],
    }
    body = sse(first, {"error": error}, "[DONE]")
    async with replaying(200, body, {"content-type": "text/event-stream"}) as (url, _):
        ours, theirs = both(http, url)
        errors = []
        for model in (ours, theirs):
            with pytest.raises(ModelAPIError) as caught:
                await ask(model, conversation(), TOOLS, stream=True)
            errors.append(caught.value)
    our_error, their_error = map(category, errors)
    assert our_error == their_error
