"""Running a real Punching Fist server in the test's event loop, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from punching_fist.agent.base import AgentRunner
from punching_fist.cli import load_resources
from punching_fist.config import Settings
from punching_fist.local_model.bundled import BundledLocalModel
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet, build_resource_set, parse_yaml
from punching_fist.secret_refs import SecretResolver
from punching_fist.server.service import Service
from punching_fist.sinks.registry import SinkDependencies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resources_from_yaml(text: str) -> ResourceSet:
    return build_resource_set(parse_yaml(text, origin="test.yaml"))


@dataclass(kw_only=True)
class RunningServer:
    url: str
    service: Service
    stdout: io.StringIO
    client: httpx.AsyncClient

    async def post_alert(self, path: str, payload: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, json=payload, **kwargs)

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until every queued run finished."""
        await asyncio.wait_for(self.service.dispatcher.wait_idle(), timeout)

    def sink_output(self) -> str:
        return self.stdout.getvalue()


@asynccontextmanager
async def running_server(
    resources: ResourceSet | Path,
    database_url: str,
    *,
    agent: AgentRunner | None = None,
    secrets: SecretResolver | None = None,
    local_model: BundledLocalModel | None = None,
    headers: dict[str, str] | None = None,
    configure: Callable[[Service], None] | None = None,
    tracing: Tracing | None = None,
    **settings: Any,
) -> AsyncIterator[RunningServer]:
    """``headers``: sent with every request of ``client`` (an API token, say); ``configure``:
    called with the service before it starts (as ``serve --kubernetes`` adds its parts);
    ``tracing``: where the service's spans go."""
    if isinstance(resources, Path):
        resources = load_resources(resources)
    port = free_port()
    stdout = io.StringIO()
    service = Service.build(
        Settings(
            database_url=database_url, port=port, base_env={"PATH": "/usr/bin:/bin"}, **settings
        ),
        resources,
        sink_dependencies=SinkDependencies(stdout=stdout),
        agent=agent,
        secrets=secrets,
        local_model=local_model,
        tracing=tracing,
    )
    if configure is not None:
        configure(service)
    config = uvicorn.Config(
        service.asgi_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
            yield RunningServer(url=url, service=service, stdout=stdout, client=client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
