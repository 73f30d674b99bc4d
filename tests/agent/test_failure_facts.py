"""Facts for failures an SRE reads at a glance: volumes, commands, evictions, quotas, nodes
under pressure, and what the application's own logs say it fails on.

Outputs are kubectl's, the kubelet's and the applications' own wording; each rule is shown
firing on it, and silent where the same words are not the failure.
"""

from __future__ import annotations

import pytest

from punching_fist.agent.facts import evidence_facts
from punching_fist.agent.facts.cluster import create_fact, node_fact
from punching_fist.agent.facts.logs import (
    certificate_fact,
    config_file_fact,
    crash_fact,
    credentials_fact,
    environment_fact,
    file_access_fact,
)
from punching_fist.agent.facts.network import dependency_fact
from punching_fist.agent.facts.pods import (
    command_fact,
    eviction_fact,
    liveness_fact,
    mount_fact,
    pull_fact,
)


def _warning(reason: str, message: str) -> str:
    return f"  Warning  {reason}  2m (x7 over 9m)  kubelet  {message}"


def test_a_pull_the_registry_rate_limits_is_no_credentials_problem() -> None:
    event = _warning(
        "Failed",
        'Failed to pull image "redis:7.2": failed to pull and unpack image'
        ' "docker.io/library/redis:7.2": failed to copy: httpReadSeeker: failed open: unexpected'
        " status code https://registry-1.docker.io/v2/library/redis/manifests/sha256:4f1c: 429"
        " Too Many Requests - Server message: toomanyrequests: You have reached your pull rate"
        " limit. You may increase the limit by authenticating and upgrading:"
        " https://www.docker.com/increase-rate-limit",
    )
    assert pull_fact([("describe pod redis-0 -n cache", event)]) == (
        'The registry rate-limits pulls of image redis:7.2 ("429 Too Many Requests"): pull with'
        " credentials (imagePullSecrets) or from a mirror."
    )


@pytest.mark.parametrize(
    ("event", "fact"),
    [
        (
            _warning(
                "FailedMount",
                'MountVolume.SetUp failed for volume "tls" : secret "api-tls" not found',
            ),
            'The pod cannot start: its volume "tls" needs the Secret "api-tls", which does not'
            " exist (FailedMount).",
        ),
        (
            _warning(
                "FailedMount",
                'MountVolume.SetUp failed for volume "rules" : configmap "alert-rules" not found',
            ),
            'The pod cannot start: its volume "rules" needs the ConfigMap "alert-rules", which'
            " does not exist (FailedMount).",
        ),
        (
            "  Warning  FailedAttachVolume  3m  attachdetach-controller  Multi-Attach error for"
            ' volume "pvc-5b0c" Volume is already exclusively attached to one node and can\'t be'
            " attached to another",
            'Volume "pvc-5b0c" is still attached to another node (Multi-Attach error): the pod'
            " waits until the old node releases it.",
        ),
    ],
)
def test_a_volume_the_kubelet_cannot_mount_is_named(event: str, fact: str) -> None:
    assert mount_fact([("describe pod api-0 -n web", event)]) == fact


def test_a_mount_failure_of_another_kind_says_nothing() -> None:
    event = _warning("FailedMount", "Unable to attach or mount volumes: timed out waiting")
    assert mount_fact([("describe pod api-0 -n web", event)]) is None


@pytest.mark.parametrize(
    ("output", "fact"),
    [
        (
            "      Message:   failed to create containerd task: failed to create shim task: OCI"
            " runtime create failed: runc create failed: unable to start container process: exec:"
            ' "/app/server": stat /app/server: no such file or directory: unknown',
            'The container\'s command "/app/server" does not exist in the image (executable'
            " file not found): the command or the image is wrong.",
        ),
        (
            'exec: "gunicorn": executable file not found in $PATH: unknown',
            'The container\'s command "gunicorn" does not exist in the image (executable file'
            " not found): the command or the image is wrong.",
        ),
        (
            "exec /usr/local/bin/worker: exec format error",
            "The container's binary /usr/local/bin/worker is built for another CPU architecture"
            " (exec format error): the image does not match the node's architecture.",
        ),
    ],
)
def test_a_command_that_cannot_run_is_named(output: str, fact: str) -> None:
    assert command_fact([("logs w-1 -n ns --previous", output)]) == fact


