"""Choosing the LLM (operator defaults, workflow overrides, secret keys) and retrying it."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError

from punching_fist.agent.providers import (
    HttpClients,
    LLMChoice,
    NoLocalModel,
    ProviderUnavailable,
    build_model,
    choose_llm,
)
from punching_fist.agent.providers.base import openai_base_url
from punching_fist.agent.retry import call_with_retry, policy_for
from punching_fist.errors import ConfigurationError
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.workflow import LLMConfig
from punching_fist.retry import Backoff, RetryPolicy
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.agent.kit import kubectl_stand_in, post_alert, server_settings, workflow_yaml
from tests.support.fake_llm import FakeLLM, Script, final, say
from tests.support.server import resources_from_yaml, running_server


def operator(llm: dict[str, object]) -> OperatorConfig:
    return OperatorConfig.model_validate(
        {
            "apiVersion": "punchingfist.io/v1alpha1",
            "kind": "OperatorConfig",
            "metadata": {"name": "cfg"},
            "spec": {"llm": llm},
        }
    )


OPERATOR = operator(
    {
        "defaultProvider": "local",
        "providers": {
            "local": {"endpoint": "http://llm:8080", "model": "qwen"},
            "claude": {"apiKey": "env://CLAUDE_KEY", "model": "claude-x", "temperature": 0.1},
        },
    }
)


def test_operator_default_applies_when_the_workflow_names_no_llm() -> None:
    assert choose_llm(None, OPERATOR) == LLMChoice(
        provider="local", endpoint="http://llm:8080", model="qwen"
    )


def test_workflow_llm_config_overrides_the_operators_provider_settings() -> None:
    chosen = choose_llm(LLMConfig(provider="anthropic", max_tokens=512), OPERATOR)
    # "anthropic" finds the operator's "claude" entry: they are one provider.
    assert chosen == LLMChoice(
        provider="anthropic",
        model="claude-x",
        temperature=0.1,
        max_tokens=512,
        api_key_ref="env://CLAUDE_KEY",
    )
    assert choose_llm(LLMConfig(provider="claude", model="other"), OPERATOR).model == "other"


def test_nothing_configured_means_the_local_provider() -> None:
    assert choose_llm(None, None) == LLMChoice(provider="local")


def test_a_literal_api_key_is_refused_without_being_echoed() -> None:
    with pytest.raises(ConfigurationError) as caught:
        choose_llm(LLMConfig(provider="openai", api_key="sk-live-abcdef123456"), None)
    assert "secret reference" in str(caught.value)
    assert "sk-live-abcdef123456" not in str(caught.value)
    # The design's example OperatorConfig holds a literal key for claude: only using it fails.
    literal = operator({"providers": {"claude": {"apiKey": "sk-secret"}}})
    assert choose_llm(None, literal).provider == "local"
    with pytest.raises(ConfigurationError):
        choose_llm(LLMConfig(provider="claude"), literal)


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("http://llm-service:8080", "http://llm-service:8080/v1"),
        ("http://ollama:11434/", "http://ollama:11434/v1"),
        ("http://vllm:8000/v1", "http://vllm:8000/v1"),
        ("https://gw.example/openai/v1/", "https://gw.example/openai/v1"),
    ],
)
def test_openai_compatible_endpoints_get_v1_only_when_they_have_no_path(
    endpoint: str, base: str
) -> None:
    assert openai_base_url(endpoint) == base


@pytest.fixture
async def http() -> AsyncIterator[HttpClients]:
    clients = HttpClients()
    yield clients
    await clients.aclose()


async def build(choice: LLMChoice, secrets: SecretResolver | None = None) -> object:
    http = HttpClients()
    try:
        return await build_model(
            choice,
            secrets=secrets or SecretResolver({"env": EnvResolver({})}),
            http=http,
            local_model=NoLocalModel(),
        )
    finally:
        await http.aclose()


async def test_unknown_provider_and_missing_keys_are_configuration_errors() -> None:
    with pytest.raises(ProviderUnavailable, match="unknown LLM provider 'mistral'"):
        await build(LLMChoice(provider="mistral"))
    with pytest.raises(ConfigurationError, match="set OPENAI_API_KEY"):
        await build(LLMChoice(provider="openai"))
    with pytest.raises(ConfigurationError, match="no endpoint configured for provider local"):
        await build(LLMChoice(provider="local"))


@pytest.mark.parametrize(
    ("provider", "module", "extra"),
    [("gemini", "google.genai", "google"), ("cohere", "cohere", "cohere")],
)
async def test_providers_whose_sdk_is_missing_give_an_install_hint(
    provider: str, module: str, extra: str
) -> None:
    secrets = SecretResolver({"env": EnvResolver({"KEY": "k-123456"})})
    choice = LLMChoice(provider=provider, api_key_ref="env://KEY")
    # The whole name: ``google`` alone is also the namespace of googleapis-common-protos
    # (which the OTLP exporter brings), installed without google-genai.
    if importlib.util.find_spec(module) is not None:
        assert await build(choice, secrets) is not None
        return
    with pytest.raises(ProviderUnavailable) as caught:
        await build(choice, secrets)
    assert f"pip install 'pydantic-ai-slim[{extra}]'" in str(caught.value)


async def test_together_and_openai_speak_to_a_configured_endpoint_with_the_resolved_key(
    http: HttpClients,
) -> None:
    secrets = SecretResolver({"env": EnvResolver({"TOGETHER": "tg-key-987654"})})
    with FakeLLM(Script([say("pong")])) as llm:
        for provider in ("together", "openai"):
            choice = LLMChoice(
                provider=provider, endpoint=llm.url, model="m", api_key_ref="env://TOGETHER"
            )
            model = await build_model(
                choice, secrets=secrets, http=http, local_model=NoLocalModel()
            )
            result = await Agent(model).run("ping")
            assert result.output == "pong"
    assert [r.headers["authorization"] for r in llm.requests] == ["Bearer tg-key-987654"] * 2


def _proxy_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for scheme in ("http", "https", "all", "no"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_the_proxy_is_the_one_the_environment_names_for_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = HttpClients()
    _proxy_environment(monkeypatch, HTTPS_PROXY="proxy.corp:3128", NO_PROXY="localhost,.internal")
    assert http.proxy_for("https://api.openai.com/v1") == "http://proxy.corp:3128"
    assert http.proxy_for("http://llm.internal:8080/v1") is None  # not https
    assert http.proxy_for("https://gw.internal/v1") is None  # NO_PROXY
    _proxy_environment(monkeypatch, ALL_PROXY="http://proxy.corp:3128")
    assert http.proxy_for("http://localhost:8080/v1") == "http://proxy.corp:3128"
    _proxy_environment(monkeypatch)
    assert http.proxy_for("https://api.openai.com/v1") is None


async def test_chat_completions_go_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch, http: HttpClients
) -> None:
    # The fake LLM stands in for the proxy: it answers the absolute-form request itself.
    with FakeLLM(Script([say("pong")])) as llm:
        _proxy_environment(monkeypatch, HTTP_PROXY=llm.root)
        choice = LLMChoice(provider="local", endpoint="http://llm.invalid:8080", model="m")
        model = await build_model(
            choice, secrets=SecretResolver(), http=http, local_model=NoLocalModel()
        )
        result = await Agent(model).run("ping")
    assert result.output == "pong"
    assert llm.requests[0].headers["host"] == "llm.invalid:8080"


async def test_temperature_max_tokens_and_operator_defaults_reach_the_llm(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path)
    with FakeLLM(Script([final(summary="fine")])) as llm:
        llm_config = f"""  runtime:
    llmConfig:
      provider: local
      endpoint: "{llm.url}"
      model: test-model
