"""``azure-keyvault://NAME#KEY``: secrets from Azure Key Vault, over its REST API with httpx.

``NAME`` is a secret's name (``NAME/VERSION`` for one version); with ``#KEY`` the secret's value
is a JSON object and the value is its field ``KEY``.

Two requests, as the Azure SDK makes them: a token for Key Vault, then
``GET {vaultUrl}/secrets/{name}?api-version=7.4`` with it. We speak them with httpx rather
than take the SDK: it is synchronous unless aiohttp-based, drags in MSAL and ``requests``,
and insists on its own instance discovery, so it cannot be pointed at a test server; the two
requests are a page of code. The token comes, by ``authMethod``, from

* ``managed-identity``: the Instance Metadata Service, as the node's identity or the
  user-assigned one of ``clientId``;
* ``workload-identity`` (AKS): the federated token in ``AZURE_FEDERATED_TOKEN_FILE``,
  exchanged at Microsoft Entra ID for app ``clientId`` of tenant ``tenantId``;
* ``client-secret``: app ``clientId``'s secret, ``AZURE_CLIENT_SECRET``.

Without ``authMethod`` the first of the last two whose variable is set, else managed identity,
as the SDK's ``DefaultAzureCredential`` chooses. ``tokenEndpoint`` replaces the token URL (a
sovereign cloud's, a proxy's). Tokens are kept until a minute before they expire. No message
holds a secret value or a token.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import httpx

from punching_fist.errors import SecretResolutionError
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import json_field

SCHEME = "azure-keyvault://"
API_VERSION = "7.4"
IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
ENTRA = "https://login.microsoftonline.com"
AzureAuth = Literal["managed-identity", "workload-identity", "client-secret"]
AUTH_METHODS: tuple[str, ...] = get_args(AzureAuth)

_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault's own rule for secret names
_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class AzureKeyVaultSettings:
    """Which vault, and how to get a token for it."""

    vault_url: str
    auth_method: str = "managed-identity"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    federated_token_file: Path | None = None
    token_endpoint: str | None = None
    """Replaces the Instance Metadata Service's or Entra ID's token URL."""
    authority: str = ENTRA
    verify: ssl.SSLContext | bool = True


def settings_from(
    registry: ResourceRegistry, environ: Mapping[str, str] | None = None
) -> Callable[[], AzureKeyVaultSettings | None]:
    """The vault and login of a secretManager of type azure-keyvault, or AZURE_KEYVAULT_URL.

    The rest comes from the variables the Azure SDK reads (``AZURE_CLIENT_ID``,
    ``AZURE_TENANT_ID``, ``AZURE_CLIENT_SECRET``, ``AZURE_FEDERATED_TOKEN_FILE``,
    ``AZURE_AUTHORITY_HOST``), which AKS workload identity sets in the pod. Read when a
    reference is resolved, so an OperatorConfig applied after start-up counts.
    """

    def current() -> AzureKeyVaultSettings | None:
        env = os.environ if environ is None else environ
        config = registry.current().operator_config
        manager = config.spec.secret_manager if config is not None else None
        if manager is None or manager.type != "azure-keyvault":
            manager = None
        url = (manager.vault_url if manager else None) or env.get("AZURE_KEYVAULT_URL")
        if not url:
            return None
        token_file = env.get("AZURE_FEDERATED_TOKEN_FILE") or None
        secret = env.get("AZURE_CLIENT_SECRET") or None
        method = (manager.auth_method if manager else None) or (
            "workload-identity" if token_file else "client-secret" if secret else "managed-identity"
        )
        return AzureKeyVaultSettings(
            vault_url=url,
            auth_method=method,
            client_id=(manager.client_id if manager else None) or env.get("AZURE_CLIENT_ID"),
            tenant_id=(manager.tenant_id if manager else None) or env.get("AZURE_TENANT_ID"),
            client_secret=secret,
            federated_token_file=Path(token_file) if token_file else None,
            token_endpoint=manager.token_endpoint if manager else None,
            authority=env.get("AZURE_AUTHORITY_HOST") or ENTRA,
        )

    return current


def parse_azure_reference(reference: str) -> tuple[str, str | None, str | None]:
    """(name, version or ``None``, JSON field or ``None``) of an ``azure-keyvault://`` reference."""
    body, sep, key = reference.removeprefix(SCHEME).partition("#")
    name, _, version = body.partition("/")
    if not _NAME.match(name) or (version and not _VERSION.match(version)) or (sep and not key):
        raise SecretResolutionError(
            f"secret {reference!r}: expected azure-keyvault://name, azure-keyvault://name/version "
            "or azure-keyvault://name#key (names are letters, digits and '-')"
        )
    return name, version or None, key or None


def resource_of(vault_url: str) -> str:
    """The token audience of a vault: ``https://vault.azure.net`` in Azure's public cloud."""
    host = urlsplit(vault_url).hostname or ""
    _, _, domain = host.partition(".")
    return f"https://{domain}" if domain.startswith("vault.") else "https://vault.azure.net"


@dataclass(frozen=True)
class _Token:
    settings: AzureKeyVaultSettings
    value: str = field(repr=False)
    renew_at: float


