"""Delivery semantics across sinks: concurrency, faults, breakers, dead letters, restarts, secrets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.store.tables import sink_correlations, sink_status
from tests.sinks.support import (
    FAST,
    JIRA_TOKEN,
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    delivery_of,
    eventually,
    fire,
    pipeline,
    run_detail,
    serve,
    stored_rows_text,
)
from tests.sinks.test_jira import jira_sink
from tests.sinks.test_pagerduty import pd_sink
from tests.sinks.test_slack import slack_sink
from tests.support.fake_http import FakeRequest, FakeResponse
from tests.support.fake_jira import FakeJira
from tests.support.fake_pagerduty import FakePagerDuty
from tests.support.fake_slack import FakeSlack
from tests.support.server import RunningServer

BREAKER = """
  delivery:
    timeoutSeconds: 5
    retry: {maxAttempts: 3, initialDelaySeconds: 0.05, maxDelaySeconds: 0.2, jitter: 0}
    circuitBreaker: {failureThreshold: 3, resetSeconds: 1}
"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN)
    with fake.running():
        yield fake


async def sinks_api(server: RunningServer) -> dict[str, Any]:
    items = (await server.client.get("/api/v1/sinks")).json()["items"]
    return {item["name"]: item for item in items}


async def test_a_runs_sinks_are_delivered_concurrently(
    slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    for fake in (slack, pagerduty):
        original = fake.handle

        def slow(
            request: FakeRequest, original: Callable[[FakeRequest], FakeResponse] = original
        ) -> FakeResponse:
            time.sleep(0.6)
            return original(request)

        fake.handle = slow  # type: ignore[method-assign]
    resources = pipeline(slack_sink(slack) + "---" + pd_sink(pagerduty), ["slack", "pd"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        detail = await run_detail(server, run_id)
    windows = {
        d["sink_name"]: (
            datetime.fromisoformat(d["last_attempt_at"]),
            datetime.fromisoformat(d["completed_at"]),
        )
        for d in detail["deliveries"]
    }
    for start, end in windows.values():
        assert (end - start).total_seconds() >= 0.5  # each destination took 0.6s to answer
    (slack_start, slack_end), (pd_start, pd_end) = windows["slack"], windows["pd"]
    assert slack_start < pd_end  # so the two sends overlapped
    assert pd_start < slack_end


async def test_down_for_the_first_attempts_then_up_delivers_exactly_once(
    slack: FakeSlack, tmp_path: Path, database_url: str
) -> None:
    slack.fail_next(2, 503, "upstream connect error", path="/api/chat.postMessage")
    resources = pipeline(slack_sink(slack), ["slack"])
    async with serve(resources, tmp_path, database_url=database_url) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
        sinks = await sinks_api(server)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert len(slack.requests_to("/api/chat.postMessage")) == 3
    assert len(slack.posted()) == 1
    assert sinks["slack"]["status"]["messagesSent"] == 1
    assert sinks["slack"]["status"]["lastError"] == "slack answered 503"
    assert sinks["slack"]["circuitBreaker"] == "closed"


async def test_a_dead_destination_is_dead_lettered_opens_its_breaker_and_spares_the_others(
    slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    slack.down(503, "service unavailable")
    sinks_yaml = slack_sink(slack, delivery=BREAKER) + "---" + pd_sink(pagerduty)
    resources = pipeline(sinks_yaml, ["slack", "pd"])
    async with serve(resources, tmp_path) as server:
        first_run = await fire(server, fingerprint="fp-a")
        dead = await delivery_of(server, first_run, "slack")
        assert dead["status"] == "failed"  # dead-lettered after the last of 3 attempts
        assert dead["attempts"] == 3
        assert (await delivery_of(server, first_run, "pd"))["status"] == "delivered"
        sinks = await sinks_api(server)
        assert sinks["slack"]["circuitBreaker"] == "open"
        assert sinks["slack"]["status"]["messagesSent"] == 0
        assert sinks["slack"]["status"]["lastError"] == "slack answered 503"
        assert sinks["pd"]["circuitBreaker"] == "closed"
        assert sinks["pd"]["status"]["messagesSent"] == 1
        assert datetime.fromisoformat(sinks["pd"]["status"]["lastSentTime"])

        # While open, a new result is parked without touching the dead destination.
        calls_before = len(slack.requests)
        second_run = await fire(server, fingerprint="fp-b")
        parked = await delivery_of(server, second_run, "slack")
        assert parked["status"] == "deferred"
        assert parked["attempts"] == 0
        assert parked["error"] == "circuit breaker open"
        assert len(slack.requests) == calls_before
        assert (await delivery_of(server, second_run, "pd"))["status"] == "delivered"

        # Slack recovers: after resetSeconds the parked delivery is the half-open probe;
        # it succeeds and closes the breaker.
        slack.up()

        async def probed() -> bool:
            return bool((await delivery_of(server, second_run, "slack"))["status"] == "delivered")

        await eventually(probed, timeout=10)
        assert (await sinks_api(server))["slack"]["circuitBreaker"] == "closed"

        # The dead letter goes out by hand.
        retried = await server.client.post(f"/api/v1/deliveries/{dead['id']}/retry")
        assert retried.status_code == 200
        assert retried.json()["status"] == "delivered"
        assert retried.json()["attempts"] == 4
        assert (await sinks_api(server))["slack"]["status"]["messagesSent"] == 2
    assert len(slack.posted()) == 2


async def test_manual_retry_refuses_what_it_cannot_retry(slack: FakeSlack, tmp_path: Path) -> None:
    resources = pipeline(
        slack_sink(slack), ["{name: slack, condition: '{{ eq .workflow.status \"failed\" }}'}"]
    )
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        skipped = await delivery_of(server, run_id, "slack")
        assert skipped["status"] == "skipped"
        conflict = await server.client.post(f"/api/v1/deliveries/{skipped['id']}/retry")
        missing = await server.client.post(
            "/api/v1/deliveries/00000000-0000-0000-0000-000000000000/retry"
        )
    assert conflict.status_code == 409
    assert "skipped" in conflict.json()["detail"]
    assert missing.status_code == 404
    assert slack.requests == []


async def test_state_kept_across_a_restart_threads_and_comments_the_next_result(
    slack: FakeSlack, jira: FakeJira, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    sinks_yaml = "---".join([slack_sink(slack), jira_sink(jira), pd_sink(pagerduty)])
    resources = pipeline(sinks_yaml, ["slack", "jira", "pd"], on_resolved=True)
    async with serve(resources, tmp_path) as server:
        first_run = await fire(server, fingerprint="fp-restart")
    posts_before = len(slack.requests_to("/api/chat.postMessage"))

    # Same SQLite file, new process state: nothing is delivered again at start-up, and the
    # next result about the alert finds the thread, the issue and the incident.
    async with serve(resources, tmp_path) as server:
        await server.settle()
        assert len(slack.requests_to("/api/chat.postMessage")) == posts_before
        resolved_run = await fire(server, fingerprint="fp-restart", status="resolved")
        detail = await run_detail(server, resolved_run)
    assert {d["sink_name"]: d["status"] for d in detail["deliveries"]} == {
        "slack": "delivered",
        "jira": "delivered",
        "pd": "delivered",
    }
    first, reply = slack.posted()
    assert reply.thread_ts == first.ts
    [issue] = jira.issues.values()
    assert len(issue.comments) == 1
    assert len(pagerduty.incidents) == 1
    assert first_run != resolved_run


async def test_secrets_never_reach_the_database_or_the_logs(
    slack: FakeSlack,
    jira: FakeJira,
    pagerduty: FakePagerDuty,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # slack_sdk and httpx log requests at DEBUG
    # Destinations that echo credentials back in their error bodies, as some proxies do.
    pagerduty.fail_next(
        3,
        400,
        {"status": "invalid event", "message": f"bad routing_key {PD_ROUTING_KEY}", "errors": []},
    )
    jira.fail_next(
        1, 500, f"upstream rejected Authorization: Bearer {JIRA_TOKEN}", path="/rest/api/2/issue"
    )
    slack.fail_next(1, 500, {"ok": False, "error": f"token {SLACK_TOKEN} is odd"})
    sinks_yaml = "---".join([slack_sink(slack), jira_sink(jira), pd_sink(pagerduty)])
    resources = pipeline(sinks_yaml, ["slack", "jira", "pd"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        detail = await run_detail(server, run_id)
        rows = await stored_rows_text(server.service)
        async with server.service.database.connect() as conn:
            extra = [
                dict(row)
                for table in (sink_status, sink_correlations)
                for row in (await conn.execute(select(table))).mappings()
            ]
        api = (await server.client.get("/api/v1/sinks")).text
    statuses = {d["sink_name"]: d["status"] for d in detail["deliveries"]}
    assert statuses == {"slack": "delivered", "jira": "delivered", "pd": "failed"}
    pd_row = next(d for d in detail["deliveries"] if d["sink_name"] == "pd")
    assert pd_row["error"] == "pagerduty answered 400: bad routing_key [redacted]"
    jira_row = next(d for d in detail["deliveries"] if d["sink_name"] == "jira")
    assert "[redacted]" in jira_row["attempt_log"][0]["error"]

    out, err = capfd.readouterr()
    everything = "\n".join([rows, str(extra), api, str(detail), caplog.text, out, err])
    for secret in (SLACK_TOKEN, JIRA_TOKEN, PD_ROUTING_KEY):
        assert secret not in everything
    # The secrets did travel where they belong: to the destinations.
    assert any(r.headers.get("authorization") == f"Bearer {SLACK_TOKEN}" for r in slack.requests)
    assert any(PD_ROUTING_KEY.encode() in r.body for r in pagerduty.requests)


async def test_a_long_backoff_parks_the_delivery_and_lets_the_run_finish(
    slack: FakeSlack, tmp_path: Path
) -> None:
    slack.fail_next(1, 503, "busy", path="/api/chat.postMessage")
    slow_retry = FAST.replace(
        "initialDelaySeconds: 0.05, maxDelaySeconds: 0.2",
        "initialDelaySeconds: 120, maxDelaySeconds: 600",
    )
    resources = pipeline(slack_sink(slack, delivery=slow_retry), ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        detail = await run_detail(server, run_id)
        parked = next(d for d in detail["deliveries"] if d["sink_name"] == "slack")
        assert detail["status"] == "succeeded"  # the run did not wait two minutes
        assert parked["status"] == "deferred"
        assert parked["attempts"] == 1
        wait = datetime.fromisoformat(parked["next_attempt_at"]) - datetime.fromisoformat(
            parked["last_attempt_at"]
        )
        assert 119 <= wait.total_seconds() <= 121
        listed = (
            await server.client.get("/api/v1/deliveries", params={"status": "deferred"})
        ).json()
        assert [d["id"] for d in listed["items"]] == [parked["id"]]
        sent = (await server.client.post(f"/api/v1/deliveries/{parked['id']}/retry")).json()
    assert sent["status"] == "delivered"
    assert sent["attempts"] == 2
    assert sent["next_attempt_at"] is None
    assert len(slack.posted()) == 1
