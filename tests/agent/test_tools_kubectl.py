"""The kubectl tool: policy verdicts at the tool boundary, and real runs of the kubectl binary.

Integration tests run the real kubectl against the real API server kit, with pods and events
created as data. Process-level behaviour (environment, time limit, output cap) uses stand-in
executables, because those properties belong to how we start kubectl, not to the cluster.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from punching_fist.agent.tools.kubectl import KubectlArguments, KubectlTool
from punching_fist.errors import CommandRejected
from punching_fist.kube.credentials import KubeCredentials, MissingCredentials
from punching_fist.secret_refs import SecretResolver
from tests.harness.k8s import K8sApiServer
from tests.support.tools_helpers import context, ends, read_pid, write_executable


def kubectl_tool(**kwargs: Any) -> KubectlTool:
    return KubectlTool(secrets=SecretResolver(), **kwargs)


def args(command: str) -> KubectlArguments:
    return KubectlArguments(command=command)


# --- verdicts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "verdict", "risk"),
    [
        ("get pods -n shop", "allow", "low"),
        ("kubectl describe pod web-0 -n shop", "allow", "low"),
        ("delete pod web-0 -n shop", "approval", "high"),
        ("kubectl -n shop delete pod web-0", "approval", "high"),
        ("drain node-1 --ignore-daemonsets", "approval", "high"),
        ("rollout restart deploy/web", "approval", "high"),
        ("exec -it web-0 -- sh", "approval", "high"),
        ("label pod web-0 tier=db", "approval", "medium"),
        ("get pods -f pods.yaml", "approval", "low"),  # a read, gated only for the file
        ("some-plugin do-things", "approval", "high"),
        ("get secret db -o yaml", "refuse", "high"),
        ("get pods --token=abc", "refuse", "high"),
        ("get pods | grep web", "refuse", "high"),
    ],
)
def test_check_maps_the_policy_to_verdict_and_risk(command: str, verdict: str, risk: str) -> None:
    check = kubectl_tool().check(args(command), context())
    assert (check.verdict, check.risk) == (verdict, risk)
    assert check.reason


def test_workflow_approval_list_applies_to_reads_too() -> None:
    ctx = context(require_approval_for=("describe",))
    assert kubectl_tool().check(args("describe pod web-0"), ctx).verdict == "approval"
    assert kubectl_tool().check(args("get pod web-0"), ctx).verdict == "allow"


async def test_refused_command_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    fake = write_executable(tmp_path, "kubectl", f"touch {marker}")
    tool = kubectl_tool(binary=str(fake), credentials=KubeCredentials(default=tmp_path / "kc"))
    with pytest.raises(CommandRejected, match="Secret values"):
        await tool.call(args("get secret db -o json"), context())
    with pytest.raises(CommandRejected, match="approval"):
        await tool.call(args("delete pod web-0"), context())
    assert not marker.exists()


# Write verbs, each with the words it needs, and the global flags models put before them.
WRITES = [
    "delete pod web-0", "delete ns prod", "scale deploy web --replicas=0",
    "patch deploy web -p {}", "apply -f x.yaml", "create ns x", "replace -f x.yaml",
    "edit deploy web", "label pod web-0 a=b", "annotate pod web-0 a=b",
    "set image deploy/web app=nginx", "cordon node-1", "uncordon node-1", "drain node-1",
    "taint node node-1 k=v:NoSchedule", "exec web-0 -- ls", "cp web-0:/etc/passwd x",
    "debug web-0 -it --image=busybox", "port-forward web-0 8080:80", "proxy",
    "rollout restart deploy/web", "rollout undo deploy/web", "expose deploy web --port=80",
    "autoscale deploy web --max=5", "run x --image=nginx", "attach web-0",
]  # fmt: skip
GLOBAL_FLAG_SPELLINGS = [
    "-n prod", "-nprod", "-n=prod", "--namespace prod", "--namespace=prod", "-v 4", "-v=4",
    "--request-timeout=5s", "--request-timeout 5s", "--match-server-version", "-A",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "kubectl ", "  kubectl  "]),
    flags=st.lists(st.sampled_from(GLOBAL_FLAG_SPELLINGS), max_size=3),
    write=st.sampled_from(WRITES),
    trailing=st.lists(
        st.sampled_from(["-o yaml", "--dry-run=client", "-w", "--", "-A"]), max_size=2
    ),
    workflow_list=st.sampled_from([(), ("delete",), ("get",)]),
)
def test_no_write_spelling_is_allowed_at_the_tool_boundary(
    prefix: str, flags: list[str], write: str, trailing: list[str], workflow_list: tuple[str, ...]
) -> None:
    command = " ".join([prefix + " ".join(flags), write, *trailing]).strip()
    ctx = context(require_approval_for=workflow_list)
    tool = kubectl_tool(credentials=KubeCredentials(default=Path("/nonexistent")))
    check = tool.check(args(command), ctx)
    assert check.verdict != "allow", command
    # ... and `call` without approval refuses before any process starts.
    with pytest.raises(CommandRejected):
        asyncio.run(tool.call(args(command), ctx))


# --- the process: environment, time limit, output ---------------------------------------------


async def test_kubectl_gets_only_a_controlled_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBE_EDITOR", "KUBECTL_EXTERNAL_DIFF", "AWS_SECRET_ACCESS_KEY", "KUBECONFIG"):
        monkeypatch.setenv(name, f"operator-{name}")
    fake = write_executable(tmp_path, "kubectl", 'env; echo "argv: $*"')
    kubeconfig = tmp_path / "default.kubeconfig"
    tool = kubectl_tool(
        binary=str(fake),
        credentials=KubeCredentials(default=kubeconfig),
        cache_dir=tmp_path / "cache",
    )
    output = await tool.call(args("kubectl -n shop get pods"), context())
    env = dict(
        line.split("=", 1) for line in output.text.splitlines() if "=" in line and " " not in line
    )
    env.pop("PWD", None)  # set by /bin/sh itself
    env.pop("SHLVL", None)
    env.pop("_", None)
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "KUBERC": "off",
        "KUBECACHEDIR": str(tmp_path / "cache"),
        "KUBECONFIG": str(kubeconfig),
    }
    assert "argv: -n shop get pods" in output.text
    assert output.exit_code == 0


async def test_time_limit_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    fake = write_executable(
        tmp_path, "kubectl", f"echo started; sleep 60 & echo $! > {pidfile}; wait"
    )
    tool = kubectl_tool(binary=str(fake), credentials=KubeCredentials(default=tmp_path / "kc"))
    started = time.monotonic()
    # Long enough for the script to start its background child even on a loaded machine.
    output = await tool.call(args("get pods"), context(timeout_seconds=2))
    assert time.monotonic() - started < 10
    assert output.exit_code is None
    assert "started" in output.text
    assert "killed after the 2s time limit" in output.text
    assert await ends(read_pid(pidfile))


async def test_huge_output_keeps_head_and_tail_within_the_limit(tmp_path: Path) -> None:
    fake = write_executable(
        tmp_path,
        "kubectl",
        "echo FIRST-LINE; i=0; while [ $i -lt 50000 ]; do echo filler-line-$i; i=$((i+1)); done;"
        " echo LAST-LINE; exit 3",
    )
    tool = kubectl_tool(binary=str(fake), credentials=KubeCredentials(default=tmp_path / "kc"))
    output = await tool.call(args("get pods -A"), context(output_limit=2000))
    assert len(output.text) <= 2000
    assert output.truncated
    assert output.text.startswith("FIRST-LINE")
    assert "LAST-LINE" in output.text
    assert "[exit code 3]" in output.text
    assert "cut from the middle" in output.text
    assert output.exit_code == 3


# --- against the real API server -----------------------------------------------------------------


@pytest.fixture
def shop(k8s_apiserver: K8sApiServer) -> Iterator[str]:
    """A namespace with two pods and a warning event, created as data."""
    namespace = f"shop-{uuid.uuid4().hex[:8]}"
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        *(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "shop/web:1.4"}]},
            }
            for name in ("web-0", "web-1")
        ),
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web-0.oom", "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": namespace},
            "reason": "OOMKilling",
            "message": "Memory cgroup out of memory: killed process 4242 (java)",
            "type": "Warning",
        },
    ]
    k8s_apiserver.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    yield namespace
    # The kit's Namespace stand-in cannot be deleted, so remove what it holds.
    k8s_apiserver.kubectl("delete", "pods,events", "--all", "-n", namespace)


def cluster_tool(k8s_apiserver: K8sApiServer) -> KubectlTool:
    return kubectl_tool(credentials=KubeCredentials(default=k8s_apiserver.kubeconfig))


@pytest.mark.integration
async def test_get_and_describe_read_the_cluster(k8s_apiserver: K8sApiServer, shop: str) -> None:
    tool = cluster_tool(k8s_apiserver)
    listing = await tool.call(args(f"kubectl get pods -n {shop}"), context())
    assert listing.exit_code == 0
    assert "web-0" in listing.text
    assert "web-1" in listing.text
    described = await tool.call(args(f"describe pod web-0 -n {shop}"), context())
    assert described.exit_code == 0
    assert "shop/web:1.4" in described.text
    events = await tool.call(args(f"get events -n {shop} -o wide"), context())
    assert "OOMKilling" in events.text


@pytest.mark.integration
async def test_kubectl_errors_reach_the_model(k8s_apiserver: K8sApiServer, shop: str) -> None:
    output = await cluster_tool(k8s_apiserver).call(args(f"get pod nope -n {shop}"), context())
    assert output.exit_code == 1
    assert "NotFound" in output.text or "not found" in output.text
    assert output.text.endswith("[exit code 1]")


@pytest.mark.integration
async def test_delete_waits_for_approval_and_runs_once_approved(
    k8s_apiserver: K8sApiServer, shop: str
) -> None:
    tool = cluster_tool(k8s_apiserver)
    delete = args(f"delete pod web-0 -n {shop}")
    assert tool.check(delete, context()).verdict == "approval"
    with pytest.raises(CommandRejected):
        await tool.call(delete, context())
    assert "web-0" in k8s_apiserver.kubectl("get", "pods", "-n", shop, "-o", "name")

    output = await tool.call(delete, context(approved=True))
    assert output.exit_code == 0, output.text
    names = json.loads(k8s_apiserver.kubectl("get", "pods", "-n", shop, "-o", "json"))["items"]
    assert [item["metadata"]["name"] for item in names] == ["web-1"]


@pytest.mark.integration
async def test_step_service_account_selects_its_kubeconfig(
    k8s_apiserver: K8sApiServer, shop: str, tmp_path: Path
) -> None:
    """Each service account's kubeconfig decides what kubectl sees (here: its namespace)."""
    config = yaml.safe_load(k8s_apiserver.kubeconfig.read_text())
    for context_entry in config["contexts"]:
        context_entry["context"]["namespace"] = shop
    (tmp_path / "investigator.kubeconfig").write_text(yaml.safe_dump(config))
    tool = kubectl_tool(credentials=KubeCredentials(directory=tmp_path))

    output = await tool.call(args("get pods"), context(service_account="investigator"))
    assert "web-0" in output.text, output.text
    with pytest.raises(MissingCredentials):
        await tool.call(args("get pods"), context(service_account="remediator"))
