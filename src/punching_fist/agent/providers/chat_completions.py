"""A pydantic-ai ``Model`` speaking OpenAI chat completions itself, over an aiohttp session.

``OpenAIChatModel`` goes through the OpenAI SDK, whose request building (a recursive
``TypedDict`` transform of every message) and response models cost more CPU than the HTTP
exchange itself. This model builds the JSON from pydantic-ai's messages and validates the
answer in one pydantic-core pass: 0.76 ms of CPU per request of an investigation instead of
2.99 ms (1.08 instead of 4.43 streamed; ``bench/llm_request.py``). It is a standard
``Model``: settings and tool definitions go through ``prepare_request``, and the caller runs
``prepare_messages``, as for any other.

Errors become the pydantic-ai exceptions the retry policy reads: an error status is a
``ModelHTTPError`` that is also its category (``ModelRateLimitError`` for a 429...) and
carries ``Retry-After``; a transport failure is a ``ModelConnectionError``
(``ModelTimeoutError`` for a timeout) naming the phase that failed.

Timeouts are the session's (``HttpSettings``: connect, and silence between bytes) unless
the ``timeout`` setting gives others; the step's ``timeoutMinutes`` bounds the whole request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import aiohttp
import pydantic_core
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    FinishReason,
    ModelMessage,
    ModelResponse,
)
from pydantic_ai.models import (
    Model,
    ModelRequestParameters,
    StreamedResponse,
    check_allow_model_requests,
)
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from yarl import URL

from punching_fist.agent.providers.chat_errors import connection_error, status_error
from punching_fist.agent.providers.chat_request import (
    request_messages,
    request_tools,
    response_format,
    sampling,
)
from punching_fist.agent.providers.chat_response import (
    FINISH_REASONS,
    parse_completion,
    response_parts,
    usage_of,
)
from punching_fist.agent.providers.chat_stream import ChatStream

PROFILE = ModelProfile(
    # As OpenAIChatModel's profile: ``additionalProperties: false`` on tool schemas, and
    # ``strict`` where a schema allows it, so OpenAI constrains the arguments.
    json_schema_transformer=OpenAIJsonSchemaTransformer,
    supports_json_schema_output=True,
    supports_json_object_output=True,
    supports_inline_system_prompts=True,
)

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]


_CUSTOMIZED_KEPT = 64
"""Sets of tool definitions whose transformed schemas are remembered (one per toolset)."""


@dataclass(frozen=True, kw_only=True)
class _Customized:
    originals: tuple[ToolDefinition, ...]
    function_tools: list[ToolDefinition]
    output_tools: list[ToolDefinition]


@dataclass(init=False)
class ChatCompletionsModel(Model):
    """A model behind ``{base_url}/chat/completions``: OpenAI, Together, llama.cpp, Ollama..."""

    unsupported_settings = frozenset({"top_k"})
    # ``max_retries`` is not declared although this model never retries: the step's retry
    # policy (``AuditedModel``) is the only one, so the runtime always sets it to 0.

    _model_name: str
    _base_url: str
    _system: str
    _max_tokens_field: MaxTokensField
    _named_tool_choice: bool
    _session: aiohttp.ClientSession = field(repr=False, compare=False)
    _proxy: str | None = field(repr=False)
    _headers: dict[str, str] = field(repr=False)

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str | None = None,
        proxy: str | None = None,
        system: str = "openai",
        max_tokens_field: MaxTokensField = "max_tokens",
        named_tool_choice: bool = True,
        settings: ModelSettings | None = None,
    ) -> None:
        """``system`` names the provider (``gen_ai.system``); ``max_tokens_field`` is the
        wire name of the ``max_tokens`` setting (OpenAI wants ``max_completion_tokens``);
        ``named_tool_choice`` False sends ``required`` instead of naming the one tool to
        call (``chat_request.request_tools``); ``proxy`` is the HTTP proxy to send through
        (``HttpClients.proxy_for``)."""
        super().__init__(settings=settings, profile=PROFILE)
        self._model_name = model_name
        self._base_url = base_url.rstrip("/")
        self._url = URL(f"{self._base_url}/chat/completions")  # parsed once
        self._customized: dict[tuple[int, ...], _Customized] = {}
        self._system = system
        self._max_tokens_field = max_tokens_field
        self._named_tool_choice = named_tool_choice
        self._session = session
        self._proxy = proxy
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def system(self) -> str:
        return self._system

    @property
    def base_url(self) -> str:
        return self._base_url

    def customize_request_parameters(
        self, model_request_parameters: ModelRequestParameters
    ) -> ModelRequestParameters:
        """The tool schemas transformed as for OpenAI, remembered per set of definitions.

        An investigation offers the same definitions on every request, and transforming
        them is a third of this model's own CPU per request. Definitions are keyed by
        identity and kept alive by the cache, so an id is never reused while cached.
        """
        parameters = model_request_parameters
        if parameters.output_object is not None:
            return super().customize_request_parameters(parameters)
        key = (*map(id, parameters.function_tools), 0, *map(id, parameters.output_tools))
        hit = self._customized.get(key)
        if hit is None:
            done = super().customize_request_parameters(parameters)
            hit = _Customized(
                originals=(*parameters.function_tools, *parameters.output_tools),
                function_tools=done.function_tools,
                output_tools=done.output_tools,
            )
            if len(self._customized) >= _CUSTOMIZED_KEPT:
                del self._customized[next(iter(self._customized))]
            self._customized[key] = hit
        return replace(parameters, function_tools=hit.function_tools, output_tools=hit.output_tools)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        check_allow_model_requests()
        settings, parameters = self.prepare_request(model_settings, model_request_parameters)
        settings = settings or {}
        body = self._body(messages, settings, parameters, stream=False)
        try:
            async with await self._post(body, settings) as response:
                raw = await response.read()
        except aiohttp.ClientError as exc:
            raise connection_error(exc, self._model_name) from exc
        if response.status >= 400:
            raise status_error(response.status, raw, response.headers, self._model_name)
        completion = parse_completion(raw)
        choice = completion["choices"][0]
        message = choice["message"]
        raw_finish = choice.get("finish_reason")
        details: dict[str, Any] = {"finish_reason": raw_finish} if raw_finish else {}
        finish: FinishReason | None = FINISH_REASONS.get(raw_finish or "stop")
        parts = response_parts(message, self._system)
        if refusal := message.get("refusal"):
            details["refusal"] = refusal
            parts, finish = [], "content_filter"
        return ModelResponse(
            parts=parts,
            usage=usage_of(completion.get("usage")),
            model_name=completion.get("model") or self._model_name,
            provider_name=self._system,
            provider_url=self._base_url,
            provider_response_id=completion.get("id"),
            provider_details=details or None,
            finish_reason=finish,
        )

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        check_allow_model_requests()
        settings, parameters = self.prepare_request(model_settings, model_request_parameters)
        settings = settings or {}
        body = self._body(messages, settings, parameters, stream=True)
        try:
            response = await self._post(body, settings)
        except aiohttp.ClientError as exc:
            raise connection_error(exc, self._model_name) from exc
        try:
            if response.status >= 400:
                try:
                    raw = await response.read()
                except aiohttp.ClientError as exc:
                    raise connection_error(exc, self._model_name) from exc
                raise status_error(response.status, raw, response.headers, self._model_name)
            yield ChatStream(
                model_request_parameters=parameters,
                _response=response,
                _model_name=self._model_name,
                _system=self._system,
                _base_url=self._base_url,
            )
        finally:
            # Returns the connection to the pool if the body was read to its end (the
            # stream reads on past [DONE]), else closes it.
            response.release()

    async def _post(self, body: bytes, settings: ModelSettings) -> aiohttp.ClientResponse:
        headers = self._headers
        if extra_headers := settings.get("extra_headers"):
            headers = {**headers, **extra_headers}
        return await self._session.post(
            self._url,
            data=body,
            headers=headers,
            proxy=self._proxy,
            timeout=_timeout(settings.get("timeout"), self._session.timeout),
        )

    def _body(
        self,
        messages: list[ModelMessage],
        settings: ModelSettings,
        parameters: ModelRequestParameters,
        *,
        stream: bool,
    ) -> bytes:
        body: dict[str, Any] = {
            "model": self._model_name,
            "messages": request_messages(
                messages, self._get_instruction_parts(messages, parameters)
            ),
            **sampling(settings, max_tokens_field=self._max_tokens_field),
        }
        tools, tool_choice = request_tools(
            settings, parameters, named_choice=self._named_tool_choice
        )
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice
            if (parallel := settings.get("parallel_tool_calls")) is not None:
                body["parallel_tool_calls"] = parallel
        if (answer_format := response_format(parameters)) is not None:
            body["response_format"] = answer_format
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if isinstance(extra_body := settings.get("extra_body"), dict):
            body.update(extra_body)
        return pydantic_core.to_json(body)


def _timeout(setting: object, default: aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    """The ``timeout`` setting as aiohttp's: seconds apply to connecting and to each read,
    as httpx applies them to every phase; an httpx ``Timeout`` gives its connect and read."""
    if setting is None:
        return default
    if isinstance(setting, aiohttp.ClientTimeout):
        return setting
    if isinstance(setting, int | float):
        return aiohttp.ClientTimeout(total=None, connect=setting, sock_read=setting)
    phases = setting.as_dict()  # type: ignore[attr-defined]  # httpx's Timeout
    return aiohttp.ClientTimeout(total=None, connect=phases["connect"], sock_read=phases["read"])
