"""Facts read off the evidence by rules: each check says what it saw, and nothing when unsure.

Outputs are kubectl's own wording (events from containerd's kubelet, Go resolver errors,
``describe`` of Services and pods), so a check that passes here reads a real cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from punching_fist.agent.evidence import gather
from punching_fist.agent.evidence_plan import Target, plan_for
from punching_fist.agent.facts import Observed, evidence_facts
from punching_fist.agent.facts.health import heartbeat_fact
from punching_fist.agent.facts.network import dependency_fact, dns_fact, service_facts
from punching_fist.agent.facts.pods import pull_fact
from punching_fist.agent.prompt import first_message

WATCHDOG: dict[str, Any] = {
    "labels": {"alertname": "Watchdog", "severity": "none"},
    "annotations": {
        "description": "This is an alert meant to ensure that the entire alerting pipeline is"
        " functional.\nThis alert is always firing, therefore it should always be firing in"
        " Alertmanager",
    },
}


@pytest.mark.parametrize(
    "alert",
    [
        WATCHDOG,
        {"labels": {"alertname": "DeadMansSwitch"}},
        {"labels": {"alertname": "PipelineCheck"}, "annotations": {"summary": "Always firing."}},
    ],
)
def test_a_heartbeat_alert_is_named_as_one(alert: dict[str, Any]) -> None:
    fact = heartbeat_fact(alert)
    assert fact is not None
    assert fact.startswith("Nothing is wrong: ")


def test_an_alert_that_mentions_a_missing_heartbeat_is_no_heartbeat() -> None:
    node = {
        "labels": {"alertname": "KubeNodeNotReady", "node": "worker-2"},
        "annotations": {"description": "The kubelet stopped posting its heartbeat."},
    }
    assert heartbeat_fact(node) is None
    assert heartbeat_fact({}) is None


def _event(message: str) -> str:
    return f"  Warning  Failed     19m (x5 over 22m)    kubelet            {message}"


AUTH_401 = _event(
    'Failed to pull image "registry.acme.internal/billing/renderer:4.0.3": failed to pull and'
    ' unpack image "registry.acme.internal/billing/renderer:4.0.3": failed to resolve reference'
    ' "registry.acme.internal/billing/renderer:4.0.3": failed to authorize: failed to fetch oauth'
    " token: unexpected status from GET request to https://registry.acme.internal/service/token"
    "?scope=repository%3Abilling%2Frenderer%3Apull&service=harbor-registry: 401 Unauthorized"
)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (
            AUTH_401,
            'refused the pull credentials for image registry.acme.internal/billing/renderer:4.0.3 ("401 Unauthorized")',
        ),
        (
            _event(
                'Failed to pull image "ghcr.io/acme/catalog:v2.81": rpc error: code = NotFound'
                ' desc = failed to pull and unpack image "ghcr.io/acme/catalog:v2.81": failed to'
                ' resolve reference "ghcr.io/acme/catalog:v2.81": ghcr.io/acme/catalog:v2.81: not'
                " found"
            ),
            "ghcr.io/acme/catalog:v2.81 does not exist in the registry",
        ),
        (
            _event(
                'Failed to pull image "acme/private:1": rpc error: code = Unknown desc = Error'
                " response from daemon: pull access denied for acme/private, repository does"
                " not exist or may require 'docker login': denied: requested access to the"
                " resource is denied"
            ),
            "does not exist or needs credentials",
        ),
        (
            _event(
                'Failed to pull image "registry.local:5000/app:1": failed to do request: Head'
                ' "https://registry.local:5000/v2/app/manifests/1": dial tcp: lookup'
                " registry.local: no such host"
            ),
            'cannot reach the registry of image registry.local:5000/app:1 ("no such host")',
        ),
    ],
)
def test_a_pull_failure_says_why(event: str, says: str) -> None:
    fact = pull_fact([("describe pod p -n ns", f"Events:\n{event}\n")])
    assert fact is not None
    assert says in fact


def test_no_pull_event_no_pull_fact() -> None:
    assert pull_fact([("describe pod p -n ns", _event("Error: ImagePullBackOff"))]) is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (
            "2026/11/25 09:57:50 fatal: redis: dial tcp: lookup redis.cache.svc.cluster.local on"
            " 10.96.0.10:53: read udp 10.244.2.90:41877->10.96.0.10:53: i/o timeout",
            "DNS lookup of redis.cache.svc.cluster.local fails: the DNS server at 10.96.0.10:53"
            " does not answer (i/o timeout)",
        ),
        (
            "panic: dial tcp: lookup postgres.db on 10.96.0.10:53: no such host",
            "DNS lookup of postgres.db fails: no such host",
        ),
        (
            "socket.gaierror: [Errno -3] Temporary failure in name resolution",
            '"Temporary failure in name resolution"',
        ),
    ],
)
def test_a_failing_name_lookup_in_the_logs_is_a_dns_fact(line: str, says: str) -> None:
    fact = dns_fact([("logs app-1 -n ns --tail=40", f"starting\n{line}\n")])
    assert fact is not None
    assert says in fact


def test_dns_words_outside_logs_are_not_read_as_the_application_s() -> None:
    describe = "Message: lookup redis on 10.96.0.10:53: i/o timeout"
    assert dns_fact([("describe pod app-1 -n ns", describe)]) is None


DESCRIBE_SERVICE = """\
Name:                     inventory
Namespace:                warehouse
Selector:                 app=inventory
Type:                     ClusterIP
Port:                     http  80/TCP
TargetPort:               8080/TCP
Endpoints:                10.244.1.93:8080,10.244.2.94:8080
Events:                   <none>
"""
DESCRIBE_POD = """\
Name:             inventory-59c8d7e6f4-9rkd2
Containers:
  inventory:
    Image:          registry.example.com/warehouse/inventory:3.0.0
    Port:           8000/TCP
    Host Port:      0/TCP
    State:          Running
