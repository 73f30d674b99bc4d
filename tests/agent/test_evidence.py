"""Evidence first: the target an alert names, the kubectl reads planned for it, running them
concurrently within a budget, and the compact block the model reads first.

Concurrency and the budget are asserted with events, never with sleeps: a command that
never finishes is the budget's test, and commands that wait for each other to start are the
concurrency test (run one after another, they would never finish).
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from punching_fist.agent.evidence import Evidence, Observation, gather
from punching_fist.agent.evidence_check import evidence_problems
from punching_fist.agent.evidence_plan import (
    Plan,
    Target,
    custom_plan,
    detect_target,
    is_kubernetes_name,
    plan_evidence,
    plan_for,
)
from punching_fist.agent.evidence_text import quiet, quiet_events
from punching_fist.agent.tools.kubectl import KubectlArguments, KubectlTool
from punching_fist.agent.tools.kubectl_policy import classify_kubectl
from punching_fist.errors import CommandRejected, ResourceValidationError
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.resources.loader import parse_yaml
from punching_fist.resources.workflow import AgentStep, Workflow
from punching_fist.secret_refs import SecretResolver
from tests.agent.kit import kubectl_stand_in
from tests.support.tools_helpers import context

POD = "checkout-7d9f8b6c5-x2x4q"

# Recorded from `kubectl get pods -n shop -o wide` (kubectl 1.31).
PODS_WIDE = """\
NAME                        READY   STATUS             RESTARTS      AGE    IP            NODE       NOMINATED NODE   READINESS GATES
checkout-7d9f8b6c5-k8s2p    1/1     Running            0             41d    10.244.1.17   worker-1   <none>           <none>
checkout-7d9f8b6c5-m9zq1    0/1     Running            0             3m     10.244.2.40   worker-2   <none>           <none>
checkout-7d9f8b6c5-p3n7w    1/1     Running            3 (5m ago)    2d     10.244.3.9    worker-3   <none>           <none>
checkout-7d9f8b6c5-x2x4q    0/1     CrashLoopBackOff   5 (42s ago)   11m    10.244.2.31   worker-2   <none>           <none>
frontend-5c8d7f9b4-2lq7w    0/1     Error              1             3d2h   10.244.1.22   worker-1   <none>           <none>
redis-0                     1/1     Running            0             12d    10.244.3.4    worker-3   <none>           <none>
"""

STATEFUL_PODS = """\
NAME       READY   STATUS      RESTARTS   AGE   IP            NODE       NOMINATED NODE   READINESS GATES
web-0      1/1     Running     0          12d   10.244.3.4    worker-3   <none>           <none>
web-1      0/1     Pending     0          2m    <none>        <none>     <none>           <none>
web-2      1/1     Running     0          12d   10.244.1.5    worker-1   <none>           <none>
webhook-0  0/1     Error       2          1d    10.244.1.6    worker-1   <none>           <none>
"""

JOB_PODS = """\
NAME                    READY   STATUS      RESTARTS   AGE
backup-28930120-4xk2d   0/1     Completed   0          9m
backup-28930120-b7tqp   0/1     Error       0          7m
backup-28930120-zz9mn   0/1     Error       0          5m
"""

DESCRIBE_SERVICE = """\
Name:                     checkout
Namespace:                shop
Labels:                   app=checkout
Annotations:              <none>
Selector:                 app=checkout,tier=web
Type:                     ClusterIP
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.96.41.7
IPs:                      10.96.41.7
Port:                     http  80/TCP
TargetPort:               8080/TCP
Endpoints:
Session Affinity:         None
Internal Traffic Policy:  Cluster
Events:                   <none>
"""

DESCRIBE_POD = (
    Path(__file__).parents[2] / "examples/quickstart/recorded/describe-pod.txt"
).read_text()

Run = Callable[[str], Awaitable[str]]


def answering(answers: Mapping[str, str], calls: list[str] | None = None) -> Run:
    """A ``run`` that answers from a table, as the kubectl tool would (NotFound otherwise)."""

    async def run(command: str) -> str:
        if calls is not None:
            calls.append(command)
        if command in answers:
            return answers[command]
        return 'Error from server (NotFound): pods "x" not found\n[exit code 1]'

    return run


# --- the target -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (  # KubePodCrashLooping via kube-state-metrics: the pod wins over service and node
            {"namespace": "shop", "pod": POD, "container": "checkout", "service": "ksm",
             "node": "worker-2", "job": "kube-state-metrics"},
            Target(kind="pod", name=POD, namespace="shop", container="checkout"),
        ),
        (  # KubeJobFailed; Prometheus' own `job` label is the scrape job, not a Job
            {"namespace": "ops", "job_name": "backup-28930120", "job": "kube-state-metrics",
             "service": "ksm"},
            Target(kind="job", name="backup-28930120", namespace="ops"),
        ),
        (
            {"namespace": "shop", "deployment": "checkout", "service": "ksm"},
            Target(kind="deployment", name="checkout", namespace="shop"),
        ),
        (
            {"namespace": "db", "statefulset": "postgres", "node": "worker-1"},
            Target(kind="statefulset", name="postgres", namespace="db"),
        ),
        (
            {"namespace": "kube-system", "daemonset": "kube-proxy"},
            Target(kind="daemonset", name="kube-proxy", namespace="kube-system"),
        ),
        (  # KubePersistentVolumeFillingUp
            {"namespace": "db", "persistentvolumeclaim": "data-postgres-0", "service": "kubelet",
             "node": "worker-1"},
            Target(kind="pvc", name="data-postgres-0", namespace="db"),
        ),
        (
            {"namespace": "shop", "service": "checkout", "node": "worker-2"},
            Target(kind="service", name="checkout", namespace="shop"),
        ),
        ({"node": "worker-2.eu-west-1.compute.internal"},
         Target(kind="node", name="worker-2.eu-west-1.compute.internal")),
        # a namespaced object without a namespace cannot be read; the node still can
        ({"pod": POD, "node": "worker-2"}, Target(kind="node", name="worker-2")),
        ({"alertname": "Watchdog", "severity": "none"}, None),
        ({"namespace": "shop"}, None),
    ],
)  # fmt: skip
def test_the_most_specific_labelled_object_is_the_target(
    labels: dict[str, str], expected: Target | None
) -> None:
    assert detect_target(labels) == expected


@pytest.mark.parametrize(
    ("labels", "target"),
    [
        (
            {"instance": "http://cart.shop.svc.cluster.local:8080/healthz", "job": "blackbox"},
            Target(kind="service", name="cart", namespace="shop"),
        ),
        ({"instance": "cart.shop.svc:8080"}, Target(kind="service", name="cart", namespace="shop")),
        # The probe's target beats the `service` label (often the exporter's own Service).
        (
            {
                "instance": "https://api.pay.svc/",
                "service": "blackbox-exporter",
                "namespace": "mon",
            },
            Target(kind="service", name="api", namespace="pay"),
        ),
        ({"instance": "10.0.0.1:9100", "namespace": "x"}, None),
        ({"instance": "http://example.com/health"}, None),
        (
            {"instance": "http://cart.shop.svc:8080/", "pod": "cart-1", "namespace": "shop"},
            Target(kind="pod", name="cart-1", namespace="shop"),
        ),
    ],
)
def test_a_probe_of_a_service_s_cluster_name_targets_that_service(
    labels: dict[str, str], target: Target | None
) -> None:
    assert detect_target(labels) == target


@pytest.mark.parametrize(
    "value",
    [
        "", "Checkout", "-n", "--all-namespaces", "a b", "web;rm -rf /", "web|x", "web$(id)",
        "web\n", "../etc", "web_1", "-web", "web-", "x" * 254, "é",
    ],
)  # fmt: skip
def test_label_values_that_are_not_kubernetes_names_are_ignored(value: str) -> None:
    labels = {"namespace": "shop", "pod": value, "service": "checkout"}
    assert detect_target(labels) == Target(kind="service", name="checkout", namespace="shop")
    assert detect_target({"namespace": value, "pod": POD}) is None


def test_odd_values_of_other_labels_are_ignored_too() -> None:
    labels: dict[str, object] = {"namespace": "shop", "pod": POD, "container": "--previous"}
    assert detect_target(labels) == Target(kind="pod", name=POD, namespace="shop")
    assert detect_target({"namespace": "shop", "pod": 7}) is None
    # services are DNS labels: no dots
    assert detect_target({"namespace": "shop", "service": "checkout.shop"}) is None


def test_a_target_is_valid_by_construction() -> None:
    with pytest.raises(ValueError, match="not a valid pod name"):
        Target(kind="pod", name="--all", namespace="shop")
    with pytest.raises(ValueError, match="needs a namespace"):
        Target(kind="pod", name=POD)
    with pytest.raises(ValueError, match="has no namespace"):
        Target(kind="node", name="worker-1", namespace="shop")
    with pytest.raises(ValueError, match="valid Kubernetes name"):
        Target(kind="pod", name=POD, namespace="Shop")


names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
label_values = st.one_of(names, st.text(max_size=30))
label_keys = st.sampled_from(
    ["namespace", "pod", "container", "deployment", "statefulset", "daemonset", "job_name",
     "node", "service", "persistentvolumeclaim", "job", "instance"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(label_keys, label_values))
def test_any_labels_plan_only_plain_read_only_commands(labels: dict[str, str]) -> None:
    plan = plan_for(detect_target(labels))
    for command in plan.commands:
        assert shlex.split(command) == command.split()  # nothing a shell or shlex would read
        assert classify_kubectl(command).kind == "allow", command
        for word in command.split():
            assert word.startswith("-") is (word in _FLAGS), command


_FLAGS = {"-n", "-o", "-l", "-A", "--previous", "--all-containers=true", "--tail=40",
          "--field-selector"}  # fmt: skip


@given(st.text(max_size=80))
def test_names_are_dns_1123(value: str) -> None:
    if is_kubernetes_name(value):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value)
        assert ".." not in value
        assert "-." not in value
        assert ".-" not in value


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "commands"),
    [
        (Target(kind="pod", name="web-0", namespace="shop"), [
            "describe pod web-0 -n shop",
            "logs web-0 -n shop --all-containers=true --tail=40",
            "logs web-0 -n shop --previous --all-containers=true --tail=40",
            "get events -n shop --field-selector involvedObject.name=web-0",
        ]),
        (Target(kind="deployment", name="checkout", namespace="shop"), [
            "get deployment checkout -n shop -o wide", "get pods -n shop -o wide",
            "get events -n shop",
        ]),
        (Target(kind="statefulset", name="web", namespace="shop"), [
            "get statefulset web -n shop -o wide", "get pods -n shop -o wide",
            "get events -n shop",
        ]),
        (Target(kind="daemonset", name="kube-proxy", namespace="kube-system"), [
            "get daemonset kube-proxy -n kube-system -o wide",
            "get pods -n kube-system -o wide", "get events -n kube-system",
        ]),
        (Target(kind="job", name="backup-28930120", namespace="ops"), [
            "describe job backup-28930120 -n ops",
            "get pods -n ops -l job-name=backup-28930120",
        ]),
        (Target(kind="node", name="worker-2"), [
            "describe node worker-2", "get events -A --field-selector involvedObject.name=worker-2",
        ]),
        (Target(kind="service", name="checkout", namespace="shop"), [
            "describe service checkout -n shop", "get endpoints checkout -n shop",
        ]),
        (Target(kind="pvc", name="data-postgres-0", namespace="db"), [
            "describe pvc data-postgres-0 -n db", "get storageclass",
        ]),
        (None, []),
    ],
)  # fmt: skip
def test_each_kind_has_its_canonical_reads(target: Target | None, commands: list[str]) -> None:
    assert list(plan_for(target).commands) == commands


def test_the_workflow_setting_chooses_the_plan() -> None:
    labels = {"namespace": "shop", "pod": "web-0"}
    assert plan_evidence("auto", labels) == plan_for(detect_target(labels))
    assert plan_evidence("off", labels) == Plan()
    custom = plan_evidence(["kubectl get pods -n shop", "top pod -n shop", "get pods -n shop"], {})
    assert custom == Plan(commands=("get pods -n shop", "top pod -n shop"))
    assert custom.follow_up({"get pods -n shop": PODS_WIDE}) == ()


def test_a_workload_follows_up_on_at_most_two_of_its_failing_pods() -> None:
    plan = plan_for(Target(kind="deployment", name="checkout", namespace="shop"))
    # k8s2p is healthy; m9zq1 is not ready, p3n7w restarted, x2x4q crash loops;
    # frontend is failing but not this deployment's
    assert plan.follow_up({"get pods -n shop -o wide": PODS_WIDE}) == (
        "describe pod checkout-7d9f8b6c5-m9zq1 -n shop",
        "logs checkout-7d9f8b6c5-m9zq1 -n shop --all-containers=true --tail=40",
        "logs checkout-7d9f8b6c5-m9zq1 -n shop --previous --all-containers=true --tail=40",
        "describe pod checkout-7d9f8b6c5-p3n7w -n shop",
        "logs checkout-7d9f8b6c5-p3n7w -n shop --all-containers=true --tail=40",
        "logs checkout-7d9f8b6c5-p3n7w -n shop --previous --all-containers=true --tail=40",
    )


def test_a_statefulset_follows_up_on_its_own_pods_only() -> None:
    plan = plan_for(Target(kind="statefulset", name="web", namespace="shop"))
    follow_up = plan.follow_up({"get pods -n shop -o wide": STATEFUL_PODS})
    assert [c for c in follow_up if c.startswith("describe")] == ["describe pod web-1 -n shop"]


def test_healthy_or_unreadable_workloads_need_no_follow_up() -> None:
    plan = plan_for(Target(kind="daemonset", name="redis", namespace="shop"))
    assert plan.follow_up({"get pods -n shop -o wide": PODS_WIDE}) == ()
    assert plan.follow_up({}) == ()  # `get pods` failed: its output is not offered
    odd = "NAME  READY  STATUS  RESTARTS\nredis-0;id  0/1  Error  0\n"
    assert plan.follow_up({"get pods -n shop -o wide": odd}) == ()


def test_a_job_follows_up_with_logs_of_its_failed_pods_first() -> None:
    plan = plan_for(Target(kind="job", name="backup-28930120", namespace="ops"))
    assert plan.follow_up({"get pods -n ops -l job-name=backup-28930120": JOB_PODS}) == (
        "logs backup-28930120-b7tqp -n ops --all-containers=true --tail=40",
        "logs backup-28930120-zz9mn -n ops --all-containers=true --tail=40",
    )


def test_a_service_follows_up_with_the_pods_of_its_selector() -> None:
    plan = plan_for(Target(kind="service", name="checkout", namespace="shop"))
    describe = "describe service checkout -n shop"
    assert plan.follow_up({describe: DESCRIBE_SERVICE}) == (
        "get pods -n shop -l app=checkout,tier=web",
    )
    no_selector = DESCRIBE_SERVICE.replace("app=checkout,tier=web", "<none>")
    assert plan.follow_up({describe: no_selector}) == ()
    odd = DESCRIBE_SERVICE.replace("app=checkout,tier=web", "app=x,--all-namespaces")
    assert plan.follow_up({describe: odd}) == ()


def test_a_service_then_describes_one_selected_pod_for_its_ports() -> None:
    plan = plan_for(Target(kind="service", name="checkout", namespace="shop"))
    describe, selected = (
        "describe service checkout -n shop",
        "get pods -n shop -l app=checkout,tier=web",
    )
    outputs = {describe: DESCRIBE_SERVICE, selected: PODS_WIDE}
    assert plan.follow_up(outputs) == (
        selected,
        "describe pod checkout-7d9f8b6c5-k8s2p -n shop",
        "logs checkout-7d9f8b6c5-k8s2p -n shop --all-containers=true --tail=40",
    )
    outputs[selected] = "No resources found in shop namespace."
    assert plan.follow_up(outputs) == (selected,)


async def test_follow_ups_run_phase_by_phase_each_command_once() -> None:
    plan = plan_for(Target(kind="service", name="checkout", namespace="shop"))
    answers = {
        "describe service checkout -n shop": DESCRIBE_SERVICE,
        "get pods -n shop -l app=checkout,tier=web": PODS_WIDE,
    }
    ran: list[str] = []

    async def run(command: str) -> str:
        ran.append(command)
        return answers.get(command, "ok")

    evidence = await gather(plan, run, budget_seconds=10)
    assert ran[2:] == [
        "get pods -n shop -l app=checkout,tier=web",
        "describe pod checkout-7d9f8b6c5-k8s2p -n shop",
        "logs checkout-7d9f8b6c5-k8s2p -n shop --all-containers=true --tail=40",
    ]
    assert len(ran) == len(set(ran)) == len(evidence.observations) == 5


# --- gathering ------------------------------------------------------------------------------


async def test_commands_of_a_phase_run_concurrently_and_phase_two_after_phase_one() -> None:
    plan = plan_for(Target(kind="deployment", name="checkout", namespace="shop"))
    started: list[str] = []
    all_started = asyncio.Event()
    phase_one_done = 0

    async def run(command: str) -> str:
        nonlocal phase_one_done
        started.append(command)
        if command in plan.commands:
            if len(started) == len(plan.commands):
                all_started.set()
            await all_started.wait()  # one after another, this would never return
            phase_one_done += 1
            return PODS_WIDE if command == "get pods -n shop -o wide" else "ok"
        assert phase_one_done == len(plan.commands)
        return "ok"

    evidence = await gather(plan, run, budget_seconds=10)
    assert [o.status for o in evidence.observations] == ["ok"] * 9
    assert [o.command for o in evidence.observations][:3] == list(plan.commands)
    assert len(started) == 9


async def test_a_hanging_command_is_cancelled_at_the_deadline() -> None:
    plan = plan_for(Target(kind="deployment", name="checkout", namespace="shop"))
    never = asyncio.Event()
    cancelled: list[str] = []
    calls: list[str] = []

    async def run(command: str) -> str:
        calls.append(command)
        if command == "get events -n shop":
            try:
                await never.wait()
            except asyncio.CancelledError:
                cancelled.append(command)
                raise
        return PODS_WIDE

    evidence = await gather(plan, run, budget_seconds=0.05)
    statuses = {o.command: o.status for o in evidence.observations}
    assert statuses["get events -n shop"] == "timed out"
    assert statuses["get pods -n shop -o wide"] == "ok"
    assert cancelled == ["get events -n shop"]
    # the deadline ended phase one, so the failing pods' reads were planned but never run
    skipped = [o.command for o in evidence.observations if o.status == "skipped"]
    assert skipped[0] == "describe pod checkout-7d9f8b6c5-m9zq1 -n shop"
    assert len(skipped) == 6
    assert not set(skipped) & set(calls)
    assert "timed out" in evidence.render()


async def test_no_budget_runs_nothing() -> None:
    calls: list[str] = []
    plan = plan_for(Target(kind="node", name="worker-1"))
    evidence = await gather(plan, answering({}, calls), budget_seconds=0)
    assert calls == []
    assert [o.status for o in evidence.observations] == ["skipped", "skipped"]


async def test_cancelling_the_gathering_cancels_its_commands() -> None:
    started, never = asyncio.Event(), asyncio.Event()
    cancelled: list[str] = []

    async def run(command: str) -> str:
        started.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(command)
            raise
        return ""

    task = asyncio.create_task(gather(custom_plan(["get pods"]), run, budget_seconds=60))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["get pods"]


async def test_refused_commands_are_recorded_and_bugs_propagate() -> None:
    async def refusing(command: str) -> str:
        raise CommandRejected("`get` needs a person's approval: the workflow requires it")

    evidence = await gather(custom_plan(["get pods -n shop"]), refusing)
    (observation,) = evidence.observations
    assert observation.status == "error"
    assert observation.output.startswith("[not run: `get` needs a person's approval")

    async def broken(command: str) -> str:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        await gather(custom_plan(["get pods -n shop"]), broken)


async def test_failed_commands_are_one_line() -> None:
    answers = {
        "describe pod web-0 -n shop": 'Error from server (NotFound): pods "web-0" not found\n'
        "more detail\n[exit code 1]",
        "logs web-0 -n shop --all-containers=true --tail=40": "\x1b[31mError from server "
        '(BadRequest): container "app" in pod "web-0" is waiting to start\x1b[0m\n'
        "[exit code 1]",
    }
    plan = plan_for(Target(kind="pod", name="web-0", namespace="shop"))
    evidence = await gather(plan, answering(answers))
    first, second = evidence.observations[:2]
    assert (first.status, first.output) == (
        "failed",
        'Error from server (NotFound): pods "web-0" not found [exit code 1]',
    )
    assert second.output == (
        'Error from server (BadRequest): container "app" in pod "web-0" is waiting to start'
        " [exit code 1]"
    )


async def test_logs_printed_before_kubectl_fails_on_another_container_are_kept() -> None:
    """``--all-containers`` prints a crash-looping init container's log, then fails on the
    app container that has not started: the log is the evidence, the error a note."""
    printed = (
        "waiting for postgres.db.svc.cluster.local:5432\n"
        'psql: error: connection to server at "postgres.db.svc.cluster.local" (10.96.7.12),'
        ' port 5432 failed: FATAL:  password authentication failed for user "orders"\n'
        'Error from server (BadRequest): container "api" in pod "api-0" is waiting to start:'
        " PodInitializing\n[exit code 1]"
    )
    command = "logs api-0 -n shop --all-containers=true --tail=40"
    evidence = await gather(custom_plan([command]), answering({command: printed}))
    (observation,) = evidence.observations
    assert observation.status == "failed"
    assert observation.output.splitlines() == [
        "waiting for postgres.db.svc.cluster.local:5432",
        'psql: error: connection to server at "postgres.db.svc.cluster.local" (10.96.7.12),'
        ' port 5432 failed: FATAL:  password authentication failed for user "orders"',
        "(no logs: the container has not started; it is waiting: PodInitializing)",
    ]


async def test_a_log_that_starts_like_an_error_is_still_a_log() -> None:
    log = "error: config key 'port' missing\nusing default 8080\n"
    evidence = await gather(custom_plan(["logs web-0"]), answering({"logs web-0": log}))
    (observation,) = evidence.observations
    assert observation.status == "ok"
    assert observation.output == log.rstrip("\n")


async def test_gathering_through_the_real_kubectl_tool(tmp_path: Path) -> None:
    stand_in = kubectl_stand_in(
        tmp_path,
        [
            ("describe pod " + POD, DESCRIBE_POD, 0),
            ("--previous", "java.lang.OutOfMemoryError: Java heap space\n", 0),
            ("logs " + POD, "Warming cart cache\n", 0),
            ("get events", "Error from server (Forbidden): events is forbidden\n", 1),
        ],
    )
    tool = KubectlTool(
        secrets=SecretResolver(), credentials=KubeCredentials(), path=stand_in.bin_dir
    )
    ctx = context(kubeconfig=stand_in.kubeconfig)

    async def run(command: str) -> str:
        return (await tool.call(KubectlArguments(command=command), ctx)).text

    labels = {"namespace": "shop", "pod": POD, "service": "checkout"}
    evidence = await gather(plan_evidence("auto", labels), run)
    assert [o.status for o in evidence.observations] == ["ok", "ok", "ok", "failed"]
    text = evidence.render()
    assert "Exit Code:    137" in text
    assert "OutOfMemoryError" in text
    assert text.endswith("Error from server (Forbidden): events is forbidden [exit code 1]")
    assert len(stand_in.invocations()) == 4


# --- rendering ------------------------------------------------------------------------------


def observed(command: str, output: str) -> Observation:
    return Observation(command=command, output=output)


def test_render_does_not_repeat_what_an_earlier_output_shows() -> None:
    logs = "starting\nfatal: cannot open /etc/app.yaml"
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n"
        "17s         Warning   BackOff   pod/app-1   Back-off restarting failed container app\n"
        "2m          Warning   Unhealthy pod/app-1   Readiness probe failed: HTTP 503"
    )
    evidence = Evidence(
        observations=(
            observed(
                "describe pod app-1 -n shop",
                "Events:\n  Warning  BackOff  17s (x3 over 1m)  kubelet  Back-off restarting"
                " failed container app",
            ),
            observed("logs app-1 -n shop --tail=40", logs),
            observed("logs app-1 -n shop --previous --tail=40", logs),
            observed("get events -n shop", events),
        )
    )
    text = evidence.render()
    assert text.count("fatal: cannot open") == 1
    assert "(the same lines as the current logs above)" in text
    assert text.count("Back-off restarting") == 1
    assert "Readiness probe failed: HTTP 503" in text
    only_shown = Evidence(
        observations=(*evidence.observations[:1], observed("get events", events.rsplit("\n", 1)[0]))
    )
    assert "(no events beyond those shown above)" in only_shown.render()


def test_events_keep_warnings_and_trouble_but_only_the_last_routine_rows() -> None:
    header = "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE"
    routine = [
        f"{i}m   Normal    Pulled    pod/web-{i}   Successfully pulled image" for i in range(9)
    ]
    telling = [
        "3m   Normal    Killing   pod/web-1   Container web failed liveness probe, will be restarted",
        "2m   Warning   BackOff   pod/web-1   Back-off restarting failed container web",
    ]
    lines = [header, *routine[:5], *telling, *routine[5:]]
    assert quiet_events("get events -n shop", lines) == [
        header,
        "[… 6 routine Normal events omitted …]",
        *telling,
        *routine[6:],
    ]
    assert quiet_events("get pods -n shop", lines) == lines


async def test_gathered_events_are_quieted() -> None:
    events = "LAST SEEN   TYPE   REASON   OBJECT   MESSAGE\n" + "\n".join(
        f"{i}m   Normal   Pulled   pod/web-{i}   Successfully pulled image" for i in range(9)
    )

    async def run(command: str) -> str:
        return events

    evidence = await gather(custom_plan(["get events -n shop"]), run, budget_seconds=10)
    assert "[… 6 routine Normal events omitted …]" in evidence.render()
    assert "pod/web-0" in evidence.observations[0].full  # the rules still read every row


def test_describe_loses_the_fields_that_never_explain_an_incident() -> None:
    describe = """\
