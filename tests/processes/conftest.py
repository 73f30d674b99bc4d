"""Every test here runs on the stdlib event loop and on uvloop, which spawn differently."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=["pidfd", "no-pidfd"])
def spawn_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The pidfd watcher, and the ``create_subprocess_exec`` fallback for systems without it."""
    if request.param == "no-pidfd":
        monkeypatch.delattr("os.pidfd_open")
    return request.param
