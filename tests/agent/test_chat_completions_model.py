"""The chat-completions model: what it sends, what it makes of answers, and how it fails.

Most cases talk to the fake LLM server (the real wire format, streamed and not); answers
the fake cannot give (reasoning fields, an error inside a stream, silence, a cut body) come
from a local aiohttp server that replays literal bytes.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from pydantic_ai.messages import (
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

from punching_fist.agent.model import AuditedModel
from punching_fist.agent.providers.chat_completions import ChatCompletionsModel
from punching_fist.agent.providers.http_clients import HttpClients
from punching_fist.agent.retry import is_retryable
from punching_fist.retry import RetryPolicy
from punching_fist.store.audit import AuditEvent
from tests.support.fake_llm import FakeLLM, Script, fail, final, kubectl, say

KUBECTL = ToolDefinition(
    name="kubectl",
    description="Run kubectl.",
    parameters_json_schema={
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
)
FINAL = ToolDefinition(
    name="final_answer",
    parameters_json_schema={
        "type": "object",
        "properties": {"summary": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["summary"],
    },
    kind="output",
)
TOOLS = ModelRequestParameters(
    function_tools=[KUBECTL], output_mode="tool", output_tools=[FINAL], allow_text_output=False
)
TEXT = ModelRequestParameters()


def conversation() -> list[ModelMessage]:
    """A goal, one kubectl call, its result and a correction (as the loop sends them)."""
    return [
        ModelRequest(
            parts=[SystemPromptPart("You are an SRE."), UserPromptPart("web-1 crash-loops")],
            instructions="Answer with final_answer.",
        ),
        ModelResponse(parts=[ToolCallPart("kubectl", {"command": "get pods"}, "call-1")]),
        ModelRequest(
            parts=[
                ToolReturnPart("kubectl", "web-1 0/1 CrashLoopBackOff", "call-1"),
                ToolReturnPart("final_answer", "summary is required", "x", outcome="retried"),
            ]
        ),
    ]


async def ask(
    model: ChatCompletionsModel,
    messages: list[ModelMessage],
    parameters: ModelRequestParameters = TOOLS,
    settings: ModelSettings | None = None,
    *,
    stream: bool,
) -> ModelResponse:
    if not stream:
        return await model.request(messages, settings, parameters)
    async with model.request_stream(messages, settings, parameters) as streamed:
        async for _ in streamed:
            pass
    return streamed.get()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The session as the runtime configures it."""
    http = HttpClients()
    yield http.session()
    await http.aclose()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_the_conversation_goes_out_in_openai_shape(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    with FakeLLM(Script([kubectl("a"), final(summary="OOM")])) as llm:
        model = ChatCompletionsModel("qwen", base_url=llm.url, session=session, api_key="k-1")
        await ask(model, conversation(), settings={"temperature": 0.1}, stream=stream)
    (sent,) = llm.requests
    assert sent.headers["authorization"] == "Bearer k-1"
    body = sent.body
    assert body["model"] == "qwen"
    assert body["temperature"] == 0.1
    assert body["messages"] == [
        {"role": "system", "content": "You are an SRE."},
        {"role": "system", "content": "Answer with final_answer."},
        {"role": "user", "content": "web-1 crash-loops"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call-1",
                    "type": "function",
                    "function": {"name": "kubectl", "arguments": '{"command":"get pods"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call-1", "content": "web-1 0/1 CrashLoopBackOff"},
        {"role": "tool", "tool_call_id": "x", "content": '{"error":"summary is required"}'},
    ]
    assert body["tool_choice"] == "required"  # text is no answer
    kubectl_tool, final_tool = body["tools"]
    # The schemas are transformed as for OpenAI: closed objects, strict where possible.
    assert kubectl_tool["function"]["strict"] is True
    assert kubectl_tool["function"]["parameters"]["additionalProperties"] is False
    assert "strict" not in final_tool["function"]
    assert body.get("stream", False) is stream
    assert body.get("stream_options") == ({"include_usage": True} if stream else None)


async def test_token_limit_field_is_the_providers_and_no_key_sends_no_authorization(
    session: aiohttp.ClientSession,
) -> None:
    with FakeLLM(Script([say("hi")])) as llm:
        for field in ("max_tokens", "max_completion_tokens"):
            model = ChatCompletionsModel(
                "m", base_url=llm.url, session=session, max_tokens_field=field
            )
            await model.request([ModelRequest.user_text_prompt("x")], {"max_tokens": 64}, TEXT)
    first, second = (r.body for r in llm.requests)
    assert (first["max_tokens"], "max_completion_tokens" in first) == (64, False)
    assert (second["max_completion_tokens"], "max_tokens" in second) == (64, False)
    assert "authorization" not in llm.requests[0].headers
    assert first.get("tool_choice") is None  # no tools, no choice


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_tool_calls_usage_and_finish_reason_come_back(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    with FakeLLM(Script([final(summary="OOMKilled", confidence=0.9)])) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, session=session)
        response = await ask(model, [ModelRequest.user_text_prompt("why?")], stream=stream)
    (part,) = response.parts
    assert isinstance(part, ToolCallPart)
    assert part.tool_name == "final_answer"
    assert part.args_as_dict() == {"summary": "OOMKilled", "confidence": 0.9}
    assert part.tool_call_id.startswith("call_")
    assert response.finish_reason == "tool_call"
    assert response.model_name == "fake-model"
    assert response.usage.input_tokens == llm.requests[0].prompt_tokens
    assert response.usage.output_tokens > 0
    assert response.provider_response_id is not None
    assert response.provider_response_id.startswith("chatcmpl-")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_text_answers(session: aiohttp.ClientSession, stream: bool) -> None:
    with FakeLLM(Script([say("pods are crash-looping because of memory")])) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, session=session)
        response = await ask(model, [ModelRequest.user_text_prompt("why?")], TEXT, stream=stream)
    assert response.parts == [TextPart("pods are crash-looping because of memory")]
    assert response.finish_reason == "stop"


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """A local HTTP server answering with ``handler``; yields its ``/v1`` base URL."""
    async with RawTestServer(handler) as server:
        yield str(server.make_url("/v1"))


def replaying(
    status: int, body: bytes, received: list[bytes] | None = None, **headers: str
) -> AbstractAsyncContextManager[str]:
    """Answers every request with these bytes; request bodies go to ``received``."""

    async def answer(request: web.BaseRequest) -> web.Response:
        if received is not None:
            received.append(await request.read())
        return web.Response(status=status, body=body, headers=headers)

    return serving(answer)


def sse(*chunks: dict[str, Any] | str) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines).encode()


async def test_reasoning_fields_become_thinking_parts_and_go_back_in_the_same_field(
    session: aiohttp.ClientSession,
) -> None:
    message = {"role": "assistant", "content": "done", "reasoning_content": "think first"}
    whole = json.dumps({"choices": [{"message": message, "finish_reason": "stop"}]}).encode()
    streamed = sse(
        {"choices": [{"delta": {"reasoning_content": "think "}}]},
        {"choices": [{"delta": {"reasoning_content": "first"}}]},
        {"choices": [{"delta": {"content": "done"}, "finish_reason": "stop"}]},
        "[DONE]",
    )
    answers = []
    for stream, raw in ((False, whole), (True, streamed)):
        async with replaying(200, raw) as url:
            model = ChatCompletionsModel("m", base_url=url, session=session)
            answers.append(
                await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
            )
    for response in answers:
        thinking, text = response.parts
        assert isinstance(thinking, ThinkingPart)
        assert (thinking.content, thinking.id, text) == (
            "think first",
            "reasoning_content",
            TextPart("done"),
        )
    # Missing usage is reported as an unmeasured request, not as zero tokens.
    assert all(r.usage.unmeasured_requests == 1 for r in answers)

    received: list[bytes] = []
    async with replaying(200, whole, received) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        await model.request([ModelRequest.user_text_prompt("x"), answers[0]], None, TEXT)
    assert json.loads(received[0])["messages"][1] == {
        "role": "assistant",
        "content": "done",
        "reasoning_content": "think first",
    }


async def test_transformed_tool_schemas_are_remembered_per_definition_never_confused(
    session: aiohttp.ClientSession,
) -> None:
    answer = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    received: list[bytes] = []
    async with replaying(200, json.dumps(answer).encode(), received) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        # More sets than are remembered: the oldest are forgotten (and their definitions
        # freed, so new ones may take their ids), never answered from a stale entry.
        for n in range(70):
            kubectl = replace(KUBECTL, description=f"Run kubectl ({n}).")
            parameters = ModelRequestParameters(function_tools=[kubectl])
            for _ in range(2):
                await model.request([ModelRequest.user_text_prompt("x")], None, parameters)
    tools = [json.loads(body)["tools"] for body in received]
    assert [t[0]["function"]["description"] for t in tools] == [
        f"Run kubectl ({n})." for n in range(70) for _ in range(2)
    ]
    assert all(t[0]["function"]["parameters"]["additionalProperties"] is False for t in tools)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_error_statuses_carry_their_category_and_retry_after(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    script = Script([say("ok")], failures={0: fail(429, retry_after=7)})
    with FakeLLM(script) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, session=session)
        with pytest.raises(ModelHTTPError) as caught:
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
    error = caught.value
    assert isinstance(error, ModelRateLimitError)
    assert (error.status_code, error.retry_after) == (429, 7.0)
    assert error.body == {"message": "fake failure", "type": "server_error"}
    assert is_retryable(error)


@pytest.mark.parametrize(
    ("status", "category", "retryable"),
    [
        (500, ModelServerError, True),
        (502, ModelServerError, True),
        (401, ModelAuthenticationError, False),
    ],
)
async def test_other_statuses(
    session: aiohttp.ClientSession, status: int, category: type[Exception], retryable: bool
) -> None:
    async with replaying(status, b'{"error": {"message": "no"}}') as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        with pytest.raises(ModelHTTPError) as caught:
            await model.request([ModelRequest.user_text_prompt("x")], None, TEXT)
    assert isinstance(caught.value, category)
    assert caught.value.status_code == status
    assert is_retryable(caught.value) is retryable


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_unreachable_server_is_a_retryable_connection_error(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    model = ChatCompletionsModel(
        "m", base_url=f"http://127.0.0.1:{closed_port()}/v1", session=session
    )
    with pytest.raises(ModelConnectionError) as caught:
        await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
    assert caught.value.phase == "connect"
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert is_retryable(caught.value)


async def test_an_error_inside_an_open_stream_is_reported_like_one_before_it(
    session: aiohttp.ClientSession,
) -> None:
    body = sse(
        {"choices": [{"delta": {"content": "par"}}]},
        {"error": {"code": 503, "message": "loading model", "type": "unavailable_error"}},
    )
    async with replaying(200, body) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        with pytest.raises(ModelHTTPError) as caught:
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=True)
    assert (caught.value.status_code, caught.value.in_stream) == (503, True)
    assert is_retryable(caught.value)

    async with replaying(200, sse({"error": "something odd"})) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        with pytest.raises(ModelAPIError, match="something odd"):
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=True)


