"""``provider: local`` without an endpoint, served by the bundled model behind its gateway.

llama-server is played by ``fake_llama_server.py`` (a real process speaking HTTP on
127.0.0.1), so starting, slots, restarts and shutdown are observed on real processes; the
real model's own test is ``test_quickstart_investigation.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from punching_fist.agent.providers.config import LLMChoice
from punching_fist.agent.result import AgentResult
from punching_fist.errors import ConfigurationError
from punching_fist.local_model.bundled import BundledLocalModel
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.server import ServerSettings
from tests.agent.kit import (
    kubectl_stand_in,
    post_alert,
    run_detail,
    server_settings,
    step,
    workflow_yaml,
)
from tests.support.fake_llm import FakeLLM, Script, final
from tests.support.server import resources_from_yaml, running_server

FAKE_SOURCE = Path(__file__).with_name("fake_llama_server.py")
LOCAL = LLMChoice(provider="local")

MakeModel = Callable[..., BundledLocalModel]


@pytest.fixture
def fake_settings(tmp_path: Path) -> ServerSettings:
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_SOURCE.read_text())
    binary.chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return ServerSettings(
        binary=binary, model=model, start_timeout=10.0, restart_delay=0.05, stop_grace=1.0
    )


@pytest.fixture
async def make_model(fake_settings: ServerSettings) -> AsyncIterator[MakeModel]:
    made: list[BundledLocalModel] = []

    def make(*fake_flags: str, **overrides: Any) -> BundledLocalModel:
        model = BundledLocalModel(replace(fake_settings, extra_args=fake_flags, **overrides))
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purposes
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def server_pid(model: BundledLocalModel) -> int | None:
    return None if model.supervisor is None else model.supervisor.pid


async def get(url: str, timeout: float = 10.0) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
        return await client.get(url)


def local_workflow(**workflow: Any) -> str:
    """The agent kit's workflow with ``provider: local`` and no ``endpoint``."""
    text = workflow_yaml("unused", **workflow)
    assert '      endpoint: "unused"\n' in text
    return text.replace('      endpoint: "unused"\n', "")


async def investigate_locally(
    tmp_path: Path, sqlite_url: str, local_model: BundledLocalModel, **settings: Any
) -> tuple[dict[str, Any], str]:
    stand_in = kubectl_stand_in(tmp_path, [("get pods", "web-1   0/1   CrashLoopBackOff\n", 0)])
    resources = resources_from_yaml(local_workflow())
    async with running_server(
        resources, sqlite_url, local_model=local_model, **server_settings(stand_in), **settings
    ) as server:
        run_id = await post_alert(server)
        await server.settle()
        return await run_detail(server.client, run_id), server.sink_output()


async def test_endpoint_opens_the_gateway_but_starts_no_server(make_model: MakeModel) -> None:
    model = make_model()
    assert model.supervisor is None
    url = await model.endpoint(LOCAL)
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    assert server_pid(model) is None  # llama-server waits for the first request
    assert await model.endpoint(LOCAL) == url


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_investigation_runs_against_the_bundled_server(
    make_model: MakeModel, tmp_path: Path, sqlite_url: str, stream: bool
) -> None:
    model = make_model()
    detail, out = await investigate_locally(tmp_path, sqlite_url, model, agent_stream=stream)

    result = AgentResult.model_validate(step(detail)["result"])
    assert result.error_message is None
    # The fake server saw kubectl's real output and signed its answer with its pid.
    assert result.summary.startswith("seen by ")
    assert result.summary.endswith(": web-1   0/1   CrashLoopBackOff")
    pid = int(result.summary.removeprefix("seen by ").split(":")[0])
    assert result.summary in out
    llm_rows = [e for e in detail["audit"] if e["kind"] == "llm"]
    assert [e["usage"]["input_tokens"] for e in llm_rows] == [100, 100]
    # The server stopped with the service.
    assert not alive(pid)
    assert model.supervisor is None


async def test_an_endpoint_in_the_config_starts_nothing(
    make_model: MakeModel, tmp_path: Path, sqlite_url: str
) -> None:
    model = make_model()
    stand_in = kubectl_stand_in(tmp_path)
    with FakeLLM(Script([final(summary="from the configured endpoint")])) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        async with running_server(
            resources, sqlite_url, local_model=model, **server_settings(stand_in)
        ) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
            assert model.supervisor is None
            assert model.gateway is None
    assert step(detail)["result"]["summary"] == "from the configured endpoint"


