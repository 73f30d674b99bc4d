"""The harness's real services work end to end: if these fail, no integration test can pass."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.harness.k8s import K8sApiServer
from tests.harness.postgres import PostgresServer
from tests.harness.prometheus_stack import TEST_ALERT, TEST_METRIC, PrometheusStack

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook endpoint of the test's own, independent of the harness's relay code."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        payloads = self.payloads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payloads.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def alerts(self, status: str, service: str) -> list[dict[str, Any]]:
        """Alerts for ``service`` with per-alert ``status`` across every payload so far."""
        return [
            alert
            for payload in list(self.payloads)
            for alert in payload["alerts"]
            if alert["status"] == status and alert["labels"].get("service") == service
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    thread.join(timeout=10)
    receiver.server.server_close()


async def test_postgres_gives_each_test_a_fresh_database(
    postgres_server: PostgresServer, postgres_database: PostgresServer, postgres_url: str
) -> None:
    assert postgres_url == postgres_database.async_url
    assert postgres_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    conn = await asyncpg.connect(postgres_database.dsn)
    try:
        assert (await conn.fetchval("SHOW server_version_num")).startswith("15")
        assert await conn.fetchval("SELECT current_database()") == postgres_database.database
        await conn.execute("CREATE TABLE incidents (id int PRIMARY KEY, title text NOT NULL)")
        await conn.execute("INSERT INTO incidents VALUES (1, 'disk full')")
        assert await conn.fetchval("SELECT title FROM incidents WHERE id = 1") == "disk full"
    finally:
        await conn.close()

    shared = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await shared.fetchval("SELECT to_regclass('incidents')") is None
    finally:
        await shared.close()


def test_pushed_metric_fires_and_resolves_alert_at_test_receiver(
    clean_prometheus_stack: PrometheusStack, receiver: Receiver
) -> None:
    stack = clean_prometheus_stack
    service = f"svc-{uuid.uuid4().hex[:8]}"
    stack.set_webhook_target(receiver.url)

    stack.push_metric("pf-smoke", TEST_METRIC, 1, {"service": service, "namespace": "shop"})

    def firing_in_prometheus() -> bool:
        return bool(stack.query(f'ALERTS{{alertname="{TEST_ALERT}",service="{service}"}}'))

    stack.wait_for(firing_in_prometheus, timeout=15)
    [fired, *_] = stack.wait_for(lambda: receiver.alerts("firing", service), timeout=20)
    assert fired["labels"] == {
        "alertname": TEST_ALERT,
        "job": "pf-smoke",
        "service": service,
        "namespace": "shop",
        "severity": "critical",
    }
    assert fired["annotations"]["summary"] == f"{service} is down"
    assert fired["generatorURL"].startswith(stack.prometheus_url)
    relayed = [a for p in stack.received for a in p["alerts"] if a["labels"] == fired["labels"]]
    assert relayed, "the relay recorded nothing it forwarded"

    stack.delete_metric_group("pf-smoke")

    [resolved, *_] = stack.wait_for(lambda: receiver.alerts("resolved", service), timeout=20)
    assert resolved["labels"] == fired["labels"]
    assert resolved["endsAt"] > resolved["startsAt"]
    assert not stack.query(f'{TEST_METRIC}{{service="{service}"}}')


def test_kubectl_lists_namespaces_and_round_trips_an_object(k8s_apiserver: K8sApiServer) -> None:
    listed = json.loads(k8s_apiserver.kubectl("get", "namespaces", "-o", "json"))
    assert "default" in {item["metadata"]["name"] for item in listed["items"]}
    assert {item["kind"] for item in listed["items"]} == {"Namespace"}

    # A ConfigMap rather than a namespace: the kit cannot GET or DELETE one namespace by name.
    name = f"pf-smoke-{uuid.uuid4().hex[:8]}"
    k8s_apiserver.kubectl("create", "configmap", name, "-n", "default", "--from-literal=k=v")
    try:
        stored = json.loads(
            k8s_apiserver.kubectl("get", "configmap", name, "-n", "default", "-o", "json")
        )
        assert stored["data"] == {"k": "v"}
        assert stored["metadata"]["resourceVersion"]
    finally:
        k8s_apiserver.kubectl("delete", "configmap", name, "-n", "default")
