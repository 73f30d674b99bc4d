"""Cohere (needs the ``cohere`` SDK: ``pydantic-ai-slim[cohere]``)."""

from __future__ import annotations

from pydantic_ai.models import Model

from punching_fist.agent.providers.base import ProviderInputs, ProviderUnavailable, install_hint

DEFAULT_MODEL = "command-r-plus"


def cohere(inputs: ProviderInputs) -> Model:
    try:
        from cohere import AsyncClientV2
        from pydantic_ai.models.cohere import CohereModel
        from pydantic_ai.providers.cohere import CohereProvider
    except ImportError as exc:
        raise ProviderUnavailable(install_hint("cohere", "cohere")) from exc
    if inputs.endpoint:
        client = AsyncClientV2(api_key=inputs.api_key, base_url=inputs.endpoint)
        provider = CohereProvider(cohere_client=client)
    else:
        provider = CohereProvider(api_key=inputs.api_key)
    return CohereModel(inputs.choice.model or DEFAULT_MODEL, provider=provider)
