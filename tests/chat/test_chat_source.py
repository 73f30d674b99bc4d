"""A chat Source served for real: Slack's signed events and slash commands start the
workflow, the ChatbotAgent answers in the thread (the local Slack and LLM stand-ins), a
follow-up continues the thread's conversation, a retried event starts nothing new, and a
write is an approval button only an approver's click runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from punching_fist.approvals.slack_blocks import APPROVE
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.agent.kit import kubectl_stand_in, server_settings
from tests.sinks.test_slack_approvals import click, post_interaction
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.fake_slack import FakeSlack, SlackMessage
from tests.support.server import RunningServer, resources_from_yaml, running_server
from tests.support.slack_requests import SlackRequests

T = TypeVar("T")

TOKEN = "xoxb-1111-2222-ChatBotToken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0OPS0001"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SLACK = SlackRequests(SIGNING_SECRET)
"""Signs as Slack does; its event ids are unique across the tests."""

SCRIPTS = [
    Script(
        [
            final(summary="web is OOMKilled", root_cause="its memory limit is 128Mi"),
            final(summary="raise the limit to 512Mi and watch it"),
            final(summary="it has not restarted since"),
        ],
        match="why is web down",
    ),
    Script([final(summary="the disks have room")], match="disk"),
    Script(
        [kubectl("delete pod web-1 -n shop"), final(summary="restarted web-1")],
        match="restart web",
    ),
]


def resources_yaml(slack: FakeSlack, llm: FakeLLM, *, approvals: bool = False) -> str:
    common = (
        "botToken: env://SLACK_TOKEN, signingSecret: env://SLACK_SIGNING_SECRET,"
        f' endpoint: "{slack.api_url}"'
    )
    sink = ""
    sinks = ""
    if approvals:
        sink = f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: approvals}}
spec:
  type: slack
  config:
    channel: "{CHANNEL}"
    botToken: env://SLACK_TOKEN
    endpoint: "{slack.api_url}"
    approvals: true
    approvers: [U0ALICE01]
    signingSecret: env://SLACK_SIGNING_SECRET
---"""
        sinks = '  sinks: [{name: approvals, condition: "false"}]\n'
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: slack-mentions}}
spec:
  type: chat
  config: {{platform: slack, trigger: mention, channel: {CHANNEL}, {common}}}
  triggerWorkflow: chat
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: slack-punch}}
spec:
  type: chat
  config: {{platform: slack, trigger: command, command: /punch, {common}}}
  triggerWorkflow: chat
---{sink}
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: chat}}
spec:
  runtime:
    llmConfig: {{provider: local, endpoint: "{llm.url}", model: test-model}}
  steps:
    - name: answer
      type: agent
      mode: chat
      goal: "{{{{ .source.data.message.text }}}}"
      tools: [kubectl]
      approvalRequired: {str(approvals).lower()}
      maxIterations: 4
      timeoutMinutes: 1
{sinks}"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN)
    with fake.running():
        yield fake


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(SCRIPTS) as fake:
        yield fake


