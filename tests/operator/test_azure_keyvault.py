"""``azure-keyvault://`` against a local server speaking Key Vault's and Entra ID's REST APIs.

The server runs on loopback over HTTPS with a certificate from a CA made here (trustme), so
the client's certificate checks are real. No error message may contain a secret or a token.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from punching_fist.errors import SecretResolutionError
from punching_fist.operator.azure_keyvault import (
    AzureKeyVaultResolver,
    AzureKeyVaultSettings,
    parse_azure_reference,
    resource_of,
    settings_from,
)
from punching_fist.operator.runtime import add_secret_schemes
from punching_fist.resources import parse_yaml
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import SecretResolver
from tests.operator.support import EXCERPTS

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "12345678-1234-1234-1234-123456789012"
CLIENT_SECRET = "entra-client-secret-Zq8"
FEDERATED = "federated-service-account-jwt"
SCOPE = "https://vault.azure.net/.default"
SECRETS = {
    "slack-token": {"": "xoxb-from-azure", "v2": "xoxb-older-azure"},
    "pagerduty": {"": json.dumps({"routingKey": "pd-key-77", "other": "x"})},
}


@dataclass
class Entra:
    """What the fake identity endpoints and vault saw; tokens they issued."""

    issued: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    secret_reads: int = 0


class FakeAzure(BaseHTTPRequestHandler):
    """Entra ID's token endpoint, the Instance Metadata Service's, and Key Vault's secrets."""

    entra: Entra

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _issue(self, expires_in: Any) -> dict[str, Any]:
        token = f"eyJ0-{secrets.token_hex(8)}"
        self.entra.issued.add(token)
        return {"token_type": "Bearer", "expires_in": expires_in, "access_token": token}

    def do_POST(self) -> None:
        form = {
            k: v[0]
            for k, v in parse_qs(
                self.rfile.read(int(self.headers["Content-Length"])).decode()
            ).items()
        }
        self.entra.token_requests.append(form)
        if self.path != f"/{TENANT}/oauth2/v2.0/token":
            self._send(404, {"error": "invalid_request"})
            return
        assertion = (
            form.get("client_assertion_type")
            == ("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            and form.get("client_assertion") == FEDERATED
        )
        good = (
            form.get("grant_type") == "client_credentials"
            and form.get("client_id") == CLIENT_ID
            and form.get("scope") == SCOPE
            and (form.get("client_secret") == CLIENT_SECRET or assertion)
        )
        if not good:
            self._send(
                401,
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client"},
            )
            return
        self._send(200, self._issue(3599))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/metadata/identity/oauth2/token":
            self.entra.token_requests.append(query)
            if self.headers.get("Metadata") != "true" or query.get("client_id") != CLIENT_ID:
                self._send(400, {"error": "invalid_request"})
            else:
                self._send(200, self._issue("3599"))  # IMDS answers with strings
            return
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.entra.issued:
            challenge = f'Bearer authorization="https://login.microsoftonline.com/{TENANT}"'
            self._send(401, {"error": {"code": "Unauthorized"}}, {"WWW-Authenticate": challenge})
            return
        parts = url.path.strip("/").split("/")
        if query.get("api-version") != "7.4" or parts[0] != "secrets" or len(parts) > 3:
            self._send(400, {"error": {"code": "BadParameter"}})
            return
        self.entra.secret_reads += 1
        versions = SECRETS.get(parts[1], {})
        version = parts[2] if len(parts) == 3 else ""
        if version not in versions:
            message = f"A secret with (name/id) {parts[1]} was not found in this key vault."
            self._send(404, {"error": {"code": "SecretNotFound", "message": message}})
            return
        self._send(200, {"value": versions[version], "id": f"https://vault/{url.path}"})


@dataclass
class Azure:
    url: str
    entra: Entra
    trust: ssl.SSLContext
    ca_file: Path


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[Azure]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    entra = Entra()
    handler = type("Handler", (FakeAzure,), {"entra": entra})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Azure(f"https://127.0.0.1:{server.server_address[1]}", entra, trust, ca_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_secret(azure: Azure, **overrides: Any) -> AzureKeyVaultSettings:
    settings: dict[str, Any] = {
        "vault_url": azure.url + "/",
        "auth_method": "client-secret",
        "client_id": CLIENT_ID,
        "tenant_id": TENANT,
        "client_secret": CLIENT_SECRET,
        "authority": azure.url,
        "verify": azure.trust,
    }
    return AzureKeyVaultSettings(**(settings | overrides))


async def test_client_secret_login_and_reads(azure: Azure) -> None:
    clock = Clock()
    resolver = AzureKeyVaultResolver(lambda: with_secret(azure), clock=clock)
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    assert await resolver.resolve("azure-keyvault://slack-token/v2") == "xoxb-older-azure"
    assert await resolver.resolve("azure-keyvault://pagerduty#routingKey") == "pd-key-77"
    assert len(azure.entra.token_requests) == 1  # one token for all three reads
    assert "client_secret" in azure.entra.token_requests[0]

    clock.now += 3599 - 59  # within a minute of expiry: a new token first
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    assert len(azure.entra.token_requests) == 2


async def test_a_revoked_token_is_replaced_once(azure: Azure) -> None:
    resolver = AzureKeyVaultResolver(lambda: with_secret(azure))
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    azure.entra.issued.clear()
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    assert len(azure.entra.token_requests) == 2


async def test_workload_identity_exchanges_the_federated_token(
    azure: Azure, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(FEDERATED + "\n")
    settings = with_secret(
        azure, auth_method="workload-identity", client_secret=None, federated_token_file=token_file
    )
    resolver = AzureKeyVaultResolver(lambda: settings)
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    [request] = azure.entra.token_requests
    assert request["client_assertion"] == FEDERATED
    assert "client_secret" not in request


async def test_managed_identity_asks_the_metadata_service(azure: Azure) -> None:
    settings = with_secret(
        azure,
        auth_method="managed-identity",
        client_secret=None,
        token_endpoint=f"{azure.url}/metadata/identity/oauth2/token",
    )
    resolver = AzureKeyVaultResolver(lambda: settings)
    assert await resolver.resolve("azure-keyvault://slack-token") == "xoxb-from-azure"
    [request] = azure.entra.token_requests
    assert request["resource"] == "https://vault.azure.net"
    assert request["client_id"] == CLIENT_ID


async def test_failures_name_the_reference_never_a_secret_or_token(azure: Azure) -> None:
    wrong = AzureKeyVaultResolver(lambda: with_secret(azure, client_secret="not-the-secret"))
    with pytest.raises(SecretResolutionError, match=r"answered 401 \(invalid_client\)") as refused:
        await wrong.resolve("azure-keyvault://slack-token")
    assert "not-the-secret" not in str(refused.value)
    assert "AADSTS" not in str(refused.value)

    good = AzureKeyVaultResolver(lambda: with_secret(azure))
    with pytest.raises(SecretResolutionError, match="Key Vault has no secret 'absent'"):
        await good.resolve("azure-keyvault://absent")
    with pytest.raises(SecretResolutionError, match="no key 'absent'") as no_key:
        await good.resolve("azure-keyvault://pagerduty#absent")
    with pytest.raises(SecretResolutionError, match="needs a JSON object") as not_json:
        await good.resolve("azure-keyvault://slack-token#token")
    for failure in (no_key, not_json):
        assert "pd-key-77" not in str(failure.value)
        assert "xoxb-from-azure" not in str(failure.value)
    for token in azure.entra.issued:
        assert token not in str(no_key.value)

    no_id = AzureKeyVaultResolver(lambda: with_secret(azure, client_id=None))
    with pytest.raises(SecretResolutionError, match="needs clientId or AZURE_CLIENT_ID"):
        await no_id.resolve("azure-keyvault://slack-token")
    unknown = AzureKeyVaultResolver(lambda: with_secret(azure, auth_method="iam-role"))
    with pytest.raises(SecretResolutionError, match="'iam-role' is not one of managed-identity"):
        await unknown.resolve("azure-keyvault://slack-token")
    unconfigured = AzureKeyVaultResolver(lambda: None)
    with pytest.raises(SecretResolutionError, match="AZURE_KEYVAULT_URL"):
        await unconfigured.resolve("azure-keyvault://slack-token")


async def test_an_untrusted_certificate_is_refused(azure: Azure) -> None:
    resolver = AzureKeyVaultResolver(lambda: with_secret(azure, verify=True))
    with pytest.raises(SecretResolutionError, match="cannot reach Azure"):
        await resolver.resolve("azure-keyvault://slack-token")
    assert azure.entra.token_requests == []


def test_reference_forms() -> None:
    assert parse_azure_reference("azure-keyvault://slack-token") == ("slack-token", None, None)
    assert parse_azure_reference("azure-keyvault://pd/abc123#key") == ("pd", "abc123", "key")
    for bad in (
        "azure-keyvault://",
        "azure-keyvault://a_b",
        "azure-keyvault://a/../b",
        "azure-keyvault://a#",
    ):
        with pytest.raises(SecretResolutionError, match="expected azure-keyvault://name"):
            parse_azure_reference(bad)
    assert resource_of("https://company-vault.vault.azure.net/") == "https://vault.azure.net"
    assert resource_of("https://v.vault.azure.cn") == "https://vault.azure.cn"
    assert resource_of("https://127.0.0.1:8443") == "https://vault.azure.net"


def test_settings_from_the_operator_config_and_the_pods_environment(tmp_path: Path) -> None:
    example = EXCERPTS / "11-operatorconfig-azure-keyvault.yaml.example"
    config = parse_yaml(example.read_text(), origin=str(example))[0].resource
    assert isinstance(config, OperatorConfig)
    registry = ResourceRegistry(ResourceSet(operator_config=config))
    settings = settings_from(registry, {"AZURE_TENANT_ID": TENANT})()
    assert settings == AzureKeyVaultSettings(
        vault_url="https://company-vault.vault.azure.net/",
        auth_method="managed-identity",
        client_id=CLIENT_ID,
        tenant_id=TENANT,
    )

    empty = ResourceRegistry()
    assert settings_from(empty, {})() is None
    workload = {
        "AZURE_KEYVAULT_URL": "https://v.vault.azure.net",
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token"),
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/",
    }
    chosen = settings_from(empty, workload)()
    assert chosen is not None
    assert chosen.auth_method == "workload-identity"
    assert chosen.federated_token_file == tmp_path / "token"
    assert chosen.authority == "https://login.microsoftonline.us/"
    with_secret_env = settings_from(
        empty, {"AZURE_KEYVAULT_URL": "https://v", "AZURE_CLIENT_SECRET": "s"}
    )()
    assert with_secret_env is not None
    assert with_secret_env.auth_method == "client-secret"


async def test_registered_scheme_reads_through_the_operator_config(
    azure: Azure, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_yaml(
        f"""
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
spec:
  secretManager:
    type: azure-keyvault
    vaultUrl: "{azure.url}"
    authMethod: client-secret
    clientId: "{CLIENT_ID}"
    tenantId: "{TENANT}"
    tokenEndpoint: "{azure.url}/{TENANT}/oauth2/v2.0/token"
""",
        origin="config.yaml",
    )[0].resource
    assert isinstance(config, OperatorConfig)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SSL_CERT_FILE", str(azure.ca_file))  # as a private CA would be trusted
    resolver = SecretResolver()
    add_secret_schemes(resolver, ResourceRegistry(ResourceSet(operator_config=config)), None)
    value = await resolver.resolve("azure-keyvault://pagerduty#routingKey")
    assert value == "pd-key-77"
    assert await resolver.resolve("azure-keyvault://pagerduty#routingKey") == value
    assert azure.entra.secret_reads == 1  # the second came from the scheme's cache
    assert resolver.redact(f"key={value}") == "key=[redacted]"