Priority:         0
Containers:
  app:
    Container ID:   containerd://1f2e3d4c5b6a7980
    Image:          registry.example.com/app:1.2
    Image ID:       registry.example.com/app@sha256:2b3c4d5e6f7a8b9c
    Host Port:      0/TCP
    Mounts:
      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-n5m6p (ro)
      /etc/app from config (ro)
Volumes:
  config:
    Type:      ConfigMap (a volume populated by a ConfigMap)
    Name:      app-config
  kube-api-access-n5m6p:
    Type:                    Projected (a volume that contains injected data from multiple sources)
    TokenExpirationSeconds:  3607
    ConfigMapName:           kube-root-ca.crt
QoS Class:                   Burstable
Node-Selectors:              disktype=ssd
Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
                             nvidia.com/gpu:NoSchedule op=Exists"""
    assert quiet("describe pod app-1 -n shop", describe.splitlines()) == [
        "Containers:",
        "  app:",
        "    Image:          registry.example.com/app:1.2",
        "    Mounts:",
        "      /etc/app from config (ro)",
        "Volumes:",
        "  config:",
        "    Type:      ConfigMap (a volume populated by a ConfigMap)",
        "    Name:      app-config",
        "Node-Selectors:              disktype=ssd",
        # The tolerations every pod gets are noise ("unreachable" read as a cause); others stay.
        "Tolerations:                 (the defaults)",
        "                             nvidia.com/gpu:NoSchedule op=Exists",
    ]
    assert quiet("logs app-1", ["Priority: 0"]) == ["Priority: 0"]


def test_render_shows_each_command_as_a_shell_header() -> None:
    evidence = Evidence(
        observations=(
            observed("get pods -n shop", "NAME  READY\nweb-0 1/1"),
            Observation(command="get events -n shop", output="[timed out: …]", status="timed out"),
        )
    )
    assert evidence.render() == (
        "$ kubectl get pods -n shop\nNAME  READY\nweb-0 1/1\n\n"
        "$ kubectl get events -n shop\n[timed out: …]"
    )
    assert Evidence().render() == ""


async def test_repeated_log_lines_collapse_but_table_rows_do_not() -> None:
    retries = "".join(
        f"2026-11-25T10:00:{i:02d}.{i * 7:03d}Z WARN retrying connection to redis:6379 (attempt {i})\n"
        for i in range(1, 31)
    )
    log = "starting\n" + retries + "giving up\ngiving up\n"
    table = "NAME      READY\nredis-0   1/1\nredis-1   1/1\nredis-2   1/1\n"
    evidence = await gather(
        custom_plan(["logs web-0 -n shop", "get pods -n shop"]),
        answering({"logs web-0 -n shop": log, "get pods -n shop": table}),
    )
    logs, pods = evidence.observations
    assert logs.output.splitlines() == [
        "starting",
        "2026-11-25T10:00:01.007Z WARN retrying connection to redis:6379 (attempt 1)"
        "  [repeated 30 times]",
        "giving up  [repeated 2 times]",
    ]
    assert pods.output == table.rstrip("\n")


async def test_ansi_escapes_and_control_characters_are_removed() -> None:
    out = "\x1b[1;31mERROR\x1b[0m boom\r\n\x1b]8;;http://x\x07link\x1b]8;;\x07 \x07bell\x00\n"
    evidence = await gather(custom_plan(["logs web-0"]), answering({"logs web-0": out}))
    assert evidence.observations[0].output == "ERROR boom\nlink bell"
    assert "\x1b" not in evidence.render()


async def test_long_output_keeps_head_and_tail_with_a_marker() -> None:
    lines = [f"line {i:03d} " + "." * 40 for i in range(200)]
    evidence = await gather(
        custom_plan(["get pods -A"]),
        answering({"get pods -A": "\n".join(lines)}),
        per_command_chars=1_000,
    )
    kept = evidence.observations[0].output.splitlines()
    assert len(evidence.observations[0].output) <= 1_000
    assert kept[0] == lines[0]
    assert kept[-1] == lines[-1]
    (marker,) = [line for line in kept if line.startswith("[…")]
    found = re.fullmatch(r"\[… (\d+) lines omitted …\]", marker)
    assert found is not None
    omitted = int(found[1])
    assert omitted + len(kept) - 1 == 200


def test_a_describe_cut_keeps_the_sections_that_explain_the_failure() -> None:
    evidence = Evidence(observations=(observed(f"describe pod {POD} -n shop", DESCRIBE_POD),))
    text = evidence.render(max_chars=900)
    assert len(text) <= 900
    for kept in (
        "State:          Waiting", "Reason:       CrashLoopBackOff", "Last State:     Terminated",
        "Reason:       OOMKilled", "Exit Code:    137", "memory:  512Mi", "Events:",
        "Back-off restarting failed container",  # the newest event
    ):  # fmt: skip
        assert kept in text, kept
    assert "Container ID" not in text
    assert "lines omitted" in text


def test_error_lines_survive_a_log_cut() -> None:
    log = "\n".join(
        [f"INFO request {i} served in {i}ms" for i in range(60)]
        + ["ERROR java.lang.OutOfMemoryError: Java heap space"]
        + [f"\tat frame{i}(Main.java:{i})" for i in range(30)]
    )
    text = Evidence(observations=(observed("logs web-0 -n shop", log),)).render(max_chars=500)
    assert "OutOfMemoryError" in text


def test_the_room_is_shared_fairly() -> None:
    big = "\n".join(f"row {i} " + "x" * 60 for i in range(300))
    evidence = Evidence(
        observations=(
            observed("get pods -A -o wide", big),
            observed("get endpoints checkout -n shop", "NAME  ENDPOINTS\ncheckout  <none>"),
            observed("get events -A", big.replace("row", "event")),
        )
    )
    text = evidence.render(max_chars=3_000)
    assert len(text) <= 3_000
    assert "checkout  <none>" in text  # the small one whole, the big ones share the rest
    first, _, third = text.split("\n\n")
    assert abs(len(first) - len(third)) < 200


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["describe pod x", "logs x", "get pods", "get events -A"]),
            st.text(alphabet=st.sampled_from("ab1 :\n\t-"), max_size=600),
        ),
        max_size=6,
    ),
    st.integers(min_value=0, max_value=2_000),
)
def test_render_never_exceeds_its_limit(outputs: list[tuple[str, str]], max_chars: int) -> None:
    evidence = Evidence(observations=tuple(observed(c, o) for c, o in outputs))
    assert len(evidence.render(max_chars)) <= max_chars


# --- the workflow field ---------------------------------------------------------------------

WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: triage}}
spec:
  steps:
    - name: investigate
      type: agent
      goal: find the cause
{evidence}
    - name: fix
      type: conditional
      condition: "true"
      agent:
        goal: fix it
{nested}
"""


