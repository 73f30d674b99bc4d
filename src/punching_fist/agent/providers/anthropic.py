"""Anthropic's Messages API (``provider: anthropic`` or ``claude``)."""

from __future__ import annotations

from pydantic_ai.models import Model

from punching_fist.agent.providers.base import ProviderInputs, ProviderUnavailable, install_hint

DEFAULT_MODEL = "claude-sonnet-4-5"


def anthropic(inputs: ProviderInputs) -> Model:
    try:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider
    except ImportError as exc:
        raise ProviderUnavailable(install_hint("anthropic", "anthropic")) from exc
    provider = AnthropicProvider(
        api_key=inputs.api_key or "not-needed",
        base_url=inputs.endpoint.rstrip("/") if inputs.endpoint else None,
        http_client=inputs.http.httpx(),
    )
    return AnthropicModel(inputs.choice.model or DEFAULT_MODEL, provider=provider)
