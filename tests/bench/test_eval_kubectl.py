"""The investigation eval's scenarios and its kubectl stand-in, without any model.

Every scenario in ``bench/eval_scenarios`` loads, validates and carries a notification the
webhook accepts; its recordings are well-formed and agree with each other; the stand-in
(``bench/eval_kubectl.py``, run as the agent's kubectl tool runs it: a wrapper named
``kubectl`` on PATH, in a clean environment) answers the runtime's evidence commands for the
scenario's alert, and the spellings a small model writes, as kubectl would.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.eval import SCENARIOS, Scenario, StandIn, grade, load_scenario, load_scenarios
from bench.eval_kubectl import Cluster, Table, key_of, kind_of, parse

from punching_fist.agent.evidence_plan import plan_evidence
from punching_fist.sources.alertmanager import AlertmanagerNotification

PATHS = sorted(SCENARIOS.glob("*.yaml"))
KUBE_LABELS = {
    "namespace", "pod", "container", "deployment", "statefulset", "daemonset", "job_name",
    "node", "service", "persistentvolumeclaim",
}  # fmt: skip
# Labels kube-prometheus rules and Prometheus add besides the object's.
OTHER_LABELS = {"alertname", "severity", "job", "reason", "condition", "status", "instance",
                "prometheus", "endpoint"}  # fmt: skip


@dataclass(frozen=True)
class Run:
    stdout: str
    stderr: str
    exit: int


class Kubectl:
    """The stand-in behind a ``kubectl`` wrapper, run with only PATH and KUBECONFIG set."""

    def __init__(self, directory: Path, scenario: Scenario) -> None:
        StandIn(directory).use(scenario)
        self.env = {"PATH": f"{directory}:/usr/bin:/bin", "KUBECONFIG": "/dev/null"}

    def __call__(self, command: str) -> Run:
        done = subprocess.run(
            ["kubectl", *shlex.split(command)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return Run(done.stdout, done.stderr, done.returncode)


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return load_scenarios()


@pytest.fixture
def kubectl(tmp_path: Path) -> Kubectl:
    return Kubectl(tmp_path, load_scenario(SCENARIOS / "crashloop-missing-env.yaml"))


# --- the scenario files ----------------------------------------------------------------------


def test_there_are_enough_scenarios_of_every_kind(scenarios: list[Scenario]) -> None:
    assert len(scenarios) >= 15
    expected = {s.expect for s in scenarios}
    assert expected == {"diagnosis", "healthy", "inconclusive"}


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_scenario_loads_and_its_notification_parses(path: Path) -> None:
    scenario = load_scenario(path)
    notification = AlertmanagerNotification.model_validate(scenario.notification)
    (alert,) = notification.alerts
    assert alert.labels["alertname"]
    assert alert.fingerprint
    assert set(alert.labels) - OTHER_LABELS <= KUBE_LABELS
    assert scenario.title


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_recordings_are_well_formed_and_consistent(path: Path) -> None:
    scenario = load_scenario(path)
    data = scenario.for_stand_in()
    cluster = Cluster(data)
    keys = [key_of(parse(shlex.split(spelled)), cluster.home) for spelled in data["kubectl"]]
    assert len(set(keys)) == len(keys), "two recordings answer the same command"
    for spelled, value in data["kubectl"].items():
        words = shlex.split(spelled)
        text = value if isinstance(value, str) else value["stdout"]
        if words[0] in ("get", "top") and "yaml" not in spelled and text.strip():
            _check_table(spelled, text)
    for key in keys:
        if key[0] != "describe" or not key[2]:
            continue
        kind = kind_of(key[1])
        table = cluster.table(kind, key[3])
        if kind.plural == "pods":
            assert table is not None, f"describe {key[2]}: no `get pods` in {key[3]}"
        if table is not None:
            assert key[2] in cluster.names(kind, key[3]), f"{key}: not in the `get` table"


def _check_table(spelled: str, text: str) -> None:
    lines = [line for line in text.strip("\n").splitlines() if line.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    titles = [re.sub(r"\(\w+\)", "", title) for title in header]  # CPU(cores)
    assert titles == [t.upper() for t in titles], f"{spelled}: header {header}"
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=len(header) - 1)
        if len(cells) == len(header):
            continue
        # A row with empty cells must line up with the header.
        assert all(line[s - 1 : s] in (" ", "") for s in starts[1:]), f"{spelled}: {line!r}"
    parsed = Table.parse(text)
    assert all(len(row) == len(header) for row in parsed.rows)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_the_stand_in_answers_the_runtime_evidence_commands(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    kubectl = Kubectl(tmp_path, scenario)
    plan = plan_evidence("auto", scenario.alert_labels)
    if plan.target is None:  # nothing to read for this alert (Watchdog)
        assert scenario.expect == "healthy"
        return
    outputs = {}
    for command in plan.commands:
        run = kubectl(command)
        _check_evidence(command, run, plan.target.name)
        if run.exit == 0:
            outputs[command] = run.stdout
    follow_up = plan.follow_up(outputs)
    if plan.target.kind in ("deployment", "statefulset", "daemonset", "job"):
        # A recovered workload (expect: healthy) has no failing pod to follow up.
        assert bool(follow_up) == (scenario.expect != "healthy"), f"failing pods: {follow_up}"
    for command in follow_up:
        _check_evidence(command, kubectl(command), None)


def _check_evidence(command: str, run: Run, target: str | None) -> None:
    if command.startswith("logs "):
        # A container that never ran or never restarted: kubectl's BadRequest.
        assert run.exit == 0 or run.stderr.startswith("Error from server (BadRequest)"), run
        return
    assert run.exit == 0, f"{command}: {run}"
    assert run.stdout.strip() or run.stderr.startswith("No resources found"), command
    names_target = command.startswith(("describe ", "get endpoints ")) or "-o wide" in command
    if target is not None and names_target:
        assert target in run.stdout, f"{command}: {run.stdout[:200]}"


# --- kubectl's behaviour ---------------------------------------------------------------------

POD = "orders-api-6b8f9d7c4-k2x9p"


@pytest.mark.parametrize(
    "command",
    [
        f"describe pod {POD} -n shop",
        f"kubectl describe pod {POD} -n shop",
        f"describe pods/{POD} --namespace=shop",
        f"describe po {POD} -nshop",
        f"-n shop describe pod {POD}",
        f"describe pod {POD[:10]} -n shop",  # kubectl describes every name with the prefix
    ],
)
def test_describe_spellings(kubectl: Kubectl, command: str) -> None:
    run = kubectl(command)
    assert run.exit == 0, run
    assert "Exit Code:    1" in run.stdout
    assert f"Name:             {POD}" in run.stdout


def test_namespace_slash_name_is_refused_as_kubectl_does(kubectl: Kubectl) -> None:
    run = kubectl(f"describe pod shop/{POD}")
    assert (run.exit, run.stdout) == (1, "")
    assert "no need to specify a resource type as a separate argument" in run.stderr
    run = kubectl(f"describe shop/{POD}")
    assert run.exit == 1
    assert run.stderr == 'error: the server doesn\'t have a resource type "shop"\n'


def test_without_a_namespace_kubectl_looks_in_default(kubectl: Kubectl) -> None:
    run = kubectl("get pods")
    assert (run.exit, run.stdout, run.stderr) == (
        0,
        "",
        "No resources found in default namespace.\n",
    )
    run = kubectl(f"describe pod {POD}")
    assert (run.exit, run.stderr) == (1, f'Error from server (NotFound): pods "{POD}" not found\n')
    run = kubectl("get deployment orders-api -n elsewhere")
    assert run.exit == 1
    assert run.stderr == 'Error from server (NotFound): deployments.apps "orders-api" not found\n'


def test_get_pods_filters_by_name_and_label_and_spans_namespaces(kubectl: Kubectl) -> None:
    table = kubectl("get po -n shop").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(table) == 7
    wide = kubectl("get pods -n shop -o wide").stdout.splitlines()
    assert "NODE" in wide[0]
    assert kubectl(f"get pod {POD} -n shop").stdout.splitlines()[1].split()[:3] == [
        POD, "0/1", "CrashLoopBackOff",
    ]  # fmt: skip
    selected = kubectl("get pods -n shop -l app=orders-api").stdout.splitlines()
    assert [row.split()[0] for row in selected[1:]] == [
        "orders-api-5d4c8b7f6-q7m2n", "orders-api-5d4c8b7f6-tz8wd", POD,
    ]  # fmt: skip
    assert kubectl("get pods -n shop -l app=nothing").stderr == (
        "No resources found in shop namespace.\n"
    )
    everywhere = kubectl("get pods -A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    labelled = kubectl("get pods -n shop --show-labels").stdout
    assert "app=orders-api,pod-template-hash=6b8f9d7c4" in labelled


def test_label_columns(kubectl: Kubectl) -> None:
    table = kubectl("get pods -n shop -L app,example.com/absent").stdout.splitlines()
    assert table[0].split()[-2:] == ["APP", "ABSENT"]
    row = next(line for line in table if line.startswith(POD))
    assert row.split()[-1] == "orders-api"  # the absent label's cell is empty


def test_logs(kubectl: Kubectl) -> None:
    previous = kubectl(f"logs {POD} -n shop --previous --all-containers=true --tail=40")
    assert previous.exit == 0
    assert "DATABASE_URL is not set" in previous.stdout
    assert kubectl(f"logs {POD} -n shop -p --tail=1").stdout.count("\n") == 1
    by_owner = kubectl("logs deploy/orders-api -n shop")
    assert by_owner.stderr.startswith("Found 3 pods, using pod/orders-api-5d4c8b7f6-q7m2n")
    never_restarted = kubectl("logs orders-api-5d4c8b7f6-q7m2n -n shop --previous")
    assert never_restarted.exit == 1
    assert "previous terminated container" in never_restarted.stderr
    assert kubectl(f"logs pod {POD} -n shop").stderr == (
        'Error from server (NotFound): pods "pod" not found\n'
    )


def test_logs_of_an_owner_pick_its_pods_as_kubectl_does(tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, load_scenario(SCENARIOS / "deployment-missing-configmap-key.yaml"))
    # The selector, not the name prefix, says whose pods they are (orders-outbox-… is not);
    # kubectl logs from a running, ready pod before a failing one.
    run = kubectl("logs deploy/orders -n orders --tail=1")
    assert run.stderr == "Found 5 pods, using pod/orders-7d9f8b6c5d-4hjtn\n"
    assert "outbox flushed" in run.stdout


def test_events_filtered_by_object(kubectl: Kubectl) -> None:
    for command in (
        f"get events -n shop --field-selector involvedObject.name={POD}",
        f"get ev -n shop --field-selector=involvedObject.name={POD},type=Warning",
        f"events -n shop --for pod/{POD}",
    ):
        rows = kubectl(command).stdout.splitlines()[1:]
        assert rows, command
        assert all(f"pod/{POD}" in row for row in rows), command
    assert len(kubectl("get events -n shop").stdout.splitlines()) == 9
    assert kubectl("get events -A --field-selector involvedObject.name=worker-1").stderr == (
        "No resources found.\n"
    )


def test_workload_and_cluster_reads(kubectl: Kubectl) -> None:
    wide = kubectl("get deployment orders-api -n shop -o wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert [row.split()[0] for row in wide[1:]] == ["orders-api"]
    assert "CONTAINERS" not in kubectl("get deploy -n shop").stdout
    mixed = kubectl("get po,deploy -n shop").stdout
    assert f"pod/{POD}" in mixed
    assert "deployment.apps/orders-api" in mixed
    rollout = kubectl("rollout status deployment/orders-api -n shop")
    assert "1 out of 2 new replicas have been updated" in rollout.stdout
    assert kubectl("describe node worker-1").stdout.startswith("Name:")
    assert kubectl("top pods -n shop").stderr == "error: Metrics API not available\n"
    assert kubectl("get widgets -n shop").stderr == (
        'error: the server doesn\'t have a resource type "widgets"\n'
    )
    assert kubectl("delete pod x -n shop").stderr.startswith("Error from server (Forbidden)")


def test_the_answers_are_deterministic(kubectl: Kubectl) -> None:
    command = "get pods -n shop -o wide --show-labels"
    assert kubectl(command) == kubectl(command)


# --- grading -----------------------------------------------------------------------------------


def test_grading(scenarios: list[Scenario]) -> None:
    by_name = {s.name: s for s in scenarios}
    env = by_name["crashloop-missing-env"]
    assert grade(env, {"root_cause": "DATABASE_URL is not set", "summary": "x"})[0]
    assert not grade(env, {"root_cause": "The pod crashes", "summary": "exit code 1"})[0]
    assert not grade(env, {"root_cause": "DATABASE_URL", "summary": "", "inconclusive": True})[0]
    failed = grade(env, {"root_cause": "", "summary": "", "error_message": "timed out"})
    assert failed == (False, "investigation incomplete: timed out")
    unknown = by_name["inconclusive-silent-crash"]
    assert grade(unknown, {"root_cause": "unclear", "summary": "", "inconclusive": True})[0]
    assert not grade(unknown, {"root_cause": "a bug", "summary": "", "inconclusive": False})[0]
    healthy = by_name["watchdog-heartbeat"]
    assert grade(healthy, {"root_cause": "Nothing is wrong: it is a heartbeat", "summary": ""})[0]
    assert not grade(healthy, {"root_cause": "Prometheus is down", "summary": "alert"})[0]


def test_logs_of_a_pod_stuck_in_init(tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, load_scenario(SCENARIOS / "init-container-db-auth.yaml"))
    pod = "orders-api-5c7f9d8b64-x2vkp"
    # -c takes an init container; without it kubectl names the init containers it skipped.
    assert "password authentication failed" in kubectl(f"logs {pod} -n orders -c migrate").stdout
    plain = kubectl(f"logs {pod} -n orders")
    assert plain.stderr.startswith(
        'Defaulted container "orders-api" out of: orders-api, migrate (init)\n'
    )
    assert plain.exit == 1
    # --all-containers: the init container's log, then the waiting app container's error.
    every = kubectl(f"logs {pod} -n orders --all-containers=true --tail=40")
    assert "password authentication failed" in every.stdout
    assert "is waiting to start: PodInitializing" in every.stderr
    assert (
        kubectl("get pods -n orders --field-selector status.phase=Pending").stdout.count(
            "Init:CrashLoopBackOff"
        )
        == 1
    )


def test_tail_longer_than_the_log_prints_all_of_it(tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, load_scenario(SCENARIOS / "liveness-kills-slow-start.yaml"))
    pod = "order-service-6f8d9c7b54-kx7vt"
    whole = kubectl(f"logs {pod} -n fulfillment --previous").stdout
    assert 20 < whole.count("\n") < 40
    assert kubectl(f"logs {pod} -n fulfillment --previous --tail=40").stdout == whole
    assert kubectl(f"logs {pod} -n fulfillment --tail=2").stdout.count("\n") == 2