"""


def _service(describe: str, pods: str, pod: str | None = None) -> list[tuple[str, str]]:
    observed = [
        ("describe service inventory -n warehouse", describe),
        ("get pods -n warehouse -l app=inventory", pods),
    ]
    if pod is not None:
        observed.append(("describe pod inventory-59c8d7e6f4-9rkd2 -n warehouse", pod))
    return observed


def test_a_selector_that_matches_no_pod_is_said() -> None:
    no_pods = "No resources found in warehouse namespace."
    # Endpoints say a pod matches: the two disagree, so nothing is said.
    assert service_facts(_service(DESCRIBE_SERVICE, no_pods)) == []
    empty = DESCRIBE_SERVICE.replace("10.244.1.93:8080,10.244.2.94:8080", "<none>")
    facts = service_facts(_service(empty, no_pods))
    assert facts == [
        "Service inventory selects pods labelled app=inventory, but no pod in warehouse has"
        " that label, so the Service has no endpoints: its selector does not match the pods'"
        " labels."
    ]


def test_a_target_port_no_selected_pod_listens_on_is_said() -> None:
    facts = service_facts(_service(DESCRIBE_SERVICE, "NAME ...", DESCRIBE_POD))
    assert facts == [
        "Service inventory sends traffic to targetPort 8080/TCP, but pod"
        " inventory-59c8d7e6f4-9rkd2 (selected by it) listens on 8000/TCP: the Service's"
        " targetPort does not match the container port."
    ]


@pytest.mark.parametrize(
    "pod",
    [
        DESCRIBE_POD.replace("8000/TCP", "8080/TCP"),  # the right port
        DESCRIBE_POD.replace("    Port:           8000/TCP\n", ""),  # no declared port
        DESCRIBE_POD.replace("Port:           8000/TCP", "Ports:          9090/TCP, 8080/TCP"),
    ],
)
def test_no_port_fact_when_a_declared_port_matches_or_none_is_declared(pod: str) -> None:
    assert service_facts(_service(DESCRIBE_SERVICE, "NAME ...", pod)) == []


def test_a_named_target_port_is_not_judged() -> None:
    named = DESCRIBE_SERVICE.replace("TargetPort:               8080/TCP", "TargetPort: http/TCP")
    assert service_facts(_service(named, "NAME ...", DESCRIBE_POD)) == []


def test_all_facts_heartbeat_first() -> None:
    observed = [("logs a -n b", "lookup x on 1.2.3.4:53: i/o timeout")]
    facts = evidence_facts(WATCHDOG, observed)
    assert len(facts) == 2
    assert "heartbeat" in facts[0]
    assert "DNS lookup of x" in facts[1]
    assert evidence_facts({}, []) == []


async def test_facts_read_whole_lines_that_the_evidence_block_shortens() -> None:
    """The 401 ends a 500-character event: the prompt's copy is cut, the fact still reads it."""
    plan = plan_for(Target(kind="pod", name="renderer-1", namespace="billing"))

    async def run(command: str) -> str:
        return f"Events:\n{AUTH_401}\n" if command.startswith("describe pod") else "(no output)"

    evidence = await gather(plan, run, budget_seconds=10)
    observed = [(o.command, o.full or o.output) for o in evidence.observations]
    assert len(AUTH_401) > 300
    fact = evidence_facts({}, observed)
    assert fact
    assert '("401 Unauthorized")' in fact[0]