def test_an_eviction_names_the_resource_and_the_container() -> None:
    event = _warning(
        "Evicted",
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available:"
        " 4%. Container worker was using 14Gi, request is 0, has larger consumption of"
        " ephemeral-storage.",
    )
    assert eviction_fact([("get events -n jobs", event)]) == (
        "Pods were evicted: the node ran low on ephemeral-storage, and the kubelet evicted pods"
        " to reclaim it. Container worker was using 14Gi with a request of 0."
    )
    memory = _warning("Evicted", "The node was low on resource: memory.")
    assert eviction_fact([("get events -n jobs", memory)]) == (
        "Pods were evicted: the node ran low on memory, and the kubelet evicted pods to reclaim it."
    )


DESCRIBE_LIVENESS = """\
    Liveness:       http-get http://:8080/actuator/health/liveness delay=30s timeout=1s period=10s #success=1 #failure=3
  Warning  Unhealthy  1m (x9 over 6m)  kubelet  Liveness probe failed: Get "http://10.244.1.17:8080/actuator/health/liveness": dial tcp 10.244.1.17:8080: connect: connection refused
"""


def test_a_liveness_probe_that_kills_a_slow_start_says_so() -> None:
    started = "2026-12-07T10:02:11Z INFO Started OrderServiceApplication in 94.317 seconds"
    observed = [
        ("describe pod orders-1 -n shop", DESCRIBE_LIVENESS),
        ("logs orders-1 -n shop --previous", f"Starting OrderServiceApplication\n{started}\n"),
    ]
    fact = liveness_fact(observed)
    assert fact is not None
    assert fact.endswith(
        "the application needs 94.317 s to start, longer than the probe allows (30s delay + 3"
        " failures x 10s), so it is killed while starting: add a startupProbe or raise"
        " initialDelaySeconds."
    )
    # Started within what the probe allows, and the endpoint answers with an error: the
    # probe or what it checks is the problem.
    failing = DESCRIBE_LIVENESS.replace(
        "connect: connection refused", "HTTP probe failed with statuscode: 500"
    )
    quick = [
        ("describe pod orders-1 -n shop", failing),
        ("logs orders-1 -n shop", "Started OrderServiceApplication in 8.1 seconds"),
    ]
    assert str(liveness_fact(quick)).endswith("the probe or the endpoint it checks is the problem.")


@pytest.mark.parametrize(
    ("message", "fact"),
    [
        (
            'Error creating: pods "api-7d9f-x2x" is forbidden: exceeded quota: compute-quota,'
            " requested: limits.memory=1Gi, used: limits.memory=4Gi, limited: limits.memory=4Gi",
            "New pods are refused: ResourceQuota compute-quota is used up (requested"
            " limits.memory=1Gi, used limits.memory=4Gi, limited limits.memory=4Gi).",
        ),
        (
            'Error creating: pods "api-7d9f-x2x" is forbidden: failed quota: compute-quota: must'
            " specify limits.cpu for: api; limits.memory for: api",
            "New pods are refused: ResourceQuota compute-quota requires them to specify"
            " limits.cpu for: api; limits.memory for: api.",
        ),
        (
            'Error creating: pods "api-7d9f-x2x" is forbidden: violates PodSecurity'
            ' "restricted:latest": allowPrivilegeEscalation != false (container "api" must set'
            " securityContext.allowPrivilegeEscalation=false)",
            'New pods are refused by Pod Security admission ("restricted:latest"):'
            ' allowPrivilegeEscalation != false (container "api" must set'
            " securityContext.allowPrivilegeEscalation=false).",
        ),
        (
            'Error creating: pods "api-7d9f-x2x" is forbidden: error looking up service account'
            ' shop/api: serviceaccount "api" not found',
            'New pods are refused: their service account "api" does not exist.',
        ),
        (
            'Error creating: Internal error occurred: failed calling webhook "vpod.kb.io": no'
            " endpoints available for service",
            "New pods cannot be created: Internal error occurred: failed calling webhook"
            ' "vpod.kb.io": no endpoints available for service.',
        ),
    ],
)
def test_pods_a_controller_cannot_create_say_why(message: str, fact: str) -> None:
    event = f"2m  Warning  FailedCreate  replicaset/api-7d9f  {message}"
    assert create_fact([("get events -n shop", event)]) == fact