def load(evidence: str = "", nested: str = "") -> Workflow:
    (loaded,) = parse_yaml(WORKFLOW.format(evidence=evidence, nested=nested), origin="wf.yaml")
    assert isinstance(loaded.resource, Workflow)
    return loaded.resource


def first_step(workflow: Workflow) -> AgentStep:
    step = workflow.spec.steps[0]
    assert isinstance(step, AgentStep)
    return step


def test_evidence_defaults_to_auto_and_can_be_off_or_a_list() -> None:
    assert first_step(load()).evidence == "auto"
    assert first_step(load('      evidence: "off"')).evidence == "off"
    workflow = load(
        "      evidence:\n"
        "        - get pods -n shop -o wide\n"
        "        - logs {{ .source.data.alert.labels.pod }} -n shop --tail=40\n"
        "        - kubectl top pod -n shop\n"
    )
    assert first_step(workflow).evidence == [
        "get pods -n shop -o wide",
        "logs {{ .source.data.alert.labels.pod }} -n shop --tail=40",
        "kubectl top pod -n shop",
    ]
    assert evidence_problems(workflow) == []


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ("      evidence: maybe", "expected 'auto', 'off' or a list of kubectl command lines"),
        ("      evidence: [get pods, '']", "item 1: expected a kubectl command line"),
        ("      evidence: {get: pods}", "expected 'auto', 'off' or a list"),
    ],
)
def test_a_malformed_setting_is_refused_at_load(evidence: str, message: str) -> None:
    with pytest.raises(ResourceValidationError) as caught:
        load(evidence)
    (problem,) = caught.value.problems
    assert "spec.steps[0].evidence: " in problem
    assert message in problem


