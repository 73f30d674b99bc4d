"""CPU per LLM request in our process: the provider's model against the fake LLM server.

Run: ``.venv/bin/python bench/llm_request.py`` (``--requests N``; ``--sdk`` measures
pydantic-ai's ``OpenAIChatModel`` on the OpenAI SDK instead, for comparison).

The request is the third of an investigation: system prompt, goal, two kubectl calls with
their output, the kubectl tool and the ``final_answer`` output tool, answered with a
``final_answer`` call. The fake runs in a child process (``fake_llm_process``), so the
figure (``time.process_time`` over the loop, on uvloop as ``serve`` runs) is our side only:
building the request, the HTTP exchange, parsing the answer. Whole and streamed answers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import uvloop
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_llm import Script, fake_llm_process, final, kubectl  # noqa: E402

from punching_fist.agent.providers import (  # noqa: E402
    HttpClients,
    LLMChoice,
    NoLocalModel,
    build_model,
)
from punching_fist.secret_refs import EnvResolver, SecretResolver  # noqa: E402

KUBECTL = ToolDefinition(
    name="kubectl",
    description="Run a read-only kubectl command.",
    parameters_json_schema={
        "type": "object",
        "properties": {"command": {"type": "string", "description": "kubectl arguments"}},
        "required": ["command"],
    },
)
FINAL = ToolDefinition(
    name="final_answer",
    description="Give the final answer.",
    parameters_json_schema={
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "confidence": {"type": "number"},
            "findings": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["summary"],
    },
    kind="output",
)
PARAMETERS = ModelRequestParameters(
    function_tools=[KUBECTL], output_mode="tool", output_tools=[FINAL], allow_text_output=False
)
SETTINGS = ModelSettings(temperature=0.2, max_tokens=512, max_retries=0)


def third_request() -> list[ModelMessage]:
    messages: list[ModelMessage] = [
        ModelRequest(
            parts=[
                SystemPromptPart("You are an SRE assistant. Investigate the alert. " * 20),
                UserPromptPart("Pod web-1 in namespace shop is crash-looping."),
            ]
        )
    ]
    for i in range(2):
        call = ToolCallPart("kubectl", {"command": f"get pods -n shop {i}"}, f"c{i}")
        output = "web-1 0/1 CrashLoopBackOff\n" * 10
        messages.append(ModelResponse(parts=[call]))
        messages.append(ModelRequest(parts=[ToolReturnPart("kubectl", output, f"c{i}")]))
    return messages


async def model_for(url: str, http: HttpClients, sdk: bool) -> Model:
    if sdk:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=url, api_key="not-needed", http_client=http.httpx())
        return OpenAIChatModel("m", provider=provider)
    return await build_model(
        LLMChoice(provider="local", endpoint=url, model="m"),
        secrets=SecretResolver({"env": EnvResolver({})}),
        http=http,
        local_model=NoLocalModel(),
    )


async def measure(url: str, requests: int, sdk: bool) -> None:
    http = HttpClients()
    try:
        model = await model_for(url, http, sdk)
        messages = model.prepare_messages(third_request(), PARAMETERS)
        for stream in (False, True):

            async def one(stream: bool = stream) -> None:
                if stream:
                    async with model.request_stream(messages, SETTINGS, PARAMETERS) as answer:
                        async for _ in answer:
                            pass
                    response = answer.get()
                else:
                    response = await model.request(messages, SETTINGS, PARAMETERS)
                assert isinstance(response.parts[0], ToolCallPart)

            for _ in range(50):
                await one()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(requests):
                await one()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"{type(model).__name__} {'streamed' if stream else 'whole':8}"
                f" {1000 * cpu / requests:.2f} ms CPU per request"
                f" ({1000 * wall / requests:.2f} ms wall)"
            )
    finally:
        await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--sdk", action="store_true", help="pydantic-ai's OpenAIChatModel")
    args = parser.parse_args()
    with fake_llm_process(Script([kubectl("a"), kubectl("b"), final(summary="ok")])) as url:
        uvloop.run(measure(url, args.requests, args.sdk))


if __name__ == "__main__":  # the fake runs in a spawned process, which imports this module
    main()