NODE_CONDITIONS = """\
Conditions:
  Type             Status  LastHeartbeatTime                 LastTransitionTime                Reason                       Message
  ----             ------  -----------------                 ------------------                ------                       -------
  MemoryPressure   False   Mon, 07 Dec 2026 10:01:02 +0000   Mon, 30 Nov 2026 08:00:00 +0000   KubeletHasSufficientMemory   kubelet has sufficient memory available
  DiskPressure     True    Mon, 07 Dec 2026 10:01:02 +0000   Mon, 07 Dec 2026 09:40:12 +0000   KubeletHasDiskPressure       kubelet has disk pressure
  PIDPressure      False   Mon, 07 Dec 2026 10:01:02 +0000   Mon, 30 Nov 2026 08:00:00 +0000   KubeletHasSufficientPID      kubelet has sufficient PID available
  Ready            True    Mon, 07 Dec 2026 10:01:02 +0000   Mon, 30 Nov 2026 08:00:00 +0000   KubeletReady                 kubelet is posting ready status
"""


def test_a_node_under_pressure_is_named_and_a_healthy_one_is_not() -> None:
    assert node_fact([("describe node worker-2", NODE_CONDITIONS)]) == (
        "The node has DiskPressure (KubeletHasDiskPressure: kubelet has disk pressure): the"
        " kubelet evicts pods and refuses new ones until it is relieved."
    )
    healthy = NODE_CONDITIONS.replace("DiskPressure     True", "DiskPressure     False")
    assert node_fact([("describe node worker-2", healthy)]) is None


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            'psql: error: connection to server at "postgres.db.svc.cluster.local" (10.96.7.12),'
            ' port 5432 failed: FATAL:  password authentication failed for user "orders"',
            ' of user orders ("password authentication failed for user "orders"")',
        ),
        (
            "java.sql.SQLException: Access denied for user 'app'@'10.244.2.9' (using password: YES)",
            " of user app (\"Access denied for user 'app'\")",
        ),
        ("ReplyError: WRONGPASS invalid username-password pair", ' ("WRONGPASS")'),
        ("MongoServerError: Authentication failed.", ' ("Authentication failed")'),
    ],
)
def test_a_database_that_refuses_the_credentials_is_named(line: str, said: str) -> None:
    fact = credentials_fact([("logs api-1 -n shop", f"connecting\n{line}\n")])
    assert fact == (
        "A service the application logs in to (a database, a broker) refuses its"
        f" credentials{said}: the password in its Secret or the user is wrong."
    )


@pytest.mark.parametrize(
    ("line", "fact"),
    [
        (
            "Error: EROFS: read-only file system, open '/app/logs/app.log'",
            "The application cannot write /app/logs/app.log: the file system there is read-only"
            ' ("EROFS"), from readOnlyRootFilesystem or a read-only volume.',
        ),
        (
            "PermissionError: [Errno 13] Permission denied: '/backup/db-2026-11-25.sql.gz'",
            'The application is denied access to /backup/db-2026-11-25.sql.gz ("Permission'
            " denied\"): the file's owner or mode does not let the container's user (runAsUser,"
            " fsGroup) use it.",
        ),
        (
            "mkdir: can't create directory '/var/cache/nginx/client_temp': Permission denied",
            'The application is denied access to /var/cache/nginx/client_temp ("Permission'
            " denied\"): the file's owner or mode does not let the container's user (runAsUser,"
            " fsGroup) use it.",
        ),
    ],
)
def test_a_file_the_application_cannot_write_is_named(line: str, fact: str) -> None:
    assert file_access_fact([("logs w-1 -n ns --previous", line)]) == fact


@pytest.mark.parametrize(
    ("line", "fact"),
    [
        (
            'Post "https://payments.example.com/v1/charge": x509: certificate has expired or is'
            " not yet valid: current time 2026-12-07T10:00:00Z is after 2026-12-01T00:00:00Z",
            'A TLS certificate the application checks has expired ("certificate has expired").',
        ),
        (
            'Get "https://vault.internal:8200/v1/sys/health": tls: failed to verify certificate:'
            " x509: certificate signed by unknown authority",
            'The application does not trust a TLS certificate it is shown ("certificate signed'
            ' by unknown authority"): its CA bundle lacks the issuer.',
        ),
    ],
)
def test_a_certificate_the_application_rejects_is_named(line: str, fact: str) -> None:
    assert certificate_fact([("logs api-1 -n shop", line)]) == fact