def test_facts_are_read_last_before_the_question_and_replace_the_no_why_nudge() -> None:
    message = first_message(
        "Find the root cause.",
        alert={"labels": {"alertname": "KubePodCrashLooping"}},
        context=None,
        evidence="$ kubectl logs a -n b\nlookup x on 1.2.3.4:53: i/o timeout",
        key_lines=["Reason: CrashLoopBackOff"],
        facts=["DNS lookup of x fails"],
    )
    found = message.index("What these checks of the evidence found (data):\n- DNS lookup of x")
    assert message.index("Lines in the evidence that show a failure") < found
    assert found < message.index("Find the root cause.")
    assert "None of these lines says why" not in message


SCHEDULING = (
    "  Warning  FailedScheduling  4m12s (x6 over 24m)  default-scheduler  0/4 nodes are"
    " available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, {}."
    " preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling."
)


@pytest.mark.parametrize(
    ("output", "fact"),
    [
        (
            SCHEDULING.replace("{}.", "3 Insufficient memory."),
            "The scheduler finds no node for the pod (0 of 4 nodes fit): 3 node(s) have too"
            " little free memory for the pod's requests.",
        ),
        (
            SCHEDULING.replace("{}.", "3 node(s) didn't match Pod's node affinity/selector."),
            "The scheduler finds no node for the pod (0 of 4 nodes fit): 3 node(s) didn't match"
            " Pod's node affinity/selector.",
        ),
        (
            # Only the control-plane taint: then it is the reason there is.
            SCHEDULING.replace(", {}.", "."),
            "The scheduler finds no node for the pod (0 of 4 nodes fit): 1 node(s) had"
            " untolerated taint {node-role.kubernetes.io/control-plane: }.",
        ),
        (
            "  Warning  ProvisioningFailed  52s (x126 over 31m)  persistentvolume-controller "
            ' storageclass.storage.k8s.io "gp3-encrypted" not found',
            'The PersistentVolumeClaim asks for StorageClass "gp3-encrypted", which does not'
            " exist, so no volume is provisioned and the claim stays unbound.",
        ),
        (
            '  Warning  Failed  3m (x92 over 23m)  kubelet  Error: secret "smtp-credentials" not'
            " found",
            'The container cannot start: the Secret "smtp-credentials" it references does not'
            " exist (CreateContainerConfigError).",
        ),
        (
            "  Warning  Failed  3m  kubelet  Error: couldn't find key DATABASE_URL in Secret"
            " shop/db",
            "The container cannot start: key DATABASE_URL is missing from Secret shop/db"
            " (CreateContainerConfigError).",
        ),
        (
            "  Warning  Unhealthy  62s (x27 over 24m)  kubelet  Liveness probe failed: Get"
            ' "http://10.244.2.41:8080/health": dial tcp 10.244.2.41:8080: connect: connection'
            " refused",
            'The liveness probe fails (Get "http://10.244.2.41:8080/health": dial tcp'
            " 10.244.2.41:8080: connect: connection refused), so the kubelet kills and restarts"
            " the container: the probe or the endpoint it checks is the problem.",
        ),
    ],
)
def test_events_that_say_why_a_pod_cannot_run_are_facts(output: str, fact: str) -> None:
    assert evidence_facts({}, [("describe pod p -n ns", output)]) == [fact]


def test_an_oom_kill_names_the_memory_limit() -> None:
    describe = (
        "Containers:\n  worker:\n    Last State:     Terminated\n      Reason:       OOMKilled\n"
        "      Exit Code:    137\n    Limits:\n      cpu:     1\n      memory:  512Mi\n"
    )
    assert evidence_facts({}, [("describe pod w -n ns", describe)]) == [
        "A container was OOMKilled: it used more memory than its limit of 512Mi, and the"
        " kernel killed it."
    ]
    # The word in a log line is the application's, not the kubelet's verdict.
    assert evidence_facts({}, [("logs w -n ns", "Reason: OOMKilled")]) == []


