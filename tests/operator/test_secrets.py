"""``vault://`` through httpx against a fake Vault speaking Vault's HTTP API, and ``k8s://``
against the real API server. No error message may contain a secret value."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from punching_fist.errors import SecretResolutionError
from punching_fist.operator.client import KubeClient, login
from punching_fist.operator.runtime import add_secret_schemes, vault_settings_from
from punching_fist.operator.secrets import (
    KubernetesSecretResolver,
    VaultResolver,
    VaultSettings,
    parse_vault_reference,
    vault_path,
)
from punching_fist.resources import parse_yaml
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import (
    SECRET_MANAGER_SCHEMES,
    SUPPORTED_SECRET_MANAGERS,
    CachingResolver,
    EnvResolver,
    SecretResolver,
    is_reference,
)
from tests.harness.k8s import K8sApiServer
from tests.operator.support import EXCERPTS, new_namespace

ROOT_TOKEN = "root-token-123"
LOGIN_TOKEN = "k8s-login-token-456"
JWT = "service-account-jwt"
KV2 = {"secret/data/punchingfist/slack": {"token": "xoxb-from-vault", "other": "x"}}
KV1 = {"kv/punchingfist/api": {"key": "kv1-value-789"}}


class FakeVault(BaseHTTPRequestHandler):
    """KV v1/v2 reads and Kubernetes auth login, as Vault answers them."""

    logins: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.headers.get("X-Vault-Token") not in (ROOT_TOKEN, LOGIN_TOKEN):
            self._send(403, {"errors": ["permission denied"]})
            return
        path = self.path.split("?")[0].removeprefix("/v1/")
        if path in KV2:
            self._send(200, {"data": {"data": KV2[path], "metadata": {"version": 1}}})
        elif path in KV1:
            self._send(200, {"data": KV1[path]})
        else:
            self._send(404, {"errors": []})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/auth/kubernetes/login" and body.get("jwt") == JWT:
            self.logins.append(body)
            self._send(200, {"auth": {"client_token": LOGIN_TOKEN, "lease_duration": 60}})
        else:
            self._send(400, {"errors": ["invalid login"]})


@pytest.fixture
def vault() -> Iterator[str]:
    FakeVault.logins = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_vault_kv2_with_a_token(vault: str) -> None:
    resolver = VaultResolver(lambda: VaultSettings(url=vault, token=ROOT_TOKEN))
    value = await resolver.resolve("vault://secret/data/punchingfist/slack#token")
    assert value == "xoxb-from-vault"


async def test_vault_kv1_key_from_the_last_segment(vault: str) -> None:
    resolver = VaultResolver(lambda: VaultSettings(url=vault, token=ROOT_TOKEN))
    assert await resolver.resolve("vault://kv/punchingfist/api/key") == "kv1-value-789"


async def test_vault_kubernetes_auth_logs_in_with_the_service_account_token(
    vault: str, tmp_path: Path
) -> None:
    jwt = tmp_path / "token"
    jwt.write_text(JWT + "\n")
    resolver = VaultResolver(
        lambda: VaultSettings(url=vault, role="punchingfist-agent", jwt_path=jwt)
    )
    assert await resolver.resolve("vault://secret/data/punchingfist/slack#token") == (
        "xoxb-from-vault"
    )
    assert await resolver.resolve("vault://kv/punchingfist/api#key") == "kv1-value-789"
    assert FakeVault.logins == [{"role": "punchingfist-agent", "jwt": JWT}]


async def test_vault_failures_name_the_reference_never_a_value(vault: str) -> None:
    good = VaultResolver(lambda: VaultSettings(url=vault, token=ROOT_TOKEN))
    with pytest.raises(SecretResolutionError) as missing:
        await good.resolve("vault://secret/data/punchingfist/slack#absent")
    assert "absent" in str(missing.value)
    assert "xoxb-from-vault" not in str(missing.value)

    refused = VaultResolver(lambda: VaultSettings(url=vault, token="wrong"))
    with pytest.raises(SecretResolutionError, match="Vault refused"):
        await refused.resolve("vault://secret/data/punchingfist/slack#token")

    unconfigured = VaultResolver(lambda: None)
    with pytest.raises(SecretResolutionError, match="VAULT_ADDR"):
        await unconfigured.resolve("vault://secret/x#y")


async def test_vault_paths_lie_under_the_secret_path(vault: str) -> None:
    resolver = VaultResolver(
        lambda: VaultSettings(url=vault, token=ROOT_TOKEN, secret_path="secret/data/punchingfist/")
    )
    assert await resolver.resolve("vault://slack#token") == "xoxb-from-vault"
    assert await resolver.resolve("vault://slack/token") == "xoxb-from-vault"
    # Written in full, as before secretPath was set: taken as it is.
    assert await resolver.resolve("vault://secret/data/punchingfist/slack#token") == (
        "xoxb-from-vault"
    )
    # Elsewhere in Vault: out of reach, the path is read under secretPath.
    with pytest.raises(SecretResolutionError, match="no secret at 'secret/data/punchingfist/kv/"):
        await resolver.resolve("vault://kv/punchingfist/api#key")
    with pytest.raises(SecretResolutionError, match="may not hold"):
        await resolver.resolve("vault://../../kv/punchingfist/api#key")


def test_vault_path_joins() -> None:
    ref = "vault://x"
    assert vault_path(ref, "slack", "") == "slack"
    assert vault_path(ref, "slack", "secret/data/pf") == "secret/data/pf/slack"
    assert vault_path(ref, "secret/data/pf/slack", "/secret/data/pf/") == "secret/data/pf/slack"
    assert vault_path(ref, "secret/data/pfx", "secret/data/pf") == "secret/data/pf/secret/data/pfx"
    for bad in ("a/../b", "./a", "a//b"):
        with pytest.raises(SecretResolutionError, match="may not hold"):
            vault_path(ref, bad, "secret")


def test_vault_reference_forms() -> None:
    assert parse_vault_reference("vault://secret/data/a/b#k") == ("secret/data/a/b", "k")
    assert parse_vault_reference("vault://kv/a/k") == ("kv/a", "k")
    with pytest.raises(SecretResolutionError):
        parse_vault_reference("vault://onlyone")


def test_vault_address_comes_from_the_operator_config_or_the_environment() -> None:
    example = EXCERPTS / "10-operatorconfig-vault.yaml.example"
    config = parse_yaml(example.read_text(), origin=str(example))[0].resource
    assert isinstance(config, OperatorConfig)
    registry = ResourceRegistry(ResourceSet(operator_config=config))
    settings = vault_settings_from(registry, {"VAULT_TOKEN": "t"})()
    assert settings is not None
    assert settings.url == "https://vault.company.com"
    assert settings.role == "punchingfist-agent"
    assert settings.auth_mount == "kubernetes"
    assert settings.secret_path == "secret/data/punchingfist"

    empty = ResourceRegistry()
    assert vault_settings_from(empty, {})() is None
    from_env = vault_settings_from(empty, {"VAULT_ADDR": "http://v:8200", "VAULT_TOKEN": "t"})()
    assert from_env == VaultSettings(url="http://v:8200", token="t")


async def test_registered_schemes_dispatch_by_prefix(
    vault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault)
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    resolver = SecretResolver()
    add_secret_schemes(resolver, ResourceRegistry(), None)
    value = await resolver.resolve("vault://secret/data/punchingfist/slack#token")
    assert resolver.redact(f"token={value}") == "token=[redacted]"
    with pytest.raises(SecretResolutionError, match="k8s://"):
        await resolver.resolve("k8s://ns/name/key")  # no cluster: not registered


def test_every_supported_secret_manager_has_its_scheme_registered() -> None:
    resolver = SecretResolver()
    add_secret_schemes(resolver, ResourceRegistry(), None)
    for manager in SUPPORTED_SECRET_MANAGERS - {"kubernetes"}:  # k8s:// needs a cluster
        scheme = SECRET_MANAGER_SCHEMES[manager]
        assert scheme in resolver.schemes, manager
        assert is_reference(f"{scheme}://name#key")
    assert {"kubernetes", "vault", "aws-secrets", "azure-keyvault"} == SUPPORTED_SECRET_MANAGERS
    assert not is_reference("gcp-secrets://name")


async def test_cached_values_are_read_again_after_the_ttl() -> None:
    environ = {"TOKEN": "first-value"}
    now = [0.0]
    cached = CachingResolver(EnvResolver(environ), ttl=60, clock=lambda: now[0])
    assert await cached.resolve("env://TOKEN") == "first-value"
    environ["TOKEN"] = "rotated-value"
    now[0] = 59.9
    assert await cached.resolve("env://TOKEN") == "first-value"
    now[0] = 60.0
    assert await cached.resolve("env://TOKEN") == "rotated-value"
    del environ["TOKEN"]
    now[0] = 200.0
    with pytest.raises(SecretResolutionError):  # failures are not kept, nor hidden by the cache
        await cached.resolve("env://TOKEN")


@pytest.mark.integration
async def test_k8s_secret_reference_reads_the_api_server(
    k8s_apiserver: K8sApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = new_namespace(k8s_apiserver, "secrets")
    k8s_apiserver.kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "llm", "namespace": namespace},
                "data": {"api-key": base64.b64encode(b"sk-live-abc").decode()},
            }
        ),
    )
    monkeypatch.setenv("KUBECONFIG", str(k8s_apiserver.kubeconfig))
    client = KubeClient(login())
    try:
        resolver = KubernetesSecretResolver(client, default_namespace=namespace)
        assert await resolver.resolve(f"k8s://{namespace}/llm/api-key") == "sk-live-abc"
        assert await resolver.resolve("k8s://llm/api-key") == "sk-live-abc"
        with pytest.raises(SecretResolutionError, match="has no key 'other'") as no_key:
            await resolver.resolve(f"k8s://{namespace}/llm/other")
        assert "sk-live-abc" not in str(no_key.value)
        with pytest.raises(SecretResolutionError, match="does not exist"):
            await resolver.resolve(f"k8s://{namespace}/absent/api-key")
        with pytest.raises(SecretResolutionError, match="expected k8s://"):
            await resolver.resolve("k8s://just-one-part")
    finally:
        await client.close()
