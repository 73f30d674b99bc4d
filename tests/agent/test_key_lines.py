"""The failure lines picked out of the evidence for a small model."""

from __future__ import annotations

from pathlib import Path

from punching_fist.agent.key_lines import LINE_CHARS, key_lines, say_why
from punching_fist.agent.prompt import alert_text, first_message, readable_url

RECORDED = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "recorded"


def test_the_quick_starts_oom_kill_is_picked_out_of_its_evidence() -> None:
    lines = key_lines(
        [
            ("describe pod checkout -n shop", (RECORDED / "describe-pod.txt").read_text()),
            ("logs checkout -n shop --previous", (RECORDED / "logs-previous.txt").read_text()),
        ]
    )
    # The application's own error first; the generic crash-loop signs, with lines that say
    # why, left out (a small model quotes them instead).
    assert lines[0].endswith("Cache warm-up failed")
    assert lines[1] == "java.lang.OutOfMemoryError: Java heap space"
    assert not [line for line in lines if "BackOff" in line or "Back-off" in line]
    assert "Reason: OOMKilled" in lines
    assert "Exit Code: 137" in lines
    assert "java.lang.OutOfMemoryError: Java heap space" in lines
    # Probe settings carry timeout=/failure= but show no failure.
    assert not [line for line in lines if line.startswith("Liveness:")]


def test_normal_events_markers_and_numeric_repeats_are_left_out() -> None:
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n"
        "2m  Normal   Pulled   pod/web-1  Container image already present\n"
        "1m  Warning  BackOff  pod/web-1  Back-off restarting failed container\n"
    )
    logs = "\n".join(
        f"2026-11-25T10:00:{i:02d}Z ERROR connect: connection refused" for i in range(9)
    )
    lines = key_lines(
        [
            ("get events -n shop", events),
            ("logs web-1 -n shop", logs + "\n[exit code 1]"),
            ("get pods -n shop", "$ kubectl get pods -n shop"),
        ]
    )
    assert lines == ["2026-11-25T10:00:00Z ERROR connect: connection refused"]
    # Without a line that says why, the generic signs are what there is.
    assert key_lines([("get events -n shop", events)]) == [
        "1m Warning BackOff pod/web-1 Back-off restarting failed container"
    ]


def test_at_most_limit_lines_each_bounded() -> None:
    output = "\n".join(f"error {'x' * 500} {chr(97 + i)}" for i in range(20))
    lines = key_lines([("logs x", output)], limit=3)
    assert len(lines) == 3
    assert all(len(line) <= LINE_CHARS for line in lines)


def test_healthy_output_has_no_key_lines() -> None:
    assert key_lines([("get pods", "NAME READY STATUS RESTARTS\nweb-1 1/1 Running 0\n")]) == []


def test_one_event_seen_by_describe_and_by_get_events_counts_once() -> None:
    message = (
        'Liveness probe failed: Get "http://10.0.0.1:8080/health": connect: connection refused'
    )
    describe = f"Events:\n  Warning  Unhealthy  62s (x27 over 24m)  kubelet  {message}\n"
    events = f"LAST SEEN TYPE REASON OBJECT MESSAGE\n62s Warning Unhealthy pod/web-1 {message}\n"
    lines = key_lines([("describe pod web-1", describe), ("get events", events)])
    assert len(lines) == 1
    assert lines[0].endswith("connection refused")


def test_no_logs_notes_are_not_failures_of_their_own() -> None:
    note = "(no logs: the container has not started; it is waiting: trying to pull image)"
    pulled = "Warning Failed 19m kubelet Failed to pull image x:4.0.3: 401 Unauthorized"
    lines = key_lines([("logs web-1", note), ("describe pod web-1", pulled)])
    assert lines == [pulled]


def test_only_generic_crash_loop_signs_do_not_say_why() -> None:
    generic = ["Reason: CrashLoopBackOff", "Reason: Error", "Exit Code: 1"]
    assert not say_why(generic)
    assert not say_why(
        [*generic, "Warning BackOff 8s kubelet Back-off restarting failed container"]
    )
    assert say_why([*generic, "Exit Code: 137"])
    assert say_why([*generic, "FATAL config: DATABASE_URL is not set"])


def test_the_model_is_told_when_the_failure_lines_do_not_say_why() -> None:
    generic = first_message(
        "Find the root cause.",
        alert=None,
        context=None,
        evidence="...",
        key_lines=["Reason: Error"],
    )
    assert "None of these lines says why it fails" in generic
    specific = first_message(
        "Find the root cause.", alert=None, context=None, evidence="...", key_lines=["OOMKilled"]
    )
    assert "None of these lines" not in specific


def test_the_alert_is_one_field_per_line_with_every_field_a_reader_needs() -> None:
    text = alert_text(
        {
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"},
            "annotations": {"summary": "Pod is crash looping.", "description": "Pod\n  shop/web-1"},
            "startsAt": "2026-11-25T09:49:00+00:00",
            "endsAt": "",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": "not for the model",
        }
    )
    assert text.splitlines() == [
        "status: firing",
        "labels: alertname=KubePodCrashLooping, namespace=shop, pod=web-1",
        "annotations:",
        "  summary: Pod is crash looping.",
        "  description: Pod shop/web-1",
        "startsAt: 2026-11-25T09:49:00+00:00",
        "generatorURL: http://prometheus:9090/graph (expr: up)",
    ]


def test_a_prometheus_link_shows_its_expression_decoded() -> None:
    url = (
        "https://prometheus.example.org/graph?g0.expr=max_over_time%28kube_pod_container_status"
        "_waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1&g0.tab=1"
    )
    assert readable_url(url) == (
        "https://prometheus.example.org/graph (expr: max_over_time(kube_pod_container_status"
        '_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1)'
    )
    assert readable_url("https://grafana.example.org/d/abc?orgId=1") == (
        "https://grafana.example.org/d/abc?orgId=1"
    )


def test_an_application_s_own_words_for_a_failure_are_key_lines() -> None:
    logs = (
        "starting ledger-sync 2.4\n"
        "config file /etc/ledger/config.yaml does not exist\n"
        "Traceback (most recent call last):\n"
        "process exited with status 3\n"
        "all good\n"
    )
    assert key_lines([("logs l -n f", logs)]) == [
        "config file /etc/ledger/config.yaml does not exist",
        "Traceback (most recent call last):",
        "process exited with status 3",
    ]


def test_lines_with_a_signal_word_that_report_no_failure_are_left_out() -> None:
    describe = (
        "Labels: failure-domain.beta.kubernetes.io/zone=eu-west-1a\n"
        "Taints: <none>\n"
        "Tolerations: node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
        "Pods Statuses: 1 Active (0 Ready) / 0 Succeeded / 0 Failed\n"
        "Readiness: http-get http://:8080/ready delay=0s timeout: 5s\n"
    )
    dns = '[INFO] 10.244.1.22:51822 - 4411 "A IN api.stripe.com. udp 32 false 512" NOERROR'
    assert (
        key_lines([("describe pod a -n b", describe), ("logs coredns-1 -n kube-system", dns)]) == []
    )


def test_a_crash_looping_pod_s_row_is_a_generic_sign() -> None:
    row = "ledger-sync-5d8c7b6a9f-qw3er   0/1   CrashLoopBackOff   5 (1m12s ago)   31d"
    error_row = "ledger-sync-5d8c7b6a9f-qw3er   0/1   Error   1   31d"
    lines = key_lines([("get pods -n finance -o wide", f"NAME READY\n{row}\n{error_row}")])
    assert len(lines) == 2
    assert not say_why(lines)
    assert say_why([*lines, "Exit Code: 137"])
