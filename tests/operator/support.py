"""Helpers for the operator tests: CRDs, namespaces, examples and the controller process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.harness.k8s import K8sApiServer
from tests.support.process import spawn_serving
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "charts" / "punching-fist" / "crds"
EXAMPLES = ROOT / "examples" / "design" / "resources"
EXCERPTS = ROOT / "examples" / "design" / "excerpts"
EXAMPLE_FILES = sorted([*EXAMPLES.glob("*.yaml"), *EXCERPTS.glob("*.yaml.example")])
"""The design's resources: the whole ones and the excerpts (unnamed ones get a name)."""

T = TypeVar("T")


def install_crds(server: K8sApiServer) -> None:
    """Apply the chart's CRDs (idempotent) and wait until they are served."""
    server.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    server.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/sources.punchingfist.io",
        "crd/workflows.punchingfist.io",
        "crd/sinks.punchingfist.io",
        "crd/operatorconfigs.punchingfist.io",
        "crd/kopfpeerings.kopf.dev",
        "crd/clusterkopfpeerings.kopf.dev",
    )


def new_namespace(server: K8sApiServer, prefix: str) -> str:
    """A fresh namespace per test: the API server is shared by the whole session."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    return name


def apply_examples(server: K8sApiServer, namespace: str) -> list[dict[str, Any]]:
    """Apply every design example (unnamed ones get a name); the documents as applied."""
    applied: list[dict[str, Any]] = []
    for path in EXAMPLE_FILES:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        for index, document in enumerate(documents):
            metadata = document.setdefault("metadata", {})
            metadata.setdefault("name", f"{path.stem}-{index}".lower())
            metadata["namespace"] = namespace
        server.kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump_all(documents))
        applied.extend(documents)
    return applied


def wait_for(predicate: Callable[[], T | None], timeout: float = 60.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (RuntimeError, ValueError, KeyError) as exc:
            last = exc
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"not reached in {timeout}s: {what} (last error: {last})")


@dataclass(kw_only=True)
class OperatorProcess:
    """``punching-fist serve --kubernetes`` as a real child process (own session, own port)."""

    kubeconfig: Path
    namespace: str
    database_url: str
    workdir: Path
    name: str = "operator"
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.process = spawn_serving(
            [
                "serve",
                "--kubernetes",
                "--namespace",
                self.namespace,
                "--db",
                self.database_url,
                "--port",
                str(self.port),
                "--status-interval",
                "1",
                "--peering-lifetime",
                "6",
                *self.extra_args,
            ],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            stdout=self.workdir / f"{self.name}.out",
            stderr=self.workdir / f"{self.name}.err",
            ready_url=f"{self.url}/readyz",
            timeout=timeout,
            append=True,
        )

    def stderr(self) -> str:
        path = self.workdir / f"{self.name}.err"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def logs(self) -> str:
        """Everything the process logged (structured logs go to stderr)."""
        path = self.workdir / f"{self.name}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout(self) -> str:
        """What the process printed: the stdout sink's messages."""
        path = self.workdir / f"{self.name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group, as a node failure would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed).

        After a graceful shutdown uvicorn re-raises the signal, so a clean stop is -SIGTERM.
        """
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def events_for(server: K8sApiServer, namespace: str, name: str) -> list[dict[str, Any]]:
    """Kubernetes Events in ``namespace`` about the object called ``name``."""
    listed = json.loads(server.kubectl("get", "events", "-n", namespace, "-o", "json"))
    return [e for e in listed["items"] if e.get("involvedObject", {}).get("name") == name]


def get_object(server: K8sApiServer, plural: str, name: str, namespace: str) -> dict[str, Any]:
    out = server.kubectl("get", f"{plural}.punchingfist.io", name, "-n", namespace, "-o", "json")
    loaded: dict[str, Any] = json.loads(out)
    return loaded
