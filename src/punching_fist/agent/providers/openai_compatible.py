"""Providers that speak OpenAI's chat-completions API: local servers, OpenAI, Together."""

from __future__ import annotations

from pydantic_ai.models import Model

from punching_fist.agent.providers.base import (
    ProviderInputs,
    ProviderUnavailable,
    install_hint,
    openai_base_url,
)

TOGETHER_URL = "https://api.together.xyz/v1"
OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_MODELS = {
    "local": "local-model",
    "openai": "gpt-4o-mini",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
}


def _chat_model(inputs: ProviderInputs, default_url: str | None) -> Model:
    try:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError as exc:
        raise ProviderUnavailable(install_hint(inputs.choice.provider, "openai")) from exc
    endpoint = inputs.endpoint
    base_url = openai_base_url(endpoint) if endpoint else default_url
    provider = OpenAIProvider(
        base_url=base_url,
        # Local servers take any key, but the SDK insists on one.
        api_key=inputs.api_key or "not-needed",
        http_client=inputs.http_client,
    )
    name = inputs.choice.model or DEFAULT_MODELS[inputs.choice.provider]
    return OpenAIChatModel(name, provider=provider)


def local(inputs: ProviderInputs) -> Model:
    """Ollama, vLLM, llama.cpp's llama-server: any OpenAI-compatible endpoint."""
    return _chat_model(inputs, None)


def openai(inputs: ProviderInputs) -> Model:
    return _chat_model(inputs, OPENAI_URL)


def together(inputs: ProviderInputs) -> Model:
    # Together's API is OpenAI-compatible; going through the generic provider lets an
    # ``endpoint`` (a proxy, a test fake) replace its URL.
    return _chat_model(inputs, TOGETHER_URL)