def test_the_application_s_words_in_the_cluster_s_output_are_not_read_as_its_logs() -> None:
    """Log rules read ``kubectl logs`` only: an event or describe saying the same is not the
    application's failure (a probe's "permission denied" is the kubelet's)."""
    said = "\n".join(
        (
            "Warning  Unhealthy  kubelet  Readiness probe failed: open /ready: permission denied",
            "password authentication failed for user app",
            "x509: certificate has expired",
        )
    )
    assert evidence_facts({}, [("describe pod api-1 -n shop", said)]) == []
    # A database's own "permission denied" names no file.
    table = "ERROR:  permission denied for table orders"
    assert file_access_fact([("logs api-1 -n shop", table)]) is None


@pytest.mark.parametrize(
    ("line", "name", "said"),
    [
        (
            "2026-11-25T09:57:19.403Z FATAL config: required environment variable DATABASE_URL"
            " is not set",
            "DATABASE_URL",
            "config: required environment variable DATABASE_URL is not set",
        ),
        ("KeyError: 'STRIPE_API_KEY'", "STRIPE_API_KEY", "KeyError: 'STRIPE_API_KEY'"),
        (
            "Error: Missing required env var: REDIS_URL",
            "REDIS_URL",
            "Error: Missing required env var: REDIS_URL",
        ),
        (
            "panic: SMTP_HOST must be set",
            "SMTP_HOST",
            "panic: SMTP_HOST must be set",
        ),
    ],
)
def test_an_environment_variable_the_application_lacks_is_named(
    line: str, name: str, said: str
) -> None:
    assert environment_fact([("logs api-1 -n shop --previous", line)]) == (
        f"The application stops because environment variable {name} is missing or empty"
        f' ("{said}"): set it in the container\'s env, or in the Secret or ConfigMap it comes'
        " from."
    )


def test_capitals_that_name_no_missing_variable_say_nothing() -> None:
    for line in (
        "ERROR HTTP_PROXY in use: https://proxy:3128",  # no sign it is missing
        "FATAL: database is not ready",  # a level, not a variable
        "GET /health 200",
    ):
        assert environment_fact([("logs api-1 -n shop", line)]) is None


@pytest.mark.parametrize(
    ("line", "path", "said"),
    [
        (
            'time="2026-11-25T09:58:30Z" level=fatal msg="cannot load configuration"'
            ' error="/etc/gateway/config.yaml: yaml: line 25: mapping values are not allowed in'
            ' this context"',
            "/etc/gateway/config.yaml",
            "yaml: line 25: mapping values are not allowed in this context",
        ),
        (
            '2026/12/07 10:00:01 [emerg] 1#1: unknown directive "proxy_passs" in'
            " /etc/nginx/conf.d/default.conf:14",
            "/etc/nginx/conf.d/default.conf",
            '2026/12/07 10:00:01 [emerg] 1#1: unknown directive "proxy_passs" in'
            " /etc/nginx/conf.d/default.conf:14",
        ),
        (
            "json.decoder.JSONDecodeError while parsing /app/config/settings.json: Expecting"
            " ',' delimiter: line 7 column 3 (char 112)",
            "/app/config/settings.json",
            "json.decoder.JSONDecodeError while parsing /app/config/settings.json: Expecting"
            " ',' delimiter: line 7 column 3 (char 112)",
        ),
    ],
)
def test_a_configuration_file_the_application_cannot_load_is_named(
    line: str, path: str, said: str
) -> None:
    assert config_file_fact([("logs gw-1 -n edge --previous", line)]) == (
        f'The application cannot load its configuration file {path} ("{said}"): the file'
        " (often mounted from a ConfigMap) is not valid."
    )
    loaded = 'level=info msg="loading configuration" path=/etc/gateway/config.yaml'
    assert config_file_fact([("logs gw-1 -n edge", loaded)]) is None


