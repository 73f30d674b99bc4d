"""What every provider module gets and returns, and the seam for a bundled local model.

A provider factory turns an ``LLMChoice`` (plus the resolved key and the runtime's HTTP
clients) into a pydantic-ai ``Model``. SDK imports happen inside the factory, so a
missing optional SDK is reported as ``ProviderUnavailable`` with the install command,
only when a workflow actually selects that provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from pydantic_ai.models import Model

from punching_fist.agent.providers.config import LLMChoice
from punching_fist.agent.providers.http_clients import HttpClients
from punching_fist.errors import ConfigurationError


class ProviderUnavailable(ConfigurationError):
    """The selected provider cannot be used here (unknown, or its SDK is not installed)."""


class LocalEndpointProvider(Protocol):
    """Supplies an OpenAI-compatible endpoint for ``provider: local`` without ``endpoint``.

    Issue 7 plugs the bundled llama-server in here; until then there is nothing to start.
    """

    async def endpoint(self, choice: LLMChoice) -> str: ...


class NoLocalModel:
    """The default: a local provider must name its endpoint."""

    async def endpoint(self, choice: LLMChoice) -> str:
        raise ConfigurationError(
            "no endpoint configured for provider local: set runtime.llmConfig.endpoint (or "
            "llm.providers.local.endpoint in the OperatorConfig) to an OpenAI-compatible server "
            "such as Ollama, vLLM or llama.cpp's llama-server"
        )


@dataclass(frozen=True, kw_only=True)
class ProviderInputs:
    """Everything a provider factory may use."""

    choice: LLMChoice
    api_key: str | None
    endpoint: str | None
    """``choice.endpoint``, or the local model's endpoint for ``local``."""
    http: HttpClients
    """The runtime's clients: a factory asks for the one its model sends through."""


ProviderFactory = Callable[[ProviderInputs], Model]


def openai_base_url(endpoint: str) -> str:
    """``http://host:8080`` → ``http://host:8080/v1``; a URL with a path is kept as written."""
    parts = urlsplit(endpoint.rstrip("/"))
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1")
    return urlunsplit(parts)


def install_hint(provider: str, extra: str) -> str:
    return (
        f"provider {provider!r} needs an SDK that is not installed: "
        f"pip install 'pydantic-ai-slim[{extra}]'"
    )
