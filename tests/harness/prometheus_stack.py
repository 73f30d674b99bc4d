"""Prometheus, Alertmanager and Pushgateway on 127.0.0.1, wired into one alert pipeline.

Pushing ``pf_test_up 1`` to the Pushgateway makes Prometheus fire ``PFTestAlert``, which
Alertmanager delivers to a webhook; deleting the group resolves it. The stack is slow to
start (Prometheus hands new targets to its scraper and notifier only every 5 s), so it runs
once per session, yet each test wants webhooks at its own receiver. Alertmanager is
therefore pointed at a small in-process relay, and tests tell the relay where to forward.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict, TypeVar, overload

import httpx
import yaml

from tests.harness.ports import LOOPBACK, free_ports
from tests.harness.processes import (
    ManagedProcess,
    PortInUseError,
    wait_until,
    wait_until_async,
)

T = TypeVar("T")

PROMETHEUS_BIN = Path("/usr/bin/prometheus")
ALERTMANAGER_BIN = Path("/usr/bin/prometheus-alertmanager")
PUSHGATEWAY_BIN = Path("/usr/bin/prometheus-pushgateway")
TEST_ALERT = "PFTestAlert"
TEST_METRIC = "pf_test_up"
START_ATTEMPTS = 3


def prometheus_binaries_missing() -> list[str]:
    """Return the stack's programs that are not installed."""
    binaries = (PROMETHEUS_BIN, ALERTMANAGER_BIN, PUSHGATEWAY_BIN)
    return [str(path) for path in binaries if not path.is_file()]


class WebhookAlert(TypedDict):
    """One alert in Alertmanager's webhook payload (version 4)."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    endsAt: str
    generatorURL: str
    fingerprint: NotRequired[str]


class WebhookPayload(TypedDict):
    """The body Alertmanager POSTs to a ``webhook_configs`` receiver."""

    version: str
    groupKey: str
    status: str
    receiver: str
    groupLabels: dict[str, str]
    commonLabels: dict[str, str]
    commonAnnotations: dict[str, str]
    externalURL: str
    alerts: list[WebhookAlert]
    truncatedAlerts: NotRequired[int]


class InstantSample(TypedDict):
    """One element of an instant-vector query result."""

    metric: dict[str, str]
    value: list[Any]  # [unix time as float, sample value as string]


class WebhookRelay:
    """An HTTP server that records Alertmanager's webhooks and forwards them.

    Runs in its own thread, not on an event loop: the session outlives every test's loop,
    and a blocked or finished loop must not stall Alertmanager's deliveries. The target's
    status code is passed back, so a failing receiver makes Alertmanager retry as it
    would in production.
    """

    def __init__(self) -> None:
        """Bind to a free port on 127.0.0.1 (port 0: no race with other processes)."""
        self.received: list[WebhookPayload] = []
        self._target: str | None = None
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pf-webhook-relay", daemon=True
        )

    @property
    def url(self) -> str:
        """Where Alertmanager posts."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/alertmanager"

    @property
    def target(self) -> str | None:
        """Where webhooks are forwarded now; ``None`` means record only."""
        with self._lock:
            return self._target

    @target.setter
    def target(self, url: str | None) -> None:
        with self._lock:
            self._target = url

    def start(self) -> None:
        """Serve in the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def _deliver(self, body: bytes, content_type: str) -> tuple[int, bytes]:
        self.received.append(json.loads(body))
        target = self.target
        if target is None:
            return 200, b""
        try:
            response = httpx.post(
                target, content=body, headers={"Content-Type": content_type}, timeout=10
            )
        except httpx.TransportError as exc:
            return 502, f"relay could not reach {target}: {exc}".encode()
        return response.status_code, response.content

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                content_type = self.headers.get("Content-Type", "application/json")
                status, reply = relay._deliver(body, content_type)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean; Alertmanager logs failed deliveries itself."""

        return Handler


