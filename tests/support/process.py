"""Running ``punching-fist serve`` as a real child process (for crash and failover tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import free_port

CLI = [sys.executable, "-m", "punching_fist.cli"]


def spawn_serving(
    argv: list[str],
    *,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    ready_url: str,
    timeout: float,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``punching-fist`` in its own process group and wait until ``ready_url`` is 200.

    Output goes to files so a test can read the stdout sink and the JSON logs afterwards; a
    process that dies or never gets ready raises with the tail of its log.
    """
    mode = "ab" if append else "wb"
    with stdout.open(mode) as out, stderr.open(mode) as err:
        process = subprocess.Popen(
            [*CLI, *argv], stdout=out, stderr=err, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited early:\n{_tail(stderr)}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{argv[0]} not ready in {timeout}s:\n{_tail(stderr)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@dataclass(kw_only=True)
class ServerProcess:
    resources: Path
    database_url: str
    workdir: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"server-{self.generation}.out"

    def start(self, timeout: float = 30.0) -> None:
        self.generation += 1
        self.process = spawn_serving(
            [
                "serve",
                "--resources",
                str(self.resources),
                "--db",
                self.database_url,
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            env={**os.environ, **self.env},
            stdout=self.stdout_path,
            stderr=self.workdir / f"server-{self.generation}.err",
            ready_url=f"{self.url}/readyz",
            timeout=timeout,
        )

    def stderr(self) -> str:
        """Everything the current server process logged (JSON lines)."""
        path = self.workdir / f"server-{self.generation}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown handlers run."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