@asynccontextmanager
async def serve(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path, database_url: str | None = None, **options: Any
) -> AsyncIterator[RunningServer]:
    approvals = bool(options.pop("approvals", False))
    secrets = SecretResolver(
        {"env": EnvResolver({"SLACK_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET})}
    )
    resources = resources_from_yaml(resources_yaml(slack, llm, approvals=approvals))
    url = database_url or f"sqlite:///{tmp_path / 'pf.db'}"
    async with running_server(resources, url, secrets=secrets, **options) as server:
        yield server


async def send(
    server: RunningServer, body: bytes, content_type: str = JSON, **headers: Any
) -> httpx.Response:
    signed = SLACK.headers(body, content_type)
    return await server.client.post("/slack/events", content=body, headers={**signed, **headers})


async def eventually(probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def answered(slack: FakeSlack, channel: str, thread_ts: str) -> list[SlackMessage]:
    """The bot's finished replies in a thread (not people's messages, not placeholders)."""
    return [
        m for m in slack.thread(channel, thread_ts) if m.author is None and m.text != "Thinking…"
    ]


async def mention(
    server: RunningServer, slack: FakeSlack, text: str, *, thread_ts: str | None = None
) -> tuple[httpx.Response, str, bytes]:
    """A mention, as Slack sends it: ``app_mention`` and (``message.channels``) ``message``."""
    ts = slack.user_message(CHANNEL, f"<@U0PFBOT01> {text}", thread_ts=thread_ts)
    body = SLACK.mention(text, channel=CHANNEL, user="U0CAROL01", ts=ts, thread_ts=thread_ts)
    response = await send(server, body)
    also = SLACK.message(
        f"<@U0PFBOT01> {text}", channel=CHANNEL, user="U0CAROL01", ts=ts, thread_ts=thread_ts
    )
    same_message = await send(server, also)
    assert same_message.status_code == 200
    assert same_message.json()["runs"] == []  # the app_mention answers it
    return response, ts, body


async def test_url_verification_is_answered_with_the_challenge(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    async with serve(slack, llm, tmp_path) as server:
        body = SLACK.url_verification("3eZbrw1aBm2rZgRNFdxV2595")
        response = await send(server, body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595"}


@pytest.mark.parametrize(
    ("secret", "age", "detail"),
    [
        ("not-the-signing-secret", 0, "invalid Slack signature"),
        (SIGNING_SECRET, 301, "stale Slack request"),
    ],
)
async def test_unsigned_and_replayed_requests_are_refused_and_start_nothing(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path, secret: str, age: int, detail: str
) -> None:
    requests = SLACK
    body = requests.mention("why is web down?", channel=CHANNEL, user="U0CAROL01", ts="1.000001")
    async with serve(slack, llm, tmp_path) as server:
        headers = requests.headers(body, JSON, age=age, secret=secret)
        response = await server.client.post("/slack/events", content=body, headers=headers)
        unsigned = await server.client.post(
            "/slack/events", content=body, headers={"Content-Type": JSON}
        )
        runs = (await server.client.get("/api/v1/runs")).json()["items"]
        metrics = (await server.client.get("/metrics")).text
    assert 'punchingfist_chat_requests_total{outcome="refused_401"} 2.0' in metrics
    assert response.status_code == 401
    assert detail in response.json()["error"]
    assert unsigned.status_code == 401
    assert runs == []
    assert llm.requests == []


async def test_a_mention_starts_a_run_answered_in_its_thread_and_a_follow_up_continues_it(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path, database_url: str
) -> None:
    async with serve(slack, llm, tmp_path, database_url) as server:
        response, ts, _ = await mention(server, slack, "why is web down?")
        assert response.status_code == 200, response.text
        [run_id] = response.json()["runs"]
        await server.settle()
        [reply] = await eventually(lambda: answered(slack, CHANNEL, ts))
        detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()

        follow_up, _, _ = await mention(server, slack, "what should I do?", thread_ts=ts)
        [second_run] = follow_up.json()["runs"]
        await server.settle()

        def both() -> list[SlackMessage] | None:
            found = answered(slack, CHANNEL, ts)
            return found if len(found) == 2 else None

        replies = await eventually(both)
        second = (await server.client.get(f"/api/v1/runs/{second_run}")).json()

    assert detail["status"] == "succeeded"
    assert detail["source_context"]["data"]["message"] == {
        "text": "why is web down?",
        "user": "U0CAROL01",
        "channel": CHANNEL,
        "threadTs": ts,
        "command": None,
    }
    assert reply.thread_ts == ts
    assert reply.text.startswith("web is OOMKilled\n*Cause:* its memory limit is 128Mi")
    assert reply.edits == 1  # the "Thinking…" placeholder, edited into the answer
    methods = [method for method, _ in slack.calls]
    assert methods[:2] == ["chat.postMessage", "chat.update"]
    assert second["status"] == "succeeded"
    assert replies[1].text.startswith("raise the limit to 512Mi")
    # The follow-up's request carries the earlier question and answer before the new one.
    messages = llm.requests[-1].body["messages"]
    texts = [(m["role"], str(m.get("content"))) for m in messages if m["role"] != "system"]
    assert texts[0] == ("user", "why is web down?")
    assert texts[1][0] == "assistant"
    assert texts[1][1].startswith("web is OOMKilled")
    assert "what should I do?" in texts[2][1]


async def test_a_retried_event_starts_no_second_run(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path, database_url: str
) -> None:
    async with serve(slack, llm, tmp_path, database_url) as server:
        response, ts, body = await mention(server, slack, "why is web down?")
        retried = await send(
            server, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        )
        again = await send(server, body)
        await server.settle()
        await eventually(lambda: answered(slack, CHANNEL, ts))
        runs = (await server.client.get("/api/v1/runs")).json()["items"]
        metrics = (await server.client.get("/metrics")).text
    assert 'punchingfist_chat_requests_total{outcome="started"} 1.0' in metrics
    assert 'punchingfist_chat_requests_total{outcome="duplicate"} 2.0' in metrics
    assert len(response.json()["runs"]) == 1
    assert retried.status_code == 200
    assert retried.json()["runs"] == []
    assert again.json()["runs"] == []
    assert len(runs) == 1
    assert len(llm.requests) == 1
    assert len(answered(slack, CHANNEL, ts)) == 1


async def test_a_mention_in_another_channel_starts_nothing(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    slack.channels["C0OTHER01"] = "random"
    async with serve(slack, llm, tmp_path) as server:
        ts = slack.user_message("C0OTHER01", "<@U0PFBOT01> why is web down?")
        body = SLACK.mention("why is web down?", channel="C0OTHER01", user="U0CAROL01", ts=ts)
        response = await send(server, body)
    assert response.status_code == 200
    assert response.json()["runs"] == []


async def test_a_slash_command_is_acknowledged_at_once_and_answered_in_the_channel(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    async with serve(slack, llm, tmp_path) as server:
        body = SLACK.command(
            "/punch", "how are the disk volumes?", channel=CHANNEL, user="U0CAROL01"
        )
        response = await send(server, body, FORM)
        await server.settle()
        [reply] = await eventually(
            lambda: [m for m in slack.posted() if m.text == "the disks have room"]
        )
        runs = (await server.client.get("/api/v1/runs")).json()["items"]
        unknown = await send(
            server,
            SLACK.command("/other", "x", channel=CHANNEL, user="U1"),
            FORM,
        )
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "how are the disk volumes?" in response.json()["text"]
    assert reply.channel == CHANNEL
    assert reply.thread_ts is None
    assert reply.edits == 1
    [run] = runs
    assert run["source_name"] == "slack-punch"
    assert unknown.json() == {
        "response_type": "ephemeral",
        "text": "No workflow answers /other here.",
    }


async def test_a_write_is_an_approval_button_only_an_approver_can_click(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, [("delete pod", 'pod "web-1" deleted\n', 0)])
    async with serve(slack, llm, tmp_path, approvals=True, **server_settings(stand_in)) as server:
        response, ts, _ = await mention(server, slack, "please restart web-1 in shop")
        [run_id] = response.json()["runs"]
        await server.settle()

        def button() -> SlackMessage | None:
            return next((m for m in slack.thread(CHANNEL, ts) if m.blocks), None)

        message = await eventually(button)
        assert not stand_in.ran("delete")
        waiting = [m for m in slack.thread(CHANNEL, ts) if "needs a person's approval" in m.text]
        refused = await post_interaction(server, click(message, APPROVE, user="mallory"))
        assert refused.status_code == 403
        assert not stand_in.ran("delete")
        approved = await post_interaction(server, click(message, APPROVE, user="alice"))
        assert approved.status_code == 200, approved.text
        await server.settle()
        await eventually(
            lambda: [m for m in slack.thread(CHANNEL, ts) if m.text.startswith("restarted web-1")]
        )
        detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
    assert len(waiting) == 1  # the placeholder said it waits, then became the answer
    assert stand_in.invocations() == [["delete", "pod", "web-1", "-n", "shop"]]
    assert slack.ephemeral[0]["user"] == "U0MALLORY01"
    assert detail["status"] == "succeeded"
    assert detail["approvals"][0]["decided_by"] == "slack:alice (U0ALICE01)"


async def test_the_path_answers_only_signed_posts_of_slacks_formats(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    async with serve(slack, llm, tmp_path) as server:
        get = await server.client.get("/slack/events")
        text = await send(server, b"hello", "text/plain")
        broken = await send(server, b"{not json", JSON)
        huge = b'{"type": "event_callback", "pad": "' + b"x" * 300_000 + b'"}'
        too_big = await send(server, huge, JSON)
        form = await send(server, b"text=hi", FORM)
        ssl_check = await send(server, b"ssl_check=1&token=deprecated", FORM)
        latin = await send(server, b"command=/punch&text=caf\xe9", FORM)
    assert get.status_code == 405
    assert text.status_code == 415
    assert "text/plain" in text.json()["error"]
    assert broken.status_code == 400
    assert too_big.status_code == 413
    assert form.status_code == 400
    assert "needs 'command' and 'trigger_id'" in form.json()["error"]
    assert ssl_check.status_code == 200
    assert latin.status_code == 400


async def test_a_reply_in_a_conversations_thread_goes_on_without_a_mention(
    slack: FakeSlack, llm: FakeLLM, tmp_path: Path
) -> None:
    async with serve(slack, llm, tmp_path) as server:
        stray_ts = slack.user_message(CHANNEL, "lunch?")
        reply_ts = slack.user_message(CHANNEL, "pizza", thread_ts=stray_ts)
        stray = await send(
            server,
            SLACK.message(
                "pizza", channel=CHANNEL, user="U0BOB01", ts=reply_ts, thread_ts=stray_ts
            ),
        )
        _, ts, _ = await mention(server, slack, "why is web down?")
        await server.settle()
        await eventually(lambda: answered(slack, CHANNEL, ts))
        follow_ts = slack.user_message(CHANNEL, "is it stable now?", thread_ts=ts)
        follow_up = SLACK.message(
            "is it stable now?", channel=CHANNEL, user="U0CAROL01", ts=follow_ts, thread_ts=ts
        )
        first = await send(server, follow_up)
        retried = await send(server, follow_up, **{"X-Slack-Retry-Num": "1"})
        await server.settle()

        def both() -> list[SlackMessage] | None:
            found = answered(slack, CHANNEL, ts)
            return found if len(found) == 2 else None

        replies = await eventually(both)
    assert stray.json()["runs"] == []  # not a conversation: people talk in threads too
    assert len(first.json()["runs"]) == 1
    assert retried.json()["runs"] == []
    assert replies[1].text.startswith("raise the limit to 512Mi")
    assert "is it stable now?" in str(llm.requests[-1].body["messages"][-1]["content"])
