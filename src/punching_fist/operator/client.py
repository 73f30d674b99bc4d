"""A small async Kubernetes API client on httpx, logged in the way kopf logs in.

kopf owns its own HTTP session; everything else the operator does against the API (the
resource mirror every replica runs, status writes, secrets, the ``kubernetes`` source's
watches) goes through this client. Credentials come from kopf's public login functions
(in-cluster service account first, then the kubeconfig), so both agree on the cluster.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import kopf

from punching_fist.errors import ConfigurationError, RuntimeFailure

MERGE_PATCH = "application/merge-patch+json"


class KubernetesApiError(RuntimeFailure):
    """The API server refused a request; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"Kubernetes API: {status}: {message}")


def login() -> Any:
    """kopf's ``ConnectionInfo`` for this process: in-cluster first, then the kubeconfig."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise ConfigurationError(
            "no Kubernetes credentials: not in a cluster and no kubeconfig (set KUBECONFIG)"
        )
    return info


class KubeClient:
    """JSON requests against one API server; translate transport errors at this boundary."""

    def __init__(self, info: Any) -> None:
        self._files = tempfile.TemporaryDirectory(prefix="pf-kube-")
        self.server: str = str(info.server).rstrip("/")
        self.default_namespace: str = info.default_namespace or "default"
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"Bearer {info.token}"
        auth = None
        if info.username and info.password:
            auth = httpx.BasicAuth(info.username, info.password)
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            auth=auth,
            verify=self._ssl_context(info),
            timeout=httpx.Timeout(30.0, connect=10.0),
        )

    @classmethod
    def from_environment(cls) -> KubeClient:
        return cls(login())

    def _materialise(self, name: str, path: Any, data: Any) -> str | None:
        """A file path for PEM material given as a path or as base64 data (ssl needs files)."""
        if path:
            return str(path)
        if not data:
            return None
        raw = data if isinstance(data, bytes) else base64.b64decode(data)
        target = Path(self._files.name) / name
        target.write_bytes(raw)
        target.chmod(0o600)
        return str(target)

    def _ssl_context(self, info: Any) -> ssl.SSLContext:
        if info.insecure:
            # Still present the client certificate: "insecure" only skips server verification.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            ca_file = self._materialise("ca.crt", info.ca_path, info.ca_data)
            context = ssl.create_default_context(cafile=ca_file)
        cert = self._materialise("client.crt", info.certificate_path, info.certificate_data)
        key = self._materialise("client.key", info.private_key_path, info.private_key_data)
        if cert:
            context.load_cert_chain(cert, key)
        return context

    async def close(self) -> None:
        await self._http.aclose()
        self._files.cleanup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | None = None,
    ) -> Any:
        """One request; the decoded JSON answer, or ``KubernetesApiError``."""
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                timeout=request_timeout
                if request_timeout is not None
                else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise KubernetesApiError(0, f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise KubernetesApiError(response.status_code, _message(response))
        return response.json() if response.content else None

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body=body)

    async def create_if_absent(self, path: str, body: Any) -> None:
        try:
            await self.create(path, body)
        except KubernetesApiError as exc:
            if exc.status != 409:
                raise

    async def merge_patch(self, path: str, body: Any) -> Any:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def watch(
        self, path: str, params: Mapping[str, str], *, timeout_seconds: int = 300
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of one watch request, until the server closes it (callers loop)."""
        query = {**params, "watch": "true", "timeoutSeconds": str(timeout_seconds)}
        try:
            async with self._http.stream(
                "GET", path, params=query, timeout=httpx.Timeout(timeout_seconds + 30.0)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise KubernetesApiError(response.status_code, _message(response))
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise KubernetesApiError(0, f"watch {path}: {exc}") from exc


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text[:500]
