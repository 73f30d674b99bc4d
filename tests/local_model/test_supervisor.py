"""LlamaServerSupervisor against a stand-in server: start, health wait, restart, slots, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from punching_fist.local_model._proc import iter_lines
from punching_fist.local_model.errors import ModelNotInstalled, ServerFailed
from punching_fist.local_model.server import LlamaServerSupervisor, ServerSettings

FAKE_SOURCE = Path(__file__).with_name("fake_llama_server.py")

MakeSupervisor = Callable[..., LlamaServerSupervisor]


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_SOURCE.read_text())
    binary.chmod(0o755)
    return binary


@pytest.fixture
async def make_supervisor(tmp_path: Path, fake_binary: Path) -> AsyncIterator[MakeSupervisor]:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    made: list[LlamaServerSupervisor] = []

    def make(*fake_flags: str, **overrides: Any) -> LlamaServerSupervisor:
        settings = ServerSettings(
            binary=fake_binary,
            model=model,
            start_timeout=10.0,
            restart_delay=0.05,
            stop_grace=1.0,
            extra_args=fake_flags,
        )
        settings = dataclasses.replace(settings, **overrides)
        supervisor = LlamaServerSupervisor(settings)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        await supervisor.aclose()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(url)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_nothing_starts_before_first_use(make_supervisor: MakeSupervisor) -> None:
    supervisor = make_supervisor()
    assert supervisor.pid is None


async def test_endpoint_starts_server_and_waits_until_healthy(
    make_supervisor: MakeSupervisor,
) -> None:
    supervisor = make_supervisor("--fake-load-delay", "0.5")
    loop = asyncio.get_running_loop()
    started = loop.time()
    url = await supervisor.endpoint()
    assert loop.time() - started >= 0.5
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    assert (await get(f"{url}/models")).json()["data"][0]["id"] == "fake"
    assert supervisor.pid is not None


async def test_endpoint_is_started_once_for_concurrent_callers(
    make_supervisor: MakeSupervisor,
) -> None:
    supervisor = make_supervisor("--fake-load-delay", "0.3")
    urls = await asyncio.gather(*(supervisor.endpoint() for _ in range(5)))
    assert len(set(urls)) == 1


async def test_server_killed_is_restarted(make_supervisor: MakeSupervisor) -> None:
    supervisor = make_supervisor()
    await supervisor.endpoint()
    first = supervisor.pid
    assert first is not None

    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: supervisor.restarts == 1)
    url = await supervisor.endpoint()

    assert supervisor.pid not in (None, first)
    assert (await get(f"{url}/models")).status_code == 200


async def test_slots_cap_concurrent_requests(make_supervisor: MakeSupervisor) -> None:
    supervisor = make_supervisor(slots=2)

    async def request() -> None:
        async with supervisor.slot() as url, httpx.AsyncClient(trust_env=False) as client:
            (await client.get(f"{url}/slow")).raise_for_status()

    await asyncio.gather(*(request() for _ in range(6)))
    stats = (await get(f"{await supervisor.endpoint()}/stats")).json()
    assert stats["served"] == 6
    assert stats["max_in_flight"] == 2


async def test_aclose_stops_server_and_its_process_group(
    make_supervisor: MakeSupervisor, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    supervisor = make_supervisor("--fake-child-pidfile", str(pidfile))
    await supervisor.endpoint()
    server = supervisor.pid
    assert server is not None
    grandchild = int(pidfile.read_text())
    assert alive(grandchild)

    await supervisor.aclose()

    assert supervisor.pid is None
    assert not alive(server)
    await wait_for(lambda: not alive(grandchild))
    with pytest.raises(ServerFailed, match="closed"):
        await supervisor.endpoint()


async def test_server_ignoring_sigterm_is_killed_after_grace(
    make_supervisor: MakeSupervisor,
) -> None:
    supervisor = make_supervisor("--fake-ignore-term", stop_grace=0.3)
    await supervisor.endpoint()
    server = supervisor.pid
    assert server is not None
    loop = asyncio.get_running_loop()
    started = loop.time()

    await supervisor.aclose()

    assert loop.time() - started >= 0.3
    assert not alive(server)


async def test_server_that_never_starts_fails_with_its_output(
    make_supervisor: MakeSupervisor,
) -> None:
    supervisor = make_supervisor("--fake-exit-code", "3", max_start_failures=2)
    with pytest.raises(ServerFailed, match=r"(?s)gave up after 2 starts.*\(3\).*refusing to start"):
        await supervisor.endpoint()
    assert supervisor.pid is None


async def test_server_that_never_gets_healthy_times_out(
    make_supervisor: MakeSupervisor,
) -> None:
    supervisor = make_supervisor("--fake-load-delay", "60", start_timeout=0.3, max_start_failures=1)
    with pytest.raises(ServerFailed, match=r"not healthy after 0\.3s"):
        await supervisor.endpoint()
    assert supervisor.pid is None


async def test_missing_binary_is_reported_as_not_installed(tmp_path: Path) -> None:
    settings = ServerSettings(binary=tmp_path / "nope", model=tmp_path / "nope.gguf")
    async with LlamaServerSupervisor(settings) as supervisor:
        with pytest.raises(ModelNotInstalled, match="model install"):
            await supervisor.endpoint()


def test_argv_passes_llama_flags_and_scales_context_by_slots(tmp_path: Path) -> None:
    settings = ServerSettings(binary=tmp_path / "bin", model=tmp_path / "m.gguf", slots=2)
    argv = settings.argv(8080)
    assert argv[0] == str(tmp_path / "bin")
    assert "--jinja" in argv
    assert argv[argv.index("-c") + 1] == "16384"
    assert argv[argv.index("--port") + 1] == "8080"
    assert argv[argv.index("-n") + 1] == "1024"  # no endless generation
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("-m") + 1] == str(tmp_path / "m.gguf")


async def test_output_lines_survive_chunking_and_overlong_lines() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(b"first\nsec")
    stream.feed_data(b"ond\n" + b"x" * 200_000 + b"\nlast")
    stream.feed_eof()
    lines = [line async for line in iter_lines(stream)]
    assert lines[:2] == ["first", "second"]
    assert "".join(lines[2:-1]) == "x" * 200_000
    assert lines[-1] == "last"