"""
        text = workflow_yaml(llm.url).replace(llm_config, "  runtime: {}\n")
        text += f"""---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {{name: cfg}}
spec:
  llm:
    defaultProvider: local
    providers:
      local: {{endpoint: "{llm.url}", model: operator-model, temperature: 0.2, maxTokens: 321}}
"""
        assert "llmConfig" not in text
        async with running_server(
            resources_from_yaml(text), sqlite_url, **server_settings(stand_in)
        ) as server:
            await post_alert(server)
            await server.settle()
    body = llm.requests[0].body
    assert body["model"] == "operator-model"
    assert body["temperature"] == 0.2
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 321


def delays(policy: RetryPolicy) -> list[float]:
    return [policy.backoff(attempt) for attempt in range(1, policy.max_attempts)]


def test_exponential_backoff_is_capped_and_fixed_or_none_are_flat() -> None:
    def of(backoff: Backoff, **values: float) -> RetryPolicy:
        return RetryPolicy.of(
            max_attempts=int(values.get("max_attempts", 3)),
            backoff=backoff,
            initial_delay=values.get("initial_delay", 1.0),
            max_delay=values.get("max_delay", 30.0),
        )

    assert delays(of("exponential", max_attempts=5, max_delay=5)) == [1, 2, 4, 5]
    assert delays(of("fixed", initial_delay=2)) == [2, 2]
    assert delays(of("none")) == [0, 0]
    assert delays(of("exponential", max_attempts=1)) == []
    assert policy_for(None) == RetryPolicy()  # rigConfig without retryPolicy: the defaults


async def test_retries_wait_per_policy_and_honour_retry_after() -> None:
    slept: list[float] = []
    attempts = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ModelHTTPError(429, "m", headers={"retry-after": "7"})
        if attempts == 2:
            raise ModelHTTPError(502, "m")
        return "ok"

    policy = RetryPolicy(max_attempts=3, initial_delay=0.5)
    assert await call_with_retry(flaky, policy, sleep=sleep) == "ok"
    assert slept == [7.0, 1.0]


async def test_client_errors_are_not_retried() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def unauthorized() -> str:
        raise ModelHTTPError(401, "m")

    with pytest.raises(ModelHTTPError):
        await call_with_retry(unauthorized, RetryPolicy(max_attempts=5), sleep=sleep)
    assert slept == []
