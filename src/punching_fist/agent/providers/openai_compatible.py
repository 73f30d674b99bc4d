"""Providers that speak OpenAI's chat-completions API: local servers, OpenAI, Together.

All three use ``ChatCompletionsModel`` on the runtime's aiohttp session; they differ in
their default URL and in the name OpenAI insists on for the token limit.
"""

from __future__ import annotations

from pydantic_ai.models import Model

from punching_fist.agent.providers.base import ProviderInputs, openai_base_url
from punching_fist.agent.providers.chat_completions import ChatCompletionsModel, MaxTokensField

TOGETHER_URL = "https://api.together.xyz/v1"
OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_MODELS = {
    "local": "local-model",
    "openai": "gpt-4o-mini",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
}


def _chat_model(
    inputs: ProviderInputs,
    default_url: str,
    max_tokens_field: MaxTokensField = "max_tokens",
    *,
    named_tool_choice: bool = True,
) -> Model:
    endpoint = inputs.endpoint
    base_url = openai_base_url(endpoint) if endpoint else default_url
    return ChatCompletionsModel(
        inputs.choice.model or DEFAULT_MODELS[inputs.choice.provider],
        base_url=base_url,
        session=inputs.http.session(),
        proxy=inputs.http.proxy_for(base_url),
        api_key=inputs.api_key,
        system=inputs.choice.provider,
        max_tokens_field=max_tokens_field,
        named_tool_choice=named_tool_choice,
    )


def local(inputs: ProviderInputs) -> Model:
    """Ollama, vLLM, llama.cpp's llama-server: any OpenAI-compatible endpoint."""
    # build_model hands local an endpoint (configured, or the bundled model's gateway).
    assert inputs.endpoint is not None
    # llama-server constrains tool calls to their schemas only under ``required``; Ollama
    # and vLLM read it the same way when one tool is offered.
    return _chat_model(inputs, inputs.endpoint, named_tool_choice=False)


def openai(inputs: ProviderInputs) -> Model:
    # OpenAI's reasoning models refuse ``max_tokens``; every OpenAI model takes this one.
    return _chat_model(inputs, OPENAI_URL, "max_completion_tokens")


def together(inputs: ProviderInputs) -> Model:
    # Together's API is OpenAI-compatible; an ``endpoint`` (a proxy, a test fake) replaces
    # its URL.
    return _chat_model(inputs, TOGETHER_URL)
