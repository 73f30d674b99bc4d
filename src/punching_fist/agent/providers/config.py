"""Which LLM an agent step talks to: operator defaults overlaid with the workflow's choice.

``OperatorConfig.spec.llm`` names a default provider and per-provider settings; a
workflow's ``runtime.llmConfig`` picks a provider and overrides any field it sets. API keys
are secret references (``env://NAME``) resolved at call time, never literal text in a
resource: a literal is refused with a message that says how to write the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic_ai.settings import ModelSettings

from punching_fist.errors import ConfigurationError
from punching_fist.resources.operator_config import OperatorConfig, ProviderSettings
from punching_fist.resources.workflow import LLMConfig
from punching_fist.secret_refs import SecretResolver, is_reference

T = TypeVar("T")

ALIASES = {"claude": "anthropic", "google": "gemini"}

LOCAL_SEED = 1234
"""The seed a ``local`` model samples with: the same alert and evidence, the same answer."""

DEFAULT_KEY_REFERENCES = {
    "anthropic": "env://ANTHROPIC_API_KEY",
    "openai": "env://OPENAI_API_KEY",
    "together": "env://TOGETHER_API_KEY",
    "gemini": "env://GEMINI_API_KEY",
    "cohere": "env://CO_API_KEY",
}
"""Where a provider's key is looked up when no ``apiKey`` reference is configured."""


def canonical(provider: str) -> str:
    return ALIASES.get(provider, provider)


@dataclass(frozen=True, kw_only=True)
class LLMChoice:
    """The resolved LLM settings for one step (no secret values: ``api_key_ref`` only)."""

    provider: str
    model: str | None = None
    endpoint: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    api_key_ref: str | None = None

    def model_settings(self) -> ModelSettings:
        """Sampling for this choice; ``max_retries`` 0 as the step's retry policy is the only one.

        A ``local`` model samples greedily (temperature 0) with a fixed seed unless the
        workflow sets a temperature: small models wander at a server's default temperature,
        and an investigation that is right once should be right every time.
        """
        settings = ModelSettings(max_retries=0)
        temperature = self.temperature
        if self.provider == "local":
            settings["seed"] = LOCAL_SEED
            temperature = 0.0 if temperature is None else temperature
        if temperature is not None:
            settings["temperature"] = temperature
        if self.max_tokens is not None:
            settings["max_tokens"] = self.max_tokens
        return settings

    async def api_key(self, secrets: SecretResolver) -> str | None:
        """The key's value (remembered by ``secrets`` so it is redacted from output)."""
        if self.api_key_ref is not None:
            return await secrets.resolve(self.api_key_ref)
        default = DEFAULT_KEY_REFERENCES.get(self.provider)
        if default is None:
            return None
        try:
            return await secrets.resolve(default)
        except ConfigurationError:
            if self.endpoint:  # a gateway or a self-hosted endpoint may need no key
                return None
            variable = default.removeprefix("env://")
            raise ConfigurationError(
                f"provider {self.provider!r} needs an API key: set {variable} or give "
                "llmConfig.apiKey as a secret reference (env://NAME)"
            ) from None


def _provider_settings(operator: OperatorConfig | None, provider: str) -> ProviderSettings:
    llm = operator.spec.llm if operator is not None else None
    if llm is None:
        return ProviderSettings()
    for name, settings in llm.providers.items():
        if canonical(name) == provider:
            return settings
    return ProviderSettings()


def choose_llm(workflow_llm: LLMConfig | None, operator: OperatorConfig | None) -> LLMChoice:
    """Overlay the workflow's ``llmConfig`` on the operator's settings for that provider."""
    llm = operator.spec.llm if operator is not None else None
    if workflow_llm is not None:
        provider = canonical(workflow_llm.provider)
    elif llm is not None:
        provider = canonical(llm.default_provider)
    else:
        provider = "local"
    base = _provider_settings(operator, provider)
    top = workflow_llm if workflow_llm is not None else None
    api_key = (top.api_key if top else None) or base.api_key
    if api_key is not None and not is_reference(api_key):
        where = "runtime.llmConfig.apiKey" if top and top.api_key else f"llm.providers.{provider}"
        raise ConfigurationError(
            f"{where}: the API key must be a secret reference such as "
            f"env://{provider.upper()}_API_KEY, not the key itself"
        )
    return LLMChoice(
        provider=provider,
        model=(top.model if top else None) or base.model,
        endpoint=(top.endpoint if top else None) or base.endpoint,
        temperature=_first(top.temperature if top else None, base.temperature),
        max_tokens=_first(top.max_tokens if top else None, base.max_tokens),
        api_key_ref=api_key,
    )


def _first(*values: T | None) -> T | None:
    return next((v for v in values if v is not None), None)
