"""Small helpers for the agent tool tests: contexts, stand-in executables."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from punching_fist.agent.tools.base import ToolContext


def context(**overrides: Any) -> ToolContext:
    """A ``ToolContext`` for a test step, with a short time limit unless overridden."""
    values: dict[str, Any] = {
        "run_id": uuid.UUID(int=1),
        "step_name": "investigate",
        "timeout_seconds": 30.0,
    }
    values.update(overrides)
    return ToolContext(**values)


def write_executable(directory: Path, name: str, body: str) -> Path:
    """Write an executable ``/bin/sh`` script (``body`` after the shebang) and return its path."""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def ends(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` is gone within ``within`` seconds. A process group's SIGKILL is
    delivered when each member next runs: on a busy machine a grandchild still shows as
    sleeping just after ``killpg`` returns, so the tests poll rather than look once."""
    for _ in range(int(within / 0.02)):
        if not process_alive(pid):
            return True
        await asyncio.sleep(0.02)
    return not process_alive(pid)


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())
