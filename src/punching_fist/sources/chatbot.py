"""The ChatbotAgent: an agent step with ``mode: chat`` answers a Slack message in its thread.

It wraps the investigator (``agent/runtime.py``) rather than being a second runtime: the
same loop, the same tools of the step under the same policy (reads run, a write is only ever
an approval proposal, posted with Approve/Deny buttons in the thread by a Slack sink with
``approvals: true``), the same pause and resume. What chat adds is around it:

* a "Thinking…" reply posted at once in the message's thread (a slash command's reply starts
  the thread), edited with ``chat.update`` into the answer or the approval it waits for;
* the thread's earlier questions and answers (``store/chat.py``, bounded) handed to the model
  as the conversation so far, so a follow-up continues the same session;
* one row per run: a step that runs again edits the same reply, and one that was answered
  already (the run resumed after a crash) posts nothing new.

Steps without ``mode: chat`` go to the investigator untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from punching_fist.agent.base import AgentOutcome, AgentRequest, AgentRunner, ChatExchange, Ending
from punching_fist.errors import PunchingFistError
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.source import ChatConfig, ChatSourceSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.credentials import credential
from punching_fist.sinks.redaction import Redactor
from punching_fist.sinks.slack import sdk_logger
from punching_fist.sources.chat import message_of
from punching_fist.store.chat import DEFAULT_MAX_CHARS, DEFAULT_MAX_TURNS, ChatStore, ChatTurn

log = structlog.get_logger(__name__)

THINKING = "Thinking…"
ANSWER_CHARS = 3_500
"""Slack shows up to 4,000 characters of a message's text before cutting it."""

_SLACK_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError, PunchingFistError)


@dataclass(frozen=True, kw_only=True)
class HistoryLimits:
    """How much of a thread the model rereads: the last turns, within a character cap."""

    max_turns: int = DEFAULT_MAX_TURNS
    max_chars: int = DEFAULT_MAX_CHARS


class ChatbotAgent:
    """An ``AgentRunner``: chat steps around ``inner``, every other step handed to it."""

    def __init__(
        self,
        inner: AgentRunner,
        *,
        store: ChatStore,
        resources: Callable[[], ResourceSet],
        secrets: SecretResolver,
        limits: HistoryLimits | None = None,
    ) -> None:
        self._inner = inner
        self._store = store
        self._resources = resources
        self._secrets = secrets
        self._redactor = Redactor(secrets)
        self._limits = limits or HistoryLimits()

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        if request.settings.mode != "chat":
            return await self._inner.investigate(request)
        found = request.context.get("source")
        source: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        message = message_of(source)
        config = self._config(source)
        if message is None or config is None or not message.get("channel"):
            return _failed(
                f"step {request.step_name!r} has mode: chat, but this run was not started by a"
                " chat Source's message"
            )
        try:
            client = await self._client(config)
            turn = await self._turn(client, request, source, message)
        except _SLACK_ERRORS as exc:
            return _failed(f"cannot answer in Slack: {self._redactor.text(str(exc))}")
        if turn.answer is not None:  # answered before the run was interrupted
            return _answered(turn, {"answer": turn.answer})
        history = await self._store.history(
            turn.channel,
            turn.thread_ts,
            before=turn.run_id,
            max_turns=self._limits.max_turns,
            max_chars=self._limits.max_chars,
        )
        outcome = await self._inner.investigate(
            replace(
                request,
                history=tuple(
                    ChatExchange(question=t.question, answer=t.answer or "") for t in history
                ),
            )
        )
        if outcome.ending is Ending.WAITING_APPROVAL:
            commands = " or ".join(
                f"`punching-fist approvals approve {i}`" for i in outcome.approvals
            )
            await self._edit(
                client,
                turn,
                "That needs a person's approval first. Approvers decide with the buttons in"
                f" this thread or {commands}.",
            )
            return outcome
        answer = self._secrets.redact(answer_text(outcome))
        await self._edit(client, turn, answer)
        await self._store.answer(turn.run_id, answer)
        return _answered(turn, {**(outcome.result or {}), "answer": answer}, outcome)

    def _config(self, source: Mapping[str, Any]) -> ChatConfig | None:
        found = self._resources().sources.get(str(source.get("name")))
        if found is None or not isinstance(found.spec, ChatSourceSpec):
            return None
        return found.spec.config

    async def _client(self, config: ChatConfig) -> AsyncWebClient:
        token = await credential(self._secrets, config.bot_token, field="botToken")
        return AsyncWebClient(
            token=token,
            base_url=config.endpoint.rstrip("/") + "/",
            retry_handlers=[],
            logger=sdk_logger(self._redactor),
        )

    async def _turn(
        self,
        client: AsyncWebClient,
        request: AgentRequest,
        source: Mapping[str, Any],
        message: Mapping[str, Any],
    ) -> ChatTurn:
        """This run's row, made with its "Thinking…" reply on the first attempt."""
        stored = await self._store.turn(request.run_id)
        if stored is not None:
            return stored
        channel = str(message["channel"])
        thread_ts = message.get("threadTs") or None
        reply = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=THINKING)
        reply_ts = str(reply["ts"])
        return await self._store.begin(
            ChatTurn(
                run_id=request.run_id,
                source_name=str(source.get("name")),
                channel=str(reply.get("channel") or channel),
                thread_ts=str(thread_ts or reply_ts),  # a command's reply starts the thread
                user_id=str(message.get("user") or "") or None,
                question=request.goal,
                answer=None,
                reply_ts=reply_ts,
            )
        )

    async def _edit(self, client: AsyncWebClient, turn: ChatTurn, text: str) -> None:
        try:
            if turn.reply_ts:
                await client.chat_update(channel=turn.channel, ts=turn.reply_ts, text=text)
            else:
                await client.chat_postMessage(
                    channel=turn.channel, thread_ts=turn.thread_ts, text=text
                )
        except _SLACK_ERRORS as exc:  # the answer is stored and is the step's result anyway
            log.warning(
                "chat answer not posted",
                run_id=str(turn.run_id),
                error=self._redactor.text(str(exc)),
            )


def answer_text(outcome: AgentOutcome) -> str:
    """The reply a person reads, from the step's result (a conclusion, or why there is none)."""
    result = outcome.result or {}
    lines: list[str] = []
    summary = str(result.get("summary") or "").strip()
    cause = str(result.get("root_cause") or "").strip()
    if summary:
        lines.append(summary)
    if cause and cause != summary:
        lines.append(f"*Cause:* {cause}")
    lines += [f"• {f}" for f in result.get("findings") or []]
    if result.get("recommendations"):
        lines.append("*Next:* " + "; ".join(str(r) for r in result["recommendations"]))
    if result.get("fix_command"):
        lines.append(f"*Fix:* `{result['fix_command']}`")
    if result.get("error_message"):
        lines.append(f"_{result['error_message']}_")
    if not lines:
        lines.append(outcome.error or "I could not find an answer.")
    text = "\n".join(lines)
    return text if len(text) <= ANSWER_CHARS else text[: ANSWER_CHARS - 1] + "…"


def _answered(
    turn: ChatTurn, result: dict[str, Any], outcome: AgentOutcome | None = None
) -> AgentOutcome:
    result = {**result, "channel": turn.channel, "threadTs": turn.thread_ts}
    if outcome is None:
        return AgentOutcome(ending=Ending.ANSWERED, result=result)
    return replace(outcome, result=result)


def _failed(error: str) -> AgentOutcome:
    return AgentOutcome(ending=Ending.FAILED, error=error, result={"error_message": error})