def test_a_not_ready_node_gives_the_kubelet_s_reason() -> None:
    describe = (
        "Conditions:\n  Type             Status  LastHeartbeatTime                 Reason   Message\n"
        "  MemoryPressure   False   Wed, 25 Nov 2026 09:59:40 +0000   KubeletHasSufficientMemory"
        "   kubelet has sufficient memory available\n"
        "  Ready            False   Wed, 25 Nov 2026 09:59:40 +0000   Wed, 25 Nov 2026 09:35:58"
        " +0000   KubeletNotReady              container runtime is down, PLEG is not healthy\n"
    )
    assert evidence_facts({}, [("describe node worker-3", describe)]) == [
        "The node is NotReady: KubeletNotReady: container runtime is down, PLEG is not healthy."
    ]


@pytest.mark.parametrize(
    ("line", "fact"),
    [
        (
            "2026-11-25T09:59:31.205Z  WARN 1 --- [exec-4] o.s.b.a.jdbc.DataSourceHealthIndicator :"
            " Caused by: org.postgresql.util.PSQLException: Connection to"
            " postgres.data.svc.cluster.local:5432 refused. Check that the hostname and port",
            "The application cannot connect to postgres.data.svc.cluster.local:5432 (refused):"
            " what it depends on there is down or not accepting connections. Look at Service"
            " postgres in namespace data and its pods.",
        ),
        (
            "2026-12-04T02:44:59.871Z\tWARN\trouter/upstream.go:112\tupstream unhealthy\t"
            '{"upstream": "auth", "addr": "auth.edge.svc.cluster.local:9000", "error": "rpc'
            ' error: code = Unavailable desc = connection error: desc = \\"transport: Error'
            ' while dialing: dial tcp 10.96.14.2:9000: connect: connection refused\\""}',
            "The application cannot connect to auth.edge.svc.cluster.local:9000 (connection"
            " refused): what it depends on there is down or not accepting connections. Look at"
            " Service auth in namespace edge and its pods.",
        ),
        (
            "redis.exceptions.ConnectionError: Error 111 connecting to 10.0.3.4:6379. Connection"
            " refused.",
            "The application cannot connect to 10.0.3.4:6379 (Connection refused): what it"
            " depends on there is down or not accepting connections.",
        ),
    ],
)
def test_a_dependency_the_application_cannot_reach_is_named(line: str, fact: str) -> None:
    assert evidence_facts({}, [("logs app-1 -n shop --tail=40", f"starting\n{line}\n")]) == [fact]


def test_no_dependency_fact_without_an_address_or_outside_the_logs() -> None:
    assert evidence_facts({}, [("logs a -n b", "upstream connection refused, retrying")]) == []
    describe = "Liveness probe failed: Get http://10.0.0.1:8080/h: connect: connection refused"
    assert dependency_fact([("describe pod a -n b", describe)]) is None


DEPLOYMENT = """\
NAME     READY   UP-TO-DATE   AVAILABLE   AGE    CONTAINERS   IMAGES                 SELECTOR
search   {ready}     3            {available}           412d   search       acme/search:5.2.0      app=search
"""
PODS = """\
NAME                      READY   STATUS    RESTARTS   AGE   IP            NODE
search-7c9d8b6f5-2kq8x    1/1     Running   0          14m   10.244.1.20   worker-1
search-7c9d8b6f5-9vx2p    1/1     {status}   0          9m    10.244.2.31   worker-2
search-7c9d8b6f5-tm4wz    1/1     Running   0          4m    10.244.3.12   worker-3
"""


def _rollout(ready: str = "3/3", available: str = "3", status: str = "Running") -> Observed:
    return [
        (
            "get deployment search -n catalog -o wide",
            DEPLOYMENT.format(ready=ready, available=available),
        ),
        ("get pods -n catalog -o wide", PODS.format(status=status)),
    ]


def test_a_workload_that_is_whole_again_is_said_to_have_recovered() -> None:
    assert evidence_facts({}, _rollout()) == [
        "Nothing is wrong now: deployment search has recovered. It is whole: 3/3 replicas"
        " ready and available, none of its pods failing or restarting."
    ]


@pytest.mark.parametrize(
    "observed",
    [
        _rollout(ready="2/3"),
        _rollout(available="2"),
        _rollout(status="Pending"),
        _rollout()[:1],  # no pods listed: nothing shows they are well
    ],
)
def test_a_workload_short_of_replicas_or_with_a_failing_pod_has_not_recovered(
    observed: Observed,
) -> None:
    assert evidence_facts({}, observed) == []
