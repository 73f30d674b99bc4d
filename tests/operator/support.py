"""Helpers for the operator tests: CRDs, namespaces, examples and the controller process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.harness.k8s import K8sApiServer

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "charts" / "punching-fist" / "crds"
EXAMPLES = ROOT / "examples" / "design" / "resources"

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
    for path in sorted(EXAMPLES.glob("*.yaml")):
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