class AzureKeyVaultResolver:
    """Reads Key Vault secrets; one token at a time, renewed before it expires."""

    def __init__(
        self,
        settings: Callable[[], AzureKeyVaultSettings | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def resolve(self, reference: str) -> str:
        name, version, key = parse_azure_reference(reference)
        settings = self._settings()
        if settings is None:
            raise SecretResolutionError(
                "azure-keyvault:// needs the vault's URL: an OperatorConfig secretManager of "
                "type azure-keyvault with vaultUrl, or AZURE_KEYVAULT_URL"
            )
        path = f"secrets/{name}/{version}" if version else f"secrets/{name}"
        url = f"{settings.vault_url.rstrip('/')}/{path}"
        async with self._lock, httpx.AsyncClient(verify=settings.verify, timeout=10.0) as http:
            try:
                response = await self._get(http, settings, url, reference)
                if response.status_code == 401:  # revoked or expired early: once more, anew
                    self._token = None
                    response = await self._get(http, settings, url, reference)
            except httpx.HTTPError as exc:
                raise SecretResolutionError(
                    f"secret {reference!r}: cannot reach Azure ({type(exc).__name__})"
                ) from None
        if response.status_code == 404:
            raise SecretResolutionError(f"secret {reference!r}: Key Vault has no secret {name!r}")
        if response.status_code != 200:
            raise SecretResolutionError(
                f"secret {reference!r}: Key Vault answered {response.status_code} "
                f"({_error_code(response)})"
            )
        value = _field(response, "value")
        if value is None:
            raise SecretResolutionError(f"secret {reference!r}: Key Vault's answer has no value")
        return value if key is None else json_field(reference, value, key)

    async def _get(
        self, http: httpx.AsyncClient, settings: AzureKeyVaultSettings, url: str, reference: str
    ) -> httpx.Response:
        token = await self._current_token(http, settings, reference)
        return await http.get(
            url,
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def _current_token(
        self, http: httpx.AsyncClient, settings: AzureKeyVaultSettings, reference: str
    ) -> str:
        token = self._token
        if token is not None and token.settings == settings and self._clock() < token.renew_at:
            return token.value
        response = await _request_token(http, settings, reference)
        if response.status_code != 200:
            raise SecretResolutionError(
                f"secret {reference!r}: no token for Key Vault: {_token_url(settings)} answered "
                f"{response.status_code} ({_error_code(response)})"
            )
        value = _field(response, "access_token")
        if not value:
            raise SecretResolutionError(f"secret {reference!r}: the token answer has no token")
        try:
            lifetime = float(_field(response, "expires_in") or 300)
        except ValueError:
            lifetime = 300.0
        self._token = _Token(settings, value, self._clock() + max(lifetime - 60.0, 0.0))
        return value


async def _request_token(
    http: httpx.AsyncClient, settings: AzureKeyVaultSettings, reference: str
) -> httpx.Response:
    resource = resource_of(settings.vault_url)
    url = _token_url(settings)
    if settings.auth_method == "managed-identity":
        params = {"api-version": "2018-02-01", "resource": resource}
        if settings.client_id:
            params["client_id"] = settings.client_id
        return await http.get(url, params=params, headers={"Metadata": "true"})
    form = {
        "grant_type": "client_credentials",
        "client_id": _required(reference, settings.client_id, "clientId or AZURE_CLIENT_ID"),
        "scope": f"{resource}/.default",
    }
    if settings.auth_method == "workload-identity":
        token_file = settings.federated_token_file
        if token_file is None:
            raise SecretResolutionError(
                f"secret {reference!r}: workload identity needs AZURE_FEDERATED_TOKEN_FILE "
                "(set by AKS when the pod's service account is annotated with a client id)"
            )
        try:
            assertion = token_file.read_text().strip()
        except OSError as exc:
            raise SecretResolutionError(
                f"secret {reference!r}: cannot read {token_file} ({type(exc).__name__})"
            ) from None
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = assertion
    elif settings.auth_method == "client-secret":
        form["client_secret"] = _required(reference, settings.client_secret, "AZURE_CLIENT_SECRET")
    else:
        raise SecretResolutionError(
            f"secret {reference!r}: secretManager authMethod {settings.auth_method!r} is not "
            f"one of {', '.join(AUTH_METHODS)}"
        )
    return await http.post(url, data=form)


def _token_url(settings: AzureKeyVaultSettings) -> str:
    if settings.token_endpoint:
        return settings.token_endpoint
    if settings.auth_method == "managed-identity":
        return IMDS
    tenant = settings.tenant_id or "organizations"
    return f"{settings.authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"


def _required(reference: str, value: str | None, what: str) -> str:
    if not value:
        raise SecretResolutionError(f"secret {reference!r}: Azure login needs {what}")
    return value


def _field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return None if value is None else str(value)


def _error_code(response: httpx.Response) -> str:
    """The error's code only: Entra ID's descriptions can be long, and are not ours to log."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no details"
    error: Any = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # Key Vault: {"error": {"code": ..., "message": ...}}
        error = error.get("code")
    return str(error or response.reason_phrase or "no details")
