"""Google Gemini (needs the ``google-genai`` SDK: ``pydantic-ai-slim[google]``)."""

from __future__ import annotations

from pydantic_ai.models import Model

from punching_fist.agent.providers.base import ProviderInputs, ProviderUnavailable, install_hint

DEFAULT_MODEL = "gemini-2.5-flash"


def gemini(inputs: ProviderInputs) -> Model:
    try:
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider
    except ImportError as exc:
        raise ProviderUnavailable(install_hint("gemini", "google")) from exc
    provider = GoogleProvider(
        api_key=inputs.api_key,
        base_url=inputs.endpoint,
        http_client=inputs.http.httpx(),
    )
    return GoogleModel(inputs.choice.model or DEFAULT_MODEL, provider=provider)
