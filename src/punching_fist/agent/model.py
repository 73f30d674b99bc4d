"""The LLM as the agent sees it: the provider's model, retried per policy and audited.

Every request (each attempt, failed ones included) becomes an ``llm`` row in the audit trail
with its duration, token usage and a one-line summary of the answer. Each corrective message
a request carries back to the model (an unknown tool, arguments that do not validate, a final
answer that is not a valid AgentResult) becomes a ``correction`` row, so the trail shows why
a small model's call did not run. Provider errors and
rate limits are retried here, per ``rigConfig.retryPolicy``; the SDKs' own retries are
switched off (``max_retries=0``) so there is exactly one retry policy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import structlog
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from punching_fist.agent.retry import call_with_retry
from punching_fist.agent.toolset import Recorder
from punching_fist.observability.tracing import Attributes, Tracing, annotate
from punching_fist.retry import RetryPolicy
from punching_fist.store.audit import AuditEvent

log = structlog.get_logger(__name__)

T = TypeVar("T")


def summarize_response(response: ModelResponse, limit: int = 500) -> str:
    """What the model answered, in one short line: its tool calls, else its text."""
    calls = []
    texts = []
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            args = part.args if isinstance(part.args, str) else str(part.args or {})
            calls.append(f"{part.tool_name}({args[:200]})")
        elif isinstance(part, TextPart) and part.content.strip():
            texts.append(part.content.strip())
    summary = "; ".join(calls) if calls else " ".join(texts)
    return summary[:limit]


def _usage(response: ModelResponse) -> Attributes:
    usage = response.usage
    return {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }


class AuditedModel(WrapperModel):
    """Wraps a provider model for one agent step."""

    def __init__(
        self,
        wrapped: Any,
        *,
        policy: RetryPolicy,
        record: Recorder,
        run_id: uuid.UUID | None,
        step_name: str,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._tracing = tracing or Tracing.off()
        self._policy = policy
        self._record = record
        self._run_id = run_id
        self._step_name = step_name
        self._sleep = sleep

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self._audit_corrections(messages)

        async def attempt() -> ModelResponse:
            started = time.perf_counter()
            with self._tracing.span("llm request", self._span_attributes()) as span:
                try:
                    response = await self.wrapped.request(
                        messages, model_settings, model_request_parameters
                    )
                except ModelAPIError as exc:
                    self._audit_failure(exc, started)
                    raise
                annotate(span, _usage(response))
            self._audit(response, started)
            return response

        return await self._retrying(attempt)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        self._audit_corrections(messages)
        attributes: Attributes = {**self._span_attributes(), "punchingfist.llm.stream": True}
        async with AsyncExitStack() as stack:
            span = stack.enter_context(self._tracing.span("llm request", attributes))
            started = time.perf_counter()

            async def attempt() -> StreamedResponse:
                # Only opening the stream is retried: once chunks flowed, the agent has them.
                nonlocal started
                started = time.perf_counter()
                try:
                    return await stack.enter_async_context(
                        self.wrapped.request_stream(
                            messages, model_settings, model_request_parameters, run_context
                        )
                    )
                except ModelAPIError as exc:
                    self._audit_failure(exc, started)
                    raise

            stream = await self._retrying(attempt)
            yield stream
            annotate(span, _usage(stream.get()))
            self._audit(stream.get(), started)

    def _span_attributes(self) -> dict[str, str]:
        return {"gen_ai.request.model": self.model_name, "punchingfist.step.name": self._step_name}

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        def on_retry(error: BaseException, delay: float) -> None:
            log.warning(
                "LLM request failed, retrying",
                model=self.model_name,
                error=str(error)[:300],
                delay_seconds=delay,
            )

        if self._sleep is None:
            return await call_with_retry(attempt, self._policy, on_retry=on_retry)
        return await call_with_retry(attempt, self._policy, on_retry=on_retry, sleep=self._sleep)

    def _audit_corrections(self, messages: list[ModelMessage]) -> None:
        """One ``correction`` row per corrective message in the request about to be sent."""
        latest = messages[-1] if messages else None
        if not isinstance(latest, ModelRequest):
            return
        for part in latest.parts:
            # The loop answers a call it cannot run with a tool return marked "retried" (with
            # the cause: unknown tool, invalid arguments or output); states saved by older
            # versions may still hold pydantic-ai's retry prompts.
            if isinstance(part, RetryPromptPart):
                cause, text = "retry", part.model_response()
            elif isinstance(part, ToolReturnPart) and part.outcome == "retried":
                cause = str(part.retry.cause) if part.retry else "retry"
                text = part.model_response_str()
            else:
                continue
            self._record(
                AuditEvent(
                    run_id=self._run_id,
                    step_name=self._step_name,
                    kind="correction",
                    name=part.tool_name or "answer",
                    arguments={"cause": cause, "tool_call_id": part.tool_call_id},
                    output=text,
                )
            )

    def _audit(self, response: ModelResponse, started: float) -> None:
        usage = response.usage
        self._record(
            AuditEvent(
                run_id=self._run_id,
                step_name=self._step_name,
                kind="llm",
                name=self.model_name,
                duration_ms=(time.perf_counter() - started) * 1000,
                output=summarize_response(response),
                usage={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
            )
        )

    def _audit_failure(self, error: ModelAPIError, started: float) -> None:
        status = error.status_code if isinstance(error, ModelHTTPError) else None
        self._record(
            AuditEvent(
                run_id=self._run_id,
                step_name=self._step_name,
                kind="llm",
                name=self.model_name,
                exit_code=status,
                duration_ms=(time.perf_counter() - started) * 1000,
                output=f"request failed: {type(error).__name__}: {str(error)[:400]}",
            )
        )