async def test_a_missing_model_ends_the_step_with_how_to_install_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    model = BundledLocalModel.for_cache(LocalModelPaths(root=tmp_path / "empty-cache"))
    detail, out = await investigate_locally(tmp_path, sqlite_url, model)

    agent_step = step(detail)
    assert agent_step["status"] == "failed"
    result = AgentResult.model_validate(agent_step["result"])
    assert result.error_message is not None
    assert "run `punching-fist model install`" in result.error_message
    assert "Traceback" not in result.error_message
    assert result.can_auto_fix is False
    assert "Investigate manually" in out  # the alert still reached its sink
    assert model.supervisor is None


async def test_not_installed_is_a_configuration_error(tmp_path: Path) -> None:
    model = BundledLocalModel.for_cache(LocalModelPaths(root=tmp_path))
    with pytest.raises(ConfigurationError, match=r"not installed in .*model install"):
        await model.endpoint(LOCAL)


async def test_requests_beyond_the_slots_wait_at_the_gateway(make_model: MakeModel) -> None:
    model = make_model(slots=1)
    url = await model.endpoint(LOCAL)
    responses = await asyncio.gather(*(get(f"{url}/slow") for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    stats = (await get(f"{url}/stats")).json()
    assert stats["served"] == 4
    assert stats["max_in_flight"] == 1


async def test_a_caller_that_gives_up_frees_its_slot(make_model: MakeModel) -> None:
    model = make_model(slots=1)
    url = await model.endpoint(LOCAL)
    await get(f"{url}/models")  # started
    with pytest.raises(httpx.ReadTimeout):
        await get(f"{url}/slow?seconds=30", timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await get(f"{url}/models")).status_code == 200
    assert loop.time() - started < 5


async def test_a_killed_server_is_restarted_behind_the_same_url(make_model: MakeModel) -> None:
    model = make_model()
    url = await model.endpoint(LOCAL)
    assert (await get(f"{url}/models")).status_code == 200
    first = server_pid(model)
    assert first is not None

    os.kill(first, signal.SIGKILL)
    assert (await get(f"{url}/models")).status_code == 200

    assert server_pid(model) not in (None, first)
    assert await model.endpoint(LOCAL) == url


async def test_a_server_dying_mid_request_answers_502_then_recovers(
    make_model: MakeModel,
) -> None:
    model = make_model()
    url = await model.endpoint(LOCAL)
    crashed = await get(f"{url}/crash")
    assert crashed.status_code == 502
    assert "llama-server did not answer" in crashed.json()["error"]["message"]
    assert (await get(f"{url}/models")).status_code == 200


async def test_a_server_that_cannot_start_answers_503_saying_why(make_model: MakeModel) -> None:
    model = make_model("--fake-exit-code", "3", max_start_failures=1)
    url = await model.endpoint(LOCAL)
    response = await get(f"{url}/models")
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "bundled local model is unavailable" in message
    assert "refusing to start" in message


async def test_aclose_stops_everything_and_a_later_use_starts_again(
    make_model: MakeModel,
) -> None:
    model = make_model()
    url = await model.endpoint(LOCAL)
    await get(f"{url}/models")
    pid = server_pid(model)
    assert pid is not None

    await model.aclose()

    assert not alive(pid)
    with pytest.raises(httpx.ConnectError):
        await get(f"{url}/models")
    again = await model.endpoint(LOCAL)
    assert (await get(f"{again}/models")).status_code == 200
    assert server_pid(model) not in (None, pid)


async def test_aclose_does_not_wait_for_an_answer_in_progress(make_model: MakeModel) -> None:
    model = make_model()
    url = await model.endpoint(LOCAL)
    await get(f"{url}/models")
    in_flight = asyncio.create_task(get(f"{url}/slow?seconds=60", timeout=90))
    assert model.supervisor is not None
    server = await model.supervisor.endpoint()  # llama-server itself, past the gateway's slots
    async with asyncio.timeout(10):  # until the request is inside llama-server
        while (await get(f"{server}/stats")).json()["in_flight"] != 1:
            await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()

    await model.aclose()

    assert loop.time() - started < 5
    try:
        answer = await asyncio.wait_for(in_flight, 5)
    except httpx.HTTPError:
        return  # the connection was dropped: also an immediate end
    assert answer.status_code == 502
