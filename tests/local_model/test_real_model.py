"""The real thing: Qwen2.5-Coder 1.5B on llama-server answers an OpenAI tool call.

Never skipped for want of a model: a cache without one is filled by the installer first
(minutes once, then cached in ``$PF_CACHE_DIR`` or ``~/.cache/punching-fist``).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.installer import install
from punching_fist.local_model.server import LlamaServerSupervisor, ServerSettings

pytestmark = [pytest.mark.llm, pytest.mark.timeout(1800)]

GET_POD_LOGS = {
    "type": "function",
    "function": {
        "name": "get_pod_logs",
        "description": "Fetch the most recent log lines of a Kubernetes pod.",
        "parameters": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "Namespace of the pod"},
                "pod": {"type": "string", "description": "Name of the pod"},
                "tail_lines": {"type": "integer", "description": "How many lines"},
            },
            "required": ["namespace", "pod"],
        },
    },
}


async def test_chat_completion_with_required_tool_returns_a_tool_call() -> None:
    paths = LocalModelPaths.from_settings()
    status = await install(paths)  # a no-op on a warm cache
    assert status.ready, status

    supervisor = LlamaServerSupervisor(ServerSettings.for_cache(paths))
    async with (
        supervisor,
        supervisor.slot() as base_url,
        httpx.AsyncClient(trust_env=False, timeout=300) as client,
    ):
        started = time.monotonic()
        response = await client.post(
            f"{base_url}/chat/completions",
            json={
                "model": paths.weights.filename,
                "temperature": 0,
                "messages": [
                    {"role": "system", "content": "You are an SRE assistant."},
                    {
                        "role": "user",
                        "content": "Pod checkout-7d9f in namespace shop is "
                        "crash-looping. Get its last 50 log lines.",
                    },
                ],
                "tools": [GET_POD_LOGS],
                "tool_choice": "required",
            },
        )
        latency = time.monotonic() - started
    response.raise_for_status()
    choice = response.json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    print(f"tool call in {latency:.1f}s: {calls}")
    assert choice["finish_reason"] == "tool_calls"
    assert len(calls) >= 1
    assert calls[0]["type"] == "function"
    assert calls[0]["function"]["name"] == "get_pod_logs"
    arguments = json.loads(calls[0]["function"]["arguments"])
    assert arguments["namespace"] == "shop"
    assert arguments["pod"] == "checkout-7d9f"