@dataclass(frozen=True, kw_only=True)
class PrometheusStack:
    """The running alert pipeline and helpers to drive it."""

    prometheus_url: str
    """Base URL of Prometheus, e.g. ``http://127.0.0.1:PORT``."""
    alertmanager_url: str
    """Base URL of Alertmanager."""
    pushgateway_url: str
    """Base URL of the Pushgateway, scraped by Prometheus every second."""
    webhook_url: str
    """The relay URL that Alertmanager's only receiver (``pf``) posts to."""
    relay: WebhookRelay = field(repr=False)
    """The relay behind ``webhook_url``."""

    @property
    def received(self) -> list[WebhookPayload]:
        """Every payload Alertmanager delivered, oldest first (cleared by ``reset``)."""
        return self.relay.received

    def set_webhook_target(self, url: str | None) -> None:
        """Forward Alertmanager's webhooks to ``url`` from now on (``None``: record only)."""
        self.relay.target = url

    def push_metric(
        self,
        job: str,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        grouping: Mapping[str, str] | None = None,
    ) -> None:
        """Set one gauge sample in the Pushgateway group ``job`` (+ ``grouping``).

        Uses POST, which replaces only same-named metrics in the group.
        """
        label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in (labels or {}).items())
        sample = f"{name}{{{label_text}}} {value!r}" if label_text else f"{name} {value!r}"
        body = f"# TYPE {name} gauge\n{sample}\n"
        response = httpx.post(self._group_url(job, grouping), content=body, timeout=10)
        response.raise_for_status()

    def delete_metric_group(self, job: str, *, grouping: Mapping[str, str] | None = None) -> None:
        """Delete a Pushgateway group; its series go stale and their alerts resolve."""
        response = httpx.delete(self._group_url(job, grouping), timeout=10)
        response.raise_for_status()

    def wipe_pushgateway(self) -> None:
        """Delete every group, whoever pushed it."""
        response = httpx.put(f"{self.pushgateway_url}/api/v1/admin/wipe", timeout=10)
        response.raise_for_status()

    def query(self, promql: str) -> list[InstantSample]:
        """Evaluate an instant query and return the vector."""
        response = httpx.get(
            f"{self.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10
        )
        response.raise_for_status()
        data = response.json()["data"]
        if data["resultType"] != "vector":
            raise ValueError(f"{promql!r} returned a {data['resultType']}, not a vector")
        result: list[InstantSample] = data["result"]
        return result

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0) -> T:
        """Poll ``predicate`` until truthy and return its value (blocking)."""
        return wait_until(predicate, timeout=timeout, what=getattr(predicate, "__name__", "?"))

    @overload
    async def wait_for_async(
        self, predicate: Callable[[], Awaitable[T]], timeout: float = 30.0
    ) -> T: ...

    @overload
    async def wait_for_async(self, predicate: Callable[[], T], timeout: float = 30.0) -> T: ...

    async def wait_for_async(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Like ``wait_for`` but lets the test's event loop run between polls.

        ``predicate`` may be a coroutine function, e.g. one that queries the database.
        """
        return await wait_until_async(
            predicate, timeout=timeout, what=getattr(predicate, "__name__", "?")
        )

    def reset(self) -> None:
        """Forget the webhook target and payloads and delete all pushed metrics.

        Alerts that were firing resolve a few seconds later; their ``resolved`` webhooks
        may reach the next test, so tests should match on their own label values.
        """
        self.set_webhook_target(None)
        self.wipe_pushgateway()
        self.received.clear()

    def _group_url(self, job: str, grouping: Mapping[str, str] | None) -> str:
        # base64 segments allow any value, "/" included; "=" encodes the empty string.
        parts = [f"job@base64/{_b64(job)}"]
        parts += [f"{key}@base64/{_b64(val)}" for key, val in (grouping or {}).items()]
        return f"{self.pushgateway_url}/metrics/{'/'.join(parts)}"


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode() or "="


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _alertmanager_config(relay_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "pf",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "5s",  # short, so tests can observe repeats
        },
        "receivers": [
            {"name": "pf", "webhook_configs": [{"url": relay_url, "send_resolved": True}]}
        ],
    }


def _prometheus_config(alertmanager_port: int, pushgateway_port: int) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{LOOPBACK}:{alertmanager_port}"]}]}
            ]
        },
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,  # keep the pushed job/service/namespace labels
                "static_configs": [{"targets": [f"{LOOPBACK}:{pushgateway_port}"]}],
            }
        ],
    }


def _rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "pf-test",
                "rules": [
                    {
                        "alert": TEST_ALERT,
                        "expr": f"{TEST_METRIC} == 1",
                        "for": "0s",
                        "labels": {
                            "severity": "critical",
                            "service": "{{ $labels.service }}",
                            "namespace": "{{ $labels.namespace }}",
                        },
                        "annotations": {
                            "summary": "{{ $labels.service }} is down",
                            "description": (
                                "Test alert: {{ $labels.service }} in namespace "
                                "{{ $labels.namespace }} reported pf_test_up == 1."
                            ),
                        },
                    }
                ],
            }
        ]
    }


def _write_yaml(path: Path, content: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def _prometheus_wired(prometheus_url: str) -> bool:
    """Whether Prometheus scrapes the Pushgateway and knows Alertmanager.

    Being ``/-/ready`` is not enough: targets arrive up to 5 s later, and an alert fired
    before then would silently go nowhere.
    """
    try:
        managers = httpx.get(f"{prometheus_url}/api/v1/alertmanagers", timeout=2).json()
        targets = httpx.get(f"{prometheus_url}/api/v1/targets", timeout=2).json()
    except httpx.TransportError:
        return False
    known = bool(managers["data"]["activeAlertmanagers"])
    scraped = any(t["health"] == "up" for t in targets["data"]["activeTargets"])
    return known and scraped


@contextlib.contextmanager
def running_prometheus_stack(workdir: Path) -> Iterator[PrometheusStack]:
    """Start relay, Alertmanager, Pushgateway and Prometheus; stop them all on exit."""
    with contextlib.ExitStack() as resources:
        relay = WebhookRelay()
        relay.start()
        resources.callback(relay.stop)
        for attempt in range(1, START_ATTEMPTS + 1):
            attempt_dir = workdir / f"attempt-{attempt}"
            attempt_dir.mkdir(parents=True)
            try:
                stack = resources.enter_context(_started_processes(attempt_dir, relay))
            except PortInUseError:
                if attempt == START_ATTEMPTS:
                    raise
            else:
                break
        yield stack


@contextlib.contextmanager
def _started_processes(workdir: Path, relay: WebhookRelay) -> Iterator[PrometheusStack]:
    am_port, pg_port, prom_port = free_ports(3)
    _write_yaml(workdir / "alertmanager.yml", _alertmanager_config(relay.url))
    _write_yaml(workdir / "prometheus.yml", _prometheus_config(am_port, pg_port))
    _write_yaml(workdir / "rules.yml", _rules())
    am_url, pg_url, prom_url = (f"http://{LOOPBACK}:{p}" for p in (am_port, pg_port, prom_port))

    alertmanager = ManagedProcess(
        "alertmanager",
        [
            str(ALERTMANAGER_BIN),
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address={LOOPBACK}:{am_port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0
            f"--web.external-url={am_url}",  # else payload links name the host, not 127.0.0.1
        ],
        log_path=workdir / "alertmanager.log",
    )
    pushgateway = ManagedProcess(
        "pushgateway",
        [
            str(PUSHGATEWAY_BIN),
            f"--web.listen-address={LOOPBACK}:{pg_port}",
            "--persistence.file=",  # keep metrics in memory only
            "--web.enable-admin-api",  # for the wipe between tests
        ],
        log_path=workdir / "pushgateway.log",
    )
    prometheus = ManagedProcess(
        "prometheus",
        [
            str(PROMETHEUS_BIN),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address={LOOPBACK}:{prom_port}",
            "--rules.alert.resend-delay=1s",
            f"--web.external-url={prom_url}",  # generatorURL points back at 127.0.0.1
            "--web.enable-lifecycle",
        ],
        log_path=workdir / "prometheus.log",
        cwd=workdir,
    )
    with contextlib.ExitStack() as stack:
        # Start all three before waiting on any: their start-up overlaps.
        for process in (alertmanager, pushgateway, prometheus):
            stack.enter_context(process)
        alertmanager.wait_ready(url=f"{am_url}/-/ready")
        pushgateway.wait_ready(url=f"{pg_url}/-/ready")
        prometheus.wait_ready(url=f"{prom_url}/-/ready")
        prometheus.wait_ready(check=lambda: _prometheus_wired(prom_url), timeout=30)
        yield PrometheusStack(
            prometheus_url=prom_url,
            alertmanager_url=am_url,
            pushgateway_url=pg_url,
            webhook_url=relay.url,
            relay=relay,
        )
