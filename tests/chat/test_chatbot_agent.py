"""The ChatbotAgent around a scripted inner agent, against the Slack stand-in and a real
store: other steps pass through, a run answered before a crash posts nothing again, an
approval wait is said in the thread, and a run no chat message started fails saying so."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.workflow import AgentStep
from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.sources.chatbot import ChatbotAgent, HistoryLimits, answer_text
from punching_fist.store.chat import ChatStore
from punching_fist.store.database import Database
from tests.support.fake_slack import FakeSlack
from tests.support.server import resources_from_yaml
from tests.support.store_rows import insert_run

TOKEN = "xoxb-3333-4444-ChatBotToken"
CHANNEL = "C0OPS0001"


class Scripted:
    """An inner agent answering from a list, recording what it was handed."""

    def __init__(self, *outcomes: AgentOutcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[AgentRequest] = []

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        self.requests.append(request)
        return self.outcomes.pop(0)


def resources(slack: FakeSlack, mode: str = "chat") -> ResourceSet:
    return resources_from_yaml(f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: mentions}}
spec:
  type: chat
  config: {{botToken: env://TOKEN, endpoint: "{slack.api_url}"}}
  triggerWorkflow: chat
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: chat}}
spec:
  steps:
    - {{name: answer, type: agent, mode: {mode}, goal: "{{{{ .source.data.message.text }}}}"}}
""")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN)
    with fake.running():
        yield fake


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}")
    await db.migrate()
    yield db
    await db.close()


async def chat_request(
    db: Database, found: ResourceSet, text: str, thread_ts: str | None, source: str = "mentions"
) -> AgentRequest:
    run_id = await insert_run(db, workflow_name="chat", status="running")
    workflow = found.workflows["chat"]
    step = workflow.spec.steps[0]
    assert isinstance(step, AgentStep)
    message = {"text": text, "user": "U0CAROL01", "channel": CHANNEL, "threadTs": thread_ts}
    context: dict[str, Any] = {
        "source": {"name": source, "type": "chat", "data": {"message": message}}
    }
    return AgentRequest(
        run_id=run_id,
        step_name="answer",
        settings=step,
        goal=text,
        workflow=workflow,
        context=context,
    )


def agent(
    inner: Scripted, db: Database, found: ResourceSet, limits: HistoryLimits | None = None
) -> ChatbotAgent:
    secrets = SecretResolver({"env": EnvResolver({"TOKEN": TOKEN})})
    return ChatbotAgent(
        inner, store=ChatStore(db), resources=lambda: found, secrets=secrets, limits=limits
    )


def answer(summary: str) -> AgentOutcome:
    return AgentOutcome(ending=Ending.ANSWERED, result={"summary": summary})


async def test_an_investigation_step_is_handed_on_untouched(
    slack: FakeSlack, database: Database
) -> None:
    found = resources(slack, mode="investigate")
    inner = Scripted(answer("checked"))
    request = await chat_request(database, found, "why?", None)
    outcome = await agent(inner, database, found).investigate(request)
    assert outcome == answer("checked")
    assert inner.requests == [request]
    assert slack.calls == []


async def test_a_step_run_again_after_its_answer_posts_nothing_new(
    slack: FakeSlack, database: Database
) -> None:
    found = resources(slack)
    ts = slack.user_message(CHANNEL, "<@U0PFBOT01> why is web down?")
    inner = Scripted(answer("web is OOMKilled"))
    chatbot = agent(inner, database, found)
    request = await chat_request(database, found, "why is web down?", ts)
    first = await chatbot.investigate(request)
    calls = len(slack.calls)
    again = await chatbot.investigate(request)  # the run resumed after a crash
    assert first.result is not None
    assert first.result["answer"] == "web is OOMKilled"
    assert again.result is not None
    assert again.result["answer"] == first.result["answer"]
    assert again.result["threadTs"] == first.result["threadTs"] == ts
    assert len(slack.calls) == calls
    assert len(inner.requests) == 1


async def test_history_is_bounded_and_oldest_first(slack: FakeSlack, database: Database) -> None:
    found = resources(slack)
    ts = slack.user_message(CHANNEL, "<@U0PFBOT01> q0")
    inner = Scripted(*(answer(f"a{i}") for i in range(4)))
    chatbot = agent(inner, database, found, HistoryLimits(max_turns=2))
    for index in range(4):
        await chatbot.investigate(await chat_request(database, found, f"q{index}", ts))
    handed = [(e.question, e.answer) for e in inner.requests[-1].history]
    assert handed == [("q1", "a1"), ("q2", "a2")]


async def test_an_approval_wait_is_said_in_the_thread(slack: FakeSlack, database: Database) -> None:
    found = resources(slack)
    ts = slack.user_message(CHANNEL, "<@U0PFBOT01> restart web")
    approval = uuid.uuid4()
    inner = Scripted(
        AgentOutcome(ending=Ending.WAITING_APPROVAL, approvals=(approval,)),
        answer("restarted web-1"),
    )
    chatbot = agent(inner, database, found)
    request = await chat_request(database, found, "restart web", ts)
    waiting = await chatbot.investigate(request)
    [reply] = slack.thread(CHANNEL, ts)
    assert waiting.ending is Ending.WAITING_APPROVAL
    assert f"approvals approve {approval}" in reply.text
    done = await chatbot.investigate(request)  # resumed after the decision
    assert done.ending is Ending.ANSWERED
    assert [m.text for m in slack.thread(CHANNEL, ts)] == ["restarted web-1"]  # same message
    assert reply.edits == 2


async def test_a_run_no_chat_message_started_fails_saying_so(
    slack: FakeSlack, database: Database
) -> None:
    found = resources(slack)
    request = await chat_request(database, found, "why?", None, source="alertmanager")
    outcome = await agent(Scripted(), database, found).investigate(request)
    assert outcome.ending is Ending.FAILED
    assert outcome.error is not None
    assert "was not started by a chat Source's message" in outcome.error


async def test_slack_refusing_the_token_fails_the_step_without_the_token(
    slack: FakeSlack, database: Database
) -> None:
    slack.token = "xoxb-another"
    found = resources(slack)
    request = await chat_request(database, found, "why?", None)
    outcome = await agent(Scripted(), database, found).investigate(request)
    assert outcome.ending is Ending.FAILED
    assert outcome.error is not None
    assert "invalid_auth" in outcome.error
    assert TOKEN not in outcome.error


def test_the_answer_text_reads_as_a_reply() -> None:
    outcome = AgentOutcome(
        ending=Ending.ANSWERED,
        result={
            "summary": "web is OOMKilled",
            "root_cause": "limit 128Mi",
            "findings": ["OOMKilled x3"],
            "recommendations": ["raise the limit"],
            "fix_command": "kubectl set resources deploy/web --limits=memory=512Mi",
        },
    )
    assert answer_text(outcome) == (
        "web is OOMKilled\n*Cause:* limit 128Mi\n• OOMKilled x3\n*Next:* raise the limit\n"
        "*Fix:* `kubectl set resources deploy/web --limits=memory=512Mi`"
    )