def test_commands_that_are_not_plainly_read_only_are_problems_naming_the_field() -> None:
    workflow = load(
        "      evidence: [get pods -n shop, delete pod web-0 -n shop, get secret db -o yaml]\n"
        "      rigConfig: {safety: {requireApproval: [top]}}",
        "        evidence: ['top pod -n shop', '{{ .verb }} pods', 'logs {{ .x -n shop']",
    )
    problems = evidence_problems(workflow)
    assert [p.split(":")[0] for p in problems] == [
        "spec.steps[0].evidence[1]",
        "spec.steps[0].evidence[2]",
        "spec.steps[1].agent.evidence[1]",  # a template cannot choose the verb
        "spec.steps[1].agent.evidence[2]",  # does not compile
    ]
    assert "`delete` is not read-only" in problems[0]
    assert "Secret values must not reach the agent" in problems[1]
    # requireApproval applies per step: `top` is gated in the first step only
    gated = load(
        "      evidence: [top pod -n shop]\n      rigConfig: {safety: {requireApproval: [top]}}"
    )
    (problem,) = evidence_problems(gated)
    assert problem.startswith("spec.steps[0].evidence[0]: evidence commands must be read-only")
    assert "requires approval for `top`" in problem


def test_at_most_twenty_commands() -> None:
    many = "      evidence: [" + ", ".join(["get pods"] * 21) + "]"
    with pytest.raises(ResourceValidationError, match="at most 20 commands"):
        load(many)


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (
            'Error from server (BadRequest): previous terminated container "catalog" in pod'
            ' "catalog-69f" not found\n[exit code 1]',
            "no earlier run",
        ),
        (
            'Error from server (BadRequest): container "catalog" in pod "catalog-69f" is waiting'
            " to start: trying and failing to pull image\n[exit code 1]",
            "waiting: trying and failing to pull image",
        ),
    ],
)
async def test_no_logs_errors_are_said_plainly_not_as_a_cause(error: str, meaning: str) -> None:
    async def run(command: str) -> str:
        return error

    evidence = await gather(custom_plan(["logs catalog-69f -n shop --previous"]), run)
    (observation,) = evidence.observations
    assert observation.status == "failed"
    assert meaning in observation.output
    assert "not found" not in observation.output
