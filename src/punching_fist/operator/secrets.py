"""``k8s://`` and ``vault://`` secret references.

* ``k8s://NAMESPACE/NAME/KEY`` reads key ``KEY`` of Secret ``NAME`` through the API server
  (``k8s://NAME/KEY`` uses the operator's own namespace).
* ``vault://PATH#KEY`` reads ``KEY`` from the Vault secret at ``PATH`` (KV v1 or v2, e.g.
  ``vault://secret/data/punchingfist/slack#token``); without ``#KEY`` the last path segment
  is the key. With the secretManager's ``secretPath``, ``PATH`` lies under it
  (``vault://slack#token``), so a configuration cannot read beyond it; a path written in full
  stays as it is. Vault's HTTP API is read with httpx, the project's HTTP client.

No message here contains a secret value; the references themselves are not secret.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from punching_fist.errors import SecretResolutionError
from punching_fist.operator.client import KubeClient, KubernetesApiError

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def parse_k8s_reference(reference: str, default_namespace: str) -> tuple[str, str, str]:
    """(namespace, name, key) of a ``k8s://`` reference."""
    parts = reference.removeprefix("k8s://").split("/")
    if len(parts) == 2 and all(parts):
        return default_namespace, parts[0], parts[1]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise SecretResolutionError(
        f"secret {reference!r}: expected k8s://namespace/name/key or k8s://name/key"
    )


class KubernetesSecretResolver:
    """Reads Kubernetes Secrets on demand (so rotated values are picked up)."""

    def __init__(self, client: KubeClient, *, default_namespace: str | None = None) -> None:
        self._client = client
        self._namespace = default_namespace or client.default_namespace

    async def resolve(self, reference: str) -> str:
        namespace, name, key = parse_k8s_reference(reference, self._namespace)
        try:
            secret = await self._client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubernetesApiError as exc:
            if exc.status == 404:
                raise SecretResolutionError(
                    f"secret {reference!r}: Secret {namespace}/{name} does not exist"
                ) from None
            raise SecretResolutionError(
                f"secret {reference!r}: cannot read Secret {namespace}/{name} ({exc.status})"
            ) from None
        data = secret.get("data") or {}
        if key in data:
            try:
                return base64.b64decode(data[key], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SecretResolutionError(
                    f"secret {reference!r}: key {key!r} is not base64-encoded UTF-8 text"
                ) from None
        string_data = secret.get("stringData") or {}
        if key in string_data:
            return str(string_data[key])
        raise SecretResolutionError(
            f"secret {reference!r}: Secret {namespace}/{name} has no key {key!r}"
        )


@dataclass(frozen=True, kw_only=True)
class VaultSettings:
    """How to reach and log in to Vault: a token, or Kubernetes auth with a role."""

    url: str
    token: str | None = None
    role: str | None = None
    auth_mount: str = "kubernetes"
    jwt_path: Path = SERVICE_ACCOUNT_TOKEN
    verify: bool | str = True
    secret_path: str = ""
    """Where every ``vault://`` path lies (the secretManager's ``secretPath``); empty: anywhere."""


def parse_vault_reference(reference: str) -> tuple[str, str]:
    """(path, key) of a ``vault://`` reference."""
    body = reference.removeprefix("vault://").strip("/")
    path, sep, key = body.partition("#")
    if not sep:
        path, _, key = body.rpartition("/")
    if not path or not key:
        raise SecretResolutionError(
            f"secret {reference!r}: expected vault://path#key or vault://path/key"
        )
    return path, key


def vault_path(reference: str, path: str, secret_path: str) -> str:
    """``path`` under ``secret_path``; one that already starts with it is taken as written."""
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise SecretResolutionError(
            f"secret {reference!r}: the path may not hold '.', '..' or '//'"
        )
    base = secret_path.strip("/")
    if not base or path == base or path.startswith(f"{base}/"):
        return path
    return f"{base}/{path}"


class VaultResolver:
    """Reads KV secrets from HashiCorp Vault's HTTP API."""

    def __init__(self, settings: Callable[[], VaultSettings | None]) -> None:
        self._settings = settings
        self._token: str | None = None
        """The token of the last Kubernetes-auth login, or of the settings."""
        self._lock = asyncio.Lock()

    async def _login(self, http: httpx.AsyncClient, settings: VaultSettings) -> str | None:
        if settings.token is not None or not settings.role:
            return settings.token
        jwt = settings.jwt_path.read_text().strip()
        response = await http.post(
            f"/v1/auth/{settings.auth_mount}/login", json={"role": settings.role, "jwt": jwt}
        )
        response.raise_for_status()
        token: str = response.json()["auth"]["client_token"]
        return token

    async def _read(self, settings: VaultSettings, path: str) -> Any:
        """The JSON Vault answers for ``path``; ``None`` when it has nothing there."""
        async with httpx.AsyncClient(
            base_url=settings.url.rstrip("/"),
            verify=_tls(settings.verify),
            timeout=10.0,
            headers={"X-Vault-Request": "true"},
        ) as http:
            if self._token is None:
                self._token = await self._login(http, settings)
            headers = {} if self._token is None else {"X-Vault-Token": self._token}
            response = await http.get(f"/v1/{path}", headers=headers)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    async def resolve(self, reference: str) -> str:
        path, key = parse_vault_reference(reference)
        settings = self._settings()
        if settings is None:
            raise SecretResolutionError(
                "vault:// needs Vault's address: an OperatorConfig secretManager of type vault, "
                "or VAULT_ADDR"
            )
        path = vault_path(reference, path, settings.secret_path)
        async with self._lock:
            try:
                answer = await self._read(settings, path)
            except (httpx.TransportError, OSError) as exc:
                raise SecretResolutionError(
                    f"secret {reference!r}: cannot reach Vault ({type(exc).__name__})"
                ) from None
            except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
                self._token = None  # log in again next time (the token may have expired)
                raise SecretResolutionError(
                    f"secret {reference!r}: Vault refused ({type(exc).__name__})"
                ) from None
        if answer is None:
            raise SecretResolutionError(f"secret {reference!r}: Vault has no secret at {path!r}")
        data = answer.get("data") or {}
        if isinstance(data.get("data"), dict) and "metadata" in data:
            data = data["data"]  # KV version 2 wraps the values once more
        if key not in data:
            raise SecretResolutionError(f"secret {reference!r}: no key {key!r} at that path")
        return str(data[key])


def _tls(verify: bool | str) -> ssl.SSLContext | bool:
    """``verify`` as httpx takes it: a CA bundle's path becomes a context trusting it."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
