"""The Slack sink against a local Slack Web API: layout, threads, rate limits, idempotency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sinks.support import (
    FAST,
    SLACK_TOKEN,
    delivery_of,
    fire,
    pipeline,
    serve,
)
from tests.support.fake_http import FakeRequest, FakeResponse
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN, channels={"C0OPS0001": "ops-alerts"})
    with fake.running():
        yield fake


def slack_sink(
    slack: FakeSlack,
    *,
    name: str = "slack",
    message_type: str = "thread",
    extra: str = "",
    channel: str = "#ops-alerts",
    delivery: str = FAST,
) -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: {name}}}
spec:
  type: slack
  config:
    channel: "{channel}"
    botToken: env://SLACK_TOKEN
    endpoint: {slack.api_url}
    messageType: {message_type}
    mentionUsers: ["@oncall", "U0ONCALL1", "@here"]
{extra}{delivery}
"""


async def test_posts_block_kit_result_with_severity_summary_root_cause_and_run_link(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(slack_sink(slack), ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")

    assert delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 1
    [message] = slack.posted()
    assert message.channel == "C0OPS0001"
    assert delivery["response"] == {"channel": "C0OPS0001", "ts": message.ts}
    assert delivery["external_ref"] == message.ts
    kinds = [block["type"] for block in message.blocks]
    assert kinds == ["header", "section", "section", "section", "context", "actions"]
    assert message.blocks[0]["text"]["text"] == "🔴 CRITICAL · PodCrashLooping"
    lead = message.blocks[1]["text"]["text"]
    assert lead.startswith("@oncall <@U0ONCALL1> <!here>\n*Summary*\nPod checkout-7d9f is crash")
    assert message.blocks[2]["text"]["text"] == (
        "*Root cause*\nOOMKilled: the memory limit of 128Mi is too low"
    )
    assert message.blocks[3]["text"]["text"] == (
        "*Recommendations*\n• Raise the memory limit to 256Mi\n• Watch the restart count for 10 minutes"
    )
    context = message.blocks[4]["elements"][0]["text"]
    assert "*Confidence:* 87%" in context
    assert "*Workflow:* triage succeeded in" in context
    assert "*Auto-fixed:* no" in context
    button = message.blocks[5]["elements"][0]
    assert button["url"] == f"{server.url}/api/v1/runs/{run_id}"
    assert message.text.startswith("@oncall <@U0ONCALL1> <!here> 🔴 CRITICAL · PodCrashLooping")
    assert message.metadata == {
        "event_type": "punchingfist_delivery",
        "event_payload": {"idempotency_key": f"pf-{delivery['id']}", "run_id": run_id},
    }


async def test_sink_template_renders_into_the_message_with_slack_bold(
    slack: FakeSlack, tmp_path: Path
) -> None:
    extra = """    template: |
      **Alert:** {{ .source.data.alert.alertname }} on {{ .source.name }}
      **Workflow:** {{ .workflow.name }} ({{ .workflow.status }})
"""
    resources = pipeline(slack_sink(slack, extra=extra), ["slack"])
    async with serve(resources, tmp_path) as server:
        await fire(server)
    [message] = slack.posted()
    assert message.blocks[1]["text"]["text"] == (
        "@oncall <@U0ONCALL1> <!here>\n*Alert:* PodCrashLooping on am\n*Workflow:* triage (succeeded)"
    )


async def test_follow_ups_about_the_same_alert_reply_in_its_thread(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(slack_sink(slack), ["slack"], on_resolved=True)
    async with serve(resources, tmp_path) as server:
        await fire(server, fingerprint="fp-thread")
        await fire(server, fingerprint="fp-thread", status="resolved")
        # Another group and another workload: another incident.
        await fire(
            server, fingerprint="fp-other", group_key="other", labels={"pod": "payments-5c4b"}
        )
    first, resolution, other = slack.posted()
    assert first.thread_ts is None
    assert resolution.thread_ts == first.ts  # the resolution went into the alert's thread
    assert resolution.blocks[0]["text"]["text"] == "✅ RESOLVED · PodCrashLooping"
    assert other.thread_ts is None  # another incident starts its own thread
    assert first.replies == [resolution.ts]


async def test_message_type_message_posts_each_result_at_the_top_level(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(
        slack_sink(slack, message_type="message"),
        ["slack"],
        on_resolved=True,
        investigate="perAlert",  # an incident threads whatever messageType says
    )
    async with serve(resources, tmp_path) as server:
        await fire(server, fingerprint="fp-msg")
        await fire(server, fingerprint="fp-msg", status="resolved")
    assert [m.thread_ts for m in slack.posted()] == [None, None]


async def test_rate_limit_waits_for_retry_after_then_delivers_once(
    slack: FakeSlack, tmp_path: Path
) -> None:
    slack.rate_limit_next(1, retry_after=1)
    resources = pipeline(slack_sink(slack), ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
    posts = slack.requests_to("/api/chat.postMessage")
    assert len(posts) == 2
    assert len(slack.posted()) == 1
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 2
    first, second = delivery["attempt_log"]
    assert first["outcome"] == "failed"
    assert first["error"] == "slack answered 429: ratelimited"
    # The policy's backoff is 0.05s; Retry-After: 1 is what made it wait a whole second.
    waited = _seconds_between(first["startedAt"], second["startedAt"])
    assert waited >= 1.0


async def test_api_errors_are_dead_lettered_and_a_manual_retry_delivers_after_the_fix(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(slack_sink(slack, channel="#no-such-channel"), ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
        assert delivery["status"] == "failed"
        assert delivery["attempts"] == 1  # channel_not_found is permanent: no retries
        assert delivery["error"] == "slack answered 200: channel_not_found"
        dead = (await server.client.get("/api/v1/deliveries", params={"status": "failed"})).json()
        assert [d["id"] for d in dead["items"]] == [delivery["id"]]

        slack.channels["C0NEW0001"] = "no-such-channel"  # the channel now exists
        retried = await server.client.post(f"/api/v1/deliveries/{delivery['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "delivered"
        assert retried.json()["attempts"] == 2
    assert [m.channel for m in slack.posted()] == ["C0NEW0001"]


async def test_re_sending_a_delivered_result_edits_the_message_instead_of_posting_again(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(slack_sink(slack), ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
        retried = await server.client.post(f"/api/v1/deliveries/{delivery['id']}/retry")
        assert retried.json()["response"]["updated"] is True
    [message] = slack.posted()
    assert message.edits == 1
    assert len(slack.requests_to("/api/chat.postMessage")) == 1


async def test_a_post_whose_answer_was_lost_is_found_again_not_posted_twice(
    slack: FakeSlack, tmp_path: Path
) -> None:
    # Slack stores the message but the answer never arrives in time (the attempt times out);
    # the next attempt reads the channel back, finds the message by its metadata, adopts it.
    delivery_settings = FAST.replace("timeoutSeconds: 5", "timeoutSeconds: 0.5")
    resources = pipeline(slack_sink(slack, delivery=delivery_settings), ["slack"])
    original = slack.handle

    def slow_first_post(request: FakeRequest) -> FakeResponse:
        response = original(request)
        if request.path == "/api/chat.postMessage" and len(slack.posted()) == 1:
            time.sleep(1.0)
        return response

    slack.handle = slow_first_post  # type: ignore[method-assign]
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 2
    assert delivery["response"]["adopted"] is True
    assert len(slack.posted()) == 1
    assert len(slack.requests_to("/api/chat.postMessage")) == 1
    assert len(slack.requests_to("/api/conversations.list")) == 1  # #name → ID for history


async def test_a_literal_token_in_the_resource_is_refused(slack: FakeSlack, tmp_path: Path) -> None:
    sink = slack_sink(slack).replace("botToken: env://SLACK_TOKEN", "botToken: xoxb-literal-token")
    resources = pipeline(sink, ["slack"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "slack")
    assert delivery["status"] == "failed"
    assert "botToken must be a secret reference" in delivery["error"]
    assert slack.requests == []


def _seconds_between(a: str, b: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
