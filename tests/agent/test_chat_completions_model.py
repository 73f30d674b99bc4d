"""The chat-completions model: what it sends, what it makes of answers, and how it fails.

Most cases talk to the fake LLM server (the real wire format, streamed and not); answers
the fake cannot give (reasoning fields, an error inside a stream) come from an httpx2
``MockTransport`` that replays literal bytes.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelServerError,
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
from punching_fist.agent.retry import RetryPolicy, is_retryable
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
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as http:
        yield http


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_the_conversation_goes_out_in_openai_shape(
    client: httpx2.AsyncClient, stream: bool
) -> None:
    with FakeLLM(Script([kubectl("a"), final(summary="OOM")])) as llm:
        model = ChatCompletionsModel("qwen", base_url=llm.url, http_client=client, api_key="k-1")
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
    client: httpx2.AsyncClient,
) -> None:
    with FakeLLM(Script([say("hi")])) as llm:
        for field in ("max_tokens", "max_completion_tokens"):
            model = ChatCompletionsModel(
                "m", base_url=llm.url, http_client=client, max_tokens_field=field
            )
            await model.request([ModelRequest.user_text_prompt("x")], {"max_tokens": 64}, TEXT)
    first, second = (r.body for r in llm.requests)
    assert (first["max_tokens"], "max_completion_tokens" in first) == (64, False)
    assert (second["max_completion_tokens"], "max_tokens" in second) == (64, False)
    assert "authorization" not in llm.requests[0].headers
    assert first.get("tool_choice") is None  # no tools, no choice


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_tool_calls_usage_and_finish_reason_come_back(
    client: httpx2.AsyncClient, stream: bool
) -> None:
    with FakeLLM(Script([final(summary="OOMKilled", confidence=0.9)])) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, http_client=client)
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
async def test_text_answers(client: httpx2.AsyncClient, stream: bool) -> None:
    with FakeLLM(Script([say("pods are crash-looping because of memory")])) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, http_client=client)
        response = await ask(model, [ModelRequest.user_text_prompt("why?")], TEXT, stream=stream)
    assert response.parts == [TextPart("pods are crash-looping because of memory")]
    assert response.finish_reason == "stop"


def replaying(status: int, body: bytes, **headers: str) -> httpx2.AsyncClient:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers=headers)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(answer))


def sse(*chunks: dict[str, Any] | str) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines).encode()


async def test_reasoning_fields_become_thinking_parts_and_go_back_in_the_same_field() -> None:
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
        async with replaying(200, raw) as client:
            model = ChatCompletionsModel("m", base_url="http://llm/v1", http_client=client)
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

    sent: list[dict[str, Any]] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        return httpx2.Response(200, content=whole)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(record)) as client:
        model = ChatCompletionsModel("m", base_url="http://llm/v1", http_client=client)
        await model.request([ModelRequest.user_text_prompt("x"), answers[0]], None, TEXT)
    assert sent[0]["messages"][1] == {
        "role": "assistant",
        "content": "done",
        "reasoning_content": "think first",
    }


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_error_statuses_carry_their_category_and_retry_after(
    client: httpx2.AsyncClient, stream: bool
) -> None:
    script = Script([say("ok")], failures={0: fail(429, retry_after=7)})
    with FakeLLM(script) as llm:
        model = ChatCompletionsModel("m", base_url=llm.url, http_client=client)
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
async def test_other_statuses(status: int, category: type[Exception], retryable: bool) -> None:
    async with replaying(status, b'{"error": {"message": "no"}}') as client:
        model = ChatCompletionsModel("m", base_url="http://llm/v1", http_client=client)
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
    client: httpx2.AsyncClient, stream: bool
) -> None:
    model = ChatCompletionsModel(
        "m", base_url=f"http://127.0.0.1:{closed_port()}/v1", http_client=client
    )
    with pytest.raises(ModelConnectionError) as caught:
        await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
    assert caught.value.phase == "connect"
    assert isinstance(caught.value.__cause__, httpx2.ConnectError)
    assert is_retryable(caught.value)


async def test_an_error_inside_an_open_stream_is_reported_like_one_before_it() -> None:
    body = sse(
        {"choices": [{"delta": {"content": "par"}}]},
        {"error": {"code": 503, "message": "loading model", "type": "unavailable_error"}},
    )
    async with replaying(200, body) as client:
        model = ChatCompletionsModel("m", base_url="http://llm/v1", http_client=client)
        with pytest.raises(ModelHTTPError) as caught:
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=True)
    assert (caught.value.status_code, caught.value.in_stream) == (503, True)
    assert is_retryable(caught.value)

    async with replaying(200, sse({"error": "something odd"})) as client:
        model = ChatCompletionsModel("m", base_url="http://llm/v1", http_client=client)
        with pytest.raises(ModelAPIError, match="something odd"):
            await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=True)


async def test_retries_through_the_audited_model_honour_retry_after(
    client: httpx2.AsyncClient,
) -> None:
    slept: list[float] = []
    audit: list[AuditEvent] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    script = Script([final(summary="ok")], failures={0: fail(503, times=2, retry_after=3)})
    with FakeLLM(script) as llm:
        audited = AuditedModel(
            ChatCompletionsModel("m", base_url=llm.url, http_client=client),
            policy=RetryPolicy(max_attempts=3, initial_delay=0.5),
            record=audit.append,
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
    connections: list[object] = []
    with FakeLLM(Script([say("ok")])) as llm:
        transport = httpx2.AsyncHTTPTransport()
        hooks: dict[str, list[Callable[..., Any]]] = {
            "response": [_remember_connection(connections)]
        }
        async with httpx2.AsyncClient(transport=transport, event_hooks=hooks) as client:
            model = ChatCompletionsModel("m", base_url=llm.url, http_client=client)
            for _ in range(3):
                await ask(model, [ModelRequest.user_text_prompt("x")], TEXT, stream=stream)
    assert len(connections) == 3
    assert len(set(connections)) == 1


def _remember_connection(into: list[object]) -> Callable[[httpx2.Response], Any]:
    async def hook(response: httpx2.Response) -> None:
        stream = response.extensions["network_stream"]
        into.append(stream.get_extra_info("socket").getsockname())

    return hook
