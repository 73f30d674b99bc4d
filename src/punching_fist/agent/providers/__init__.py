"""LLM providers: one small module per API, found through a registry dict (no if/elif chain).

``build_model`` resolves the key reference, asks the local-model seam for an endpoint when
``provider: local`` has none, and calls the provider's factory.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_ai.models import Model

from punching_fist.agent.providers.anthropic import anthropic
from punching_fist.agent.providers.base import (
    LocalEndpointProvider,
    NoLocalModel,
    ProviderFactory,
    ProviderInputs,
    ProviderUnavailable,
)
from punching_fist.agent.providers.cohere import cohere
from punching_fist.agent.providers.config import LLMChoice, choose_llm
from punching_fist.agent.providers.gemini import gemini
from punching_fist.agent.providers.http_clients import HttpClients, HttpSettings
from punching_fist.agent.providers.openai_compatible import local, openai, together
from punching_fist.secret_refs import SecretResolver

PROVIDERS: Mapping[str, ProviderFactory] = {
    "local": local,
    "openai": openai,
    "together": together,
    "anthropic": anthropic,
    "gemini": gemini,
    "cohere": cohere,
}

__all__ = [
    "PROVIDERS",
    "HttpClients",
    "HttpSettings",
    "LLMChoice",
    "LocalEndpointProvider",
    "NoLocalModel",
    "ProviderUnavailable",
    "build_model",
    "choose_llm",
]


async def build_model(
    choice: LLMChoice,
    *,
    secrets: SecretResolver,
    http: HttpClients,
    local_model: LocalEndpointProvider,
    providers: Mapping[str, ProviderFactory] = PROVIDERS,
) -> Model:
    """A pydantic-ai model for ``choice``; raises ``ConfigurationError`` subclasses."""
    factory = providers.get(choice.provider)
    if factory is None:
        raise ProviderUnavailable(
            f"unknown LLM provider {choice.provider!r}: use one of {', '.join(sorted(providers))}"
        )
    endpoint = choice.endpoint
    if endpoint is None and choice.provider == "local":
        endpoint = await local_model.endpoint(choice)
    api_key = await choice.api_key(secrets)
    return factory(ProviderInputs(choice=choice, api_key=api_key, endpoint=endpoint, http=http))