async def test_retries_through_the_audited_model_honour_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    slept: list[float] = []
    audit: list[AuditEvent] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def record(event: AuditEvent, *, urgent: bool = False) -> asyncio.Future[None]:
        audit.append(event)
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stored.set_result(None)
        return stored

    script = Script([final(summary="ok")], failures={0: fail(503, times=2, retry_after=3)})
    with FakeLLM(script) as llm:
        audited = AuditedModel(
            ChatCompletionsModel("m", base_url=llm.url, session=session),
            policy=RetryPolicy(max_attempts=3, initial_delay=0.5),
            record=record,
            run_id=None,
            step_name="investigate",
            sleep=sleep,
        )
        response = await audited.request([ModelRequest.user_text_prompt("x")], None, TOOLS)
    assert isinstance(response.parts[0], ToolCallPart)
    assert slept == [3.0, 3.0]
    assert [e.exit_code for e in audit] == [503, 503, None]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_one_connection_serves_request_after_request(stream: bool) -> None:
    opened: list[object] = []
    reused: list[object] = []
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(_remember(opened))
    trace.on_connection_reuseconn.append(_remember(reused))
    with FakeLLM(Script([say("ok")])) as llm:
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            model = ChatCompletionsModel("m", base_url=llm.url, session=session)
            for _ in range(3):
                await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
    assert (len(opened), len(reused)) == (1, 2)


def _remember(into: list[object]) -> Callable[..., Awaitable[None]]:
    async def signal(session: object, context: object, params: object) -> None:
        into.append(params)

    return signal


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_silent_server_is_a_retryable_timeout(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    released = asyncio.Event()

    async def silent(request: web.BaseRequest) -> web.Response:
        await released.wait()
        return web.Response(status=200)

    async with serving(silent) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        try:
            with pytest.raises(ModelTimeoutError) as caught:
                await ask(
                    model,
                    [ModelRequest.user_text_prompt("x")],
                    TEXT,
                    {"timeout": 0.2},
                    stream=stream,
                )
        finally:
            released.set()
    assert caught.value.phase == "read"
    assert is_retryable(caught.value)


async def test_a_stream_cut_short_is_a_retryable_connection_error(
    session: aiohttp.ClientSession,
) -> None:
    async def cut(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(sse({"choices": [{"delta": {"content": "par"}}]}))
        assert request.transport is not None
        request.transport.close()
        return response

    async with serving(cut) as url:
        model = ChatCompletionsModel("m", base_url=url, session=session)
        with pytest.raises(ModelConnectionError) as caught:
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=True)
    assert caught.value.phase == "read"
    assert is_retryable(caught.value)
