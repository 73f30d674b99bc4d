"""Runbooks in Kubernetes mode: the OperatorConfig arrives after start and the sync follows;
its state shows as the OperatorConfig's ``RunbooksSynced`` condition in ``kubectl get``."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from punching_fist.operator.runbooks_condition import runbooks_condition
from tests.harness.k8s import K8sApiServer
from tests.knowledge.git_repos import Remote
from tests.operator.support import (
    OperatorProcess,
    get_object,
    install_crds,
    new_namespace,
    wait_for,
)

RUNBOOK = "---\nalertnames: [KubePodCrashLooping]\n---\n# Crash loops\n"


def condition(server: K8sApiServer, namespace: str) -> dict[str, Any] | None:
    body = get_object(server, "operatorconfigs", "config", namespace)
    found = (body.get("status") or {}).get("conditions") or []
    return next((c for c in found if c["type"] == "RunbooksSynced"), None)


@pytest.mark.integration
def test_the_sync_follows_the_operator_config_and_reports_a_condition(
    k8s_apiserver: K8sApiServer, tmp_path: Path
) -> None:
    install_crds(k8s_apiserver)
    namespace = new_namespace(k8s_apiserver, "rb")
    remote = Remote(tmp_path / "remote")
    commit = remote.push({"crashloop.md": RUNBOOK})
    process = OperatorProcess(
        kubeconfig=k8s_apiserver.kubeconfig,
        namespace=namespace,
        database_url=f"sqlite:///{tmp_path / 'pf.db'}",
        workdir=tmp_path,
        extra_args=["--state-dir", str(tmp_path / "state")],
    )
    process.start()
    try:
        config = {
            "apiVersion": "punchingfist.io/v1alpha1",
            "kind": "OperatorConfig",
            "metadata": {"name": "config", "namespace": namespace},
            "spec": {"runbooks": {"repository": remote.url, "syncInterval": "2s"}},
        }
        k8s_apiserver.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(config))
        synced = wait_for(
            lambda: (c := condition(k8s_apiserver, namespace)) and c["status"] == "True" and c,
            what="RunbooksSynced True",
        )
        assert synced["reason"] == "Synced"
        assert synced["message"] == f"1 runbook(s) at {commit}"
        status = httpx.get(f"{process.url}/api/v1/runbooks", timeout=10).json()
        assert (status["commit"], status["error"]) == (commit, None)

        remote.bare.rename(remote.bare.with_name("gone.git"))
        failed = wait_for(
            lambda: (c := condition(k8s_apiserver, namespace)) and c["status"] == "False" and c,
            what="RunbooksSynced False",
        )
        assert failed["reason"] == "SyncFailed"
        assert failed["message"].startswith("git fetch failed: fatal:")
        assert failed["message"].endswith(f"(still serving commit {commit})")
    finally:
        code = process.stop()
        assert code in (0, -signal.SIGTERM), process.stderr()


class _Sync:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def status(self) -> dict[str, Any]:
        return self.state


def test_the_condition_keeps_its_transition_time_while_the_status_holds() -> None:
    state = {"configured": True, "lastAttempt": "t", "commit": "abc", "error": None}
    body = {
        "status": {
            "conditions": [
                {"type": "RunbooksSynced", "status": "True", "lastTransitionTime": "then"}
            ]
        }
    }
    kept = runbooks_condition(_Sync({**state, "runbooks": [{}], "problems": ["x"]}), body)
    assert kept is not None
    assert (kept.status, kept.last_transition_time) == ("True", "then")
    assert kept.message == "1 runbook(s) at abc; 1 skipped (GET /api/v1/runbooks)"
    failed = runbooks_condition(_Sync({**state, "error": "git fetch failed"}), body)
    assert failed is not None
    assert (failed.status, failed.reason) == ("False", "SyncFailed")
    assert failed.last_transition_time != "then"
    assert runbooks_condition(_Sync({"configured": False}), body) is None
    assert runbooks_condition(None, body) is None