def test_a_configuration_file_that_is_not_there_is_said_missing() -> None:
    line = "Error: failed to open /etc/app/app.toml: no such file or directory"
    assert config_file_fact([("logs a-1 -n x", line)]) == (
        'The application cannot load its configuration file /etc/app/app.toml ("no such file'
        ' or directory"): the file (often mounted from a ConfigMap) is missing.'
    )
    loaded = 'level=info msg="loading configuration" path=/etc/gateway/config.yaml'
    assert config_file_fact([("logs gw-1 -n edge", loaded)]) is None


GO_PANIC = """\
2026/12/07 10:41:02 loading tenants from /etc/router/tenants
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x8f3a21]

goroutine 1 [running]:
main.(*Server).loadTenants(0xc0001c2000, {0x1a3f2e8, 0xc00011a0f0})
\t/src/cmd/router/tenants.go:88 +0x1a1
"""

TRACEBACK = """\
Traceback (most recent call last):
  File "/app/migrate.py", line 41, in <module>
    upgrade()
psycopg2.errors.DuplicateColumn: column "email_verified" of relation "users" already exists

The above exception was the direct cause of the following exception:

sqlalchemy.exc.ProgrammingError: (psycopg2.errors.DuplicateColumn) column "email_verified" already exists
"""


def test_the_error_an_application_dies_with_is_said_with_where() -> None:
    assert crash_fact([("logs r-1 -n edge --previous", GO_PANIC)]) == (
        "The application crashes: panic: runtime error: invalid memory address or nil pointer"
        " dereference (in main.(*Server).loadTenants)."
    )
    # A traceback's last exception is the one it died with.
    assert crash_fact([("logs m-1 -n db", TRACEBACK)]) == (
        "The application fails with its own error: sqlalchemy.exc.ProgrammingError:"
        ' (psycopg2.errors.DuplicateColumn) column "email_verified" already exists.'
    )
    java = 'Exception in thread "main" java.lang.IllegalStateException: no tenants configured'
    assert crash_fact([("logs j-1 -n x", java)]) == (
        f"The application fails with its own error: {java}."
    )
    assert crash_fact([("logs a-1 -n x", "INFO started\nGET /health 200")]) is None


def test_the_crash_is_said_only_when_no_other_fact_explains_more() -> None:
    env = "Traceback (most recent call last):\nKeyError: 'STRIPE_API_KEY'\n"
    facts = evidence_facts({}, [("logs api-1 -n shop", env)])
    assert len(facts) == 1
    assert "environment variable STRIPE_API_KEY" in facts[0]
    assert evidence_facts({}, [("logs r-1 -n edge", GO_PANIC)]) == [
        crash_fact([("logs r-1 -n edge", GO_PANIC)])
    ]


def test_calls_that_get_no_answer_in_time_blame_a_slow_dependency() -> None:
    line = (
        'level=ERROR msg="charge failed" upstream=payments.shop.svc.cluster.local:8443'
        ' err="POST /v1/charge: context deadline exceeded (Client.Timeout exceeded while'
        ' awaiting headers)"'
    )
    assert dependency_fact([("logs checkout-1 -n shop", line)]) == (
        "The application's calls to payments.shop.svc.cluster.local:8443 get no answer in time"
        " (context deadline exceeded): what it depends on there is slow or overloaded. Look at"
        " Service payments in namespace shop and its pods."
    )


def test_evictions_come_before_the_scheduling_they_cause() -> None:
    output = "\n".join(
        (
            _warning("Evicted", "The node was low on resource: ephemeral-storage."),
            "  Warning  FailedScheduling  1m  default-scheduler  0/3 nodes are available: 3"
            " node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }. preemption: 0/3"
            " nodes are available: 3 Preemption is not helpful for scheduling.",
        )
    )
    facts = evidence_facts({}, [("get events -n jobs", output)])
    assert [fact.split(":")[0] for fact in facts] == [
        "Pods were evicted",
        "The scheduler finds no node for the pod (0 of 3 nodes fit)",
    ]


def test_a_liveness_probe_refused_says_nothing_listens_and_when_the_probe_gives_up() -> None:
    fact = liveness_fact([("describe pod orders-1 -n shop", DESCRIBE_LIVENESS)])
    assert fact is not None
    assert fact.endswith(
        "nothing listens on the probed port yet. The probe gives up 60 s after start (30s"
        " delay + 3 failures x 10s): if the application takes longer to start, it is killed"
        " while starting (add a startupProbe or raise initialDelaySeconds); else it listens on"
        " another port."
    )
