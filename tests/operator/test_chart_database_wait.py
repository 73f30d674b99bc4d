"""The chart lets the operator wait for its database at start: the wait reaches the container
(``database.waitSeconds``), and the startup probe gives it that long before liveness counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.operator.test_chart import VARIANTS, helm, render

__all__ = ["helm"]  # the session fixture, used here by name


def operator_container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    workload = next(d for d in documents if d["kind"] in ("Deployment", "StatefulSet"))
    container: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "seconds", "threshold"),
    [
        ([], "300", 72),
        ([*VARIANTS["postgres-ha"], "--set", "database.waitSeconds=60"], "60", 24),
    ],
)
def test_the_startup_probe_allows_the_database_wait(
    helm: Path, args: list[str], seconds: str, threshold: int
) -> None:
    container = operator_container(render(helm, *args))

    wait = next(e for e in container["env"] if e["name"] == "PUNCHING_FIST_DB_WAIT_SECONDS")
    assert wait["value"] == seconds
    probe = container["startupProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    assert probe["periodSeconds"] * probe["failureThreshold"] == int(seconds) + 60
    assert probe["failureThreshold"] == threshold
