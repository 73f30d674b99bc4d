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
        out = self.stdout_path.open("wb")
        err = (self.workdir / f"server-{self.generation}.err").open("wb")
        self.process = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--resources",
                str(self.resources),
                "--db",
                self.database_url,
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            stdout=out,
            stderr=err,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.stderr()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.stderr()[-4000:]}")

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
