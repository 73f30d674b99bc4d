"""Which Kubernetes identity a step's kubectl calls carry.

The server's own credentials are found the way kubectl finds its own: ``--kubeconfig``, else
``KUBECONFIG``, else ``~/.kube/config``, else the pod's service account (``token`` and
``ca.crt`` in ``/var/run/secrets/kubernetes.io/serviceaccount``, the API server from
``KUBERNETES_SERVICE_HOST``/``PORT``).

A step that names a ``serviceAccount`` acts as that account by **impersonation**: it runs
with a kubeconfig we write, the server's own credentials plus ``as:
system:serviceaccount:NS:NAME``. The name comes from the workflow (trusted configuration),
never from the model: the kubectl policy refuses ``--as``, ``--kubeconfig``, ``--token`` and
their kin. Impersonation rather than tokens from the TokenRequest API, because:

* nothing new reaches the step. A requested token is a bearer credential that works from
  anywhere until it expires, after the step and outside the pod; impersonation adds a header
  to a credential the pod holds anyway.
* there is no token lifecycle: no API call per step, no cache of tokens to renew before they
  expire mid-step, no token written to disk.
* the API server's audit log names both identities: the operator's account as ``user``, the
  step's as ``impersonatedUser``.
* it works with whatever the server authenticates with (a laptop's kubeconfig, client
  certificates, the pod's token), so folder mode and the operator behave alike.

The chart grants ``impersonate`` only on the accounts steps may use, so the operator can
become those and nobody else. Where impersonation is not allowed, a folder of kubeconfigs,
one ``NAME.kubeconfig`` per account (``serve --kubeconfig-dir``), replaces it; a missing
file is then an error, never a fall-back to broader credentials.

What each kind of step gets:

* agent tools (kubectl, scripts, evidence): the step's account, else the agent's default
  account (``serve --agent-service-account``, ``punchingfist-agent`` in the chart), else the
  server's own credentials; with none at all, ``MissingCredentials``.
* ``cli`` steps: the step's account when it names one. Otherwise, in a pod, the connection
  (``KUBERNETES_SERVICE_HOST``/``PORT`` and a kubeconfig with the API server and its CA) but no
  credentials, so kubectl is anonymous rather than falling back to the pod's mounted token,
  the operator's own; outside a pod nothing is added (kubectl finds the inherited ``KUBECONFIG`` or
  ``~/.kube/config`` itself, as in a terminal).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from punching_fist.errors import ConfigurationError
from punching_fist.kube.kubeconfig import (
    Endpoint,
    current_endpoint,
    render,
    split_paths,
    write_private,
)

IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
KUBECONFIG_SUFFIX = ".kubeconfig"
ANONYMOUS = "system:anonymous"

# A Kubernetes object name (DNS-1123 subdomain): also guarantees no "/" or ".." path tricks.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class MissingCredentials(ConfigurationError):
    """A step's kubectl calls have no credentials to run with."""


@dataclass(frozen=True, kw_only=True)
class InCluster:
    """The pod's connection to its API server and its own service account."""

    host: str
    port: str
    token_file: Path | None = None
    """``None`` when no token is mounted (``automountServiceAccountToken: false``)."""
    ca_file: Path | None = None
    namespace: str | None = None

    @classmethod
    def detect(cls, environ: Mapping[str, str], directory: Path) -> InCluster | None:
        """The pod's connection, or ``None`` outside a pod (no ``KUBERNETES_SERVICE_*``)."""
        host, port = (environ.get(name) for name in IN_CLUSTER_VARIABLES)
        if not host or not port:
            return None
        token, ca, namespace = (directory / name for name in ("token", "ca.crt", "namespace"))
        return cls(
            host=host,
            port=port,
            token_file=token if token.is_file() else None,
            ca_file=ca if ca.is_file() else None,
            namespace=(namespace.read_text().strip() or None) if namespace.is_file() else None,
        )

    def variables(self) -> dict[str, str]:
        return dict(zip(IN_CLUSTER_VARIABLES, (self.host, self.port), strict=True))

    def endpoint(self, *, with_token: bool) -> Endpoint:
        """The API server as kubectl's in-cluster config sees it; the token is read from its
        file on every request, so a rotated (projected) token keeps working."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        cluster: dict[str, str] = {"server": f"https://{host}:{self.port}"}
        if self.ca_file is not None:
            cluster["certificate-authority"] = str(self.ca_file)
        if with_token and self.token_file is not None:
            user = {"tokenFile": str(self.token_file)}
        else:
            # kubectl asks on stdin for a user name when a kubeconfig holds no credentials. A
            # name without a password stops it asking; API servers ignore Basic authentication
            # (removed in 1.19), so the requests stay anonymous.
            user = {"username": ANONYMOUS}
        return Endpoint(cluster=cluster, user=user, namespace=self.namespace)


class _Written:
    """The kubeconfigs written for steps, one per identity, in a private folder."""

    def __init__(self) -> None:
        self._directory: Path | None = None
        self._paths: dict[tuple[str, str | None], Path] = {}

    def get(self, key: tuple[str, str | None]) -> Path | None:
        return self._paths.get(key)

    def write(self, key: tuple[str, str | None], text: str) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="punching-fist-kube-"))
        # "_" is in no Kubernetes name, so no two keys share a file.
        name = "_".join(part for part in key if part) + KUBECONFIG_SUFFIX
        path = self._paths[key] = write_private(self._directory, name, text)
        return path

    def remove(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
            self._paths.clear()


@dataclass(frozen=True, kw_only=True)
class KubeCredentials:
    """The server's own credentials and how steps' accounts derive from them; built once."""

    default: Path | str | None = None
    """The server's kubeconfig (``--kubeconfig``, ``KUBECONFIG`` or ``~/.kube/config``); a
    ``KUBECONFIG``-style list is kept as given. ``None``: in-cluster, or nothing."""
    directory: Path | None = None
    """Kubeconfigs per service account, ``<name>.kubeconfig``, instead of impersonation."""
    in_cluster: InCluster | None = None
    namespace: str | None = None
    """Namespace of the steps' service accounts; ``None``: the pod's, else the current
    context's, else ``default``."""
    agent_service_account: str | None = None
    """The account of agent steps that name none; ``None``: the server's own credentials."""
    _written: _Written = field(default_factory=_Written, compare=False, repr=False)

    @classmethod
    def discover(
        cls,
        environ: Mapping[str, str],
        *,
        kubeconfig: str | Path | None = None,
        directory: Path | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
        namespace: str | None = None,
        agent_service_account: str | None = None,
    ) -> KubeCredentials:
        """Find the server's credentials as kubectl would, from ``environ`` at start-up."""
        default = kubeconfig or environ.get("KUBECONFIG") or None
        home = environ.get("HOME")
        if default is None and home and (Path(home) / ".kube" / "config").is_file():
            default = Path(home) / ".kube" / "config"
        in_cluster = InCluster.detect(environ, service_account_dir)
        return cls(
            default=default,
            directory=directory,
            in_cluster=in_cluster,
            namespace=namespace or (in_cluster.namespace if in_cluster else None),
            agent_service_account=agent_service_account,
        )

    def agent_environment(
        self, *, step: str, service_account: str | None, kubeconfig: str | None = None
    ) -> dict[str, str]:
        """The variables that give an agent step's tools its identity (``KUBECONFIG``).

        ``kubeconfig``, set by the runtime, is used as given. Raises ``MissingCredentials``
        when the step's account has no credentials, or when there are none at all (better
        than kubectl dialling localhost:8080).
        """
        if kubeconfig:
            return {"KUBECONFIG": kubeconfig}
        account = service_account or self.agent_service_account
        if account:
            return {"KUBECONFIG": str(self._for_account(account))}
        if self.default is not None:
            return {"KUBECONFIG": str(self.default)}
        if self.in_cluster is not None and self.in_cluster.token_file is not None:
            endpoint = self.in_cluster.endpoint(with_token=True)
            return {"KUBECONFIG": str(self._write(("in-cluster", None), render(endpoint)))}
        raise MissingCredentials(
            f"step {step!r}: no Kubernetes credentials for kubectl; run the server with"
            " --kubeconfig, KUBECONFIG or ~/.kube/config, or in a pod with its service account"
        )

    def cli_environment(self, *, service_account: str | None) -> dict[str, str]:
        """What a ``cli`` step adds to its environment: its account's kubeconfig if it names
        one, else in a pod the connection without credentials, else nothing."""
        if service_account:
            return {"KUBECONFIG": str(self._for_account(service_account))}
        if self.in_cluster is None:
            return {}
        endpoint = self.in_cluster.endpoint(with_token=False)
        path = self._write(("anonymous", None), render(endpoint))
        return {**self.in_cluster.variables(), "KUBECONFIG": str(path)}

    def remove_files(self) -> None:
        """Delete the kubeconfigs written for steps (at shutdown)."""
        self._written.remove()

    def _for_account(self, name: str) -> Path:
        if not _NAME.fullmatch(name) or len(name) > 253:
            raise MissingCredentials(f"serviceAccount {name!r} is not a valid Kubernetes name")
        if self.directory is not None:
            path = self.directory / f"{name}{KUBECONFIG_SUFFIX}"
            if not path.is_file():
                raise MissingCredentials(
                    f"serviceAccount {name!r}: no kubeconfig at {path}; add it (for example as a"
                    f" key {name}{KUBECONFIG_SUFFIX} of the mounted kubeconfig Secret)"
                )
            return path
        base = self._own_endpoint(name)
        namespace = self._namespace(base)
        key = (namespace, name)
        cached = self._written.get(key)
        if cached is not None:
            return cached
        identity = f"system:serviceaccount:{namespace}:{name}"
        return self._write(key, render(base, impersonate=identity))

    def _own_endpoint(self, account: str) -> Endpoint:
        if self.default is not None:
            try:
                return current_endpoint(split_paths(self.default))
            except ConfigurationError as exc:
                raise MissingCredentials(f"serviceAccount {account!r}: {exc}") from exc
        if self.in_cluster is not None and self.in_cluster.token_file is not None:
            return self.in_cluster.endpoint(with_token=True)
        raise MissingCredentials(
            f"serviceAccount {account!r}: the server has no Kubernetes credentials to act as"
            " it with (--kubeconfig, KUBECONFIG, ~/.kube/config or a pod's service account),"
            " and no --kubeconfig-dir with a kubeconfig per account"
        )

    def _namespace(self, base: Endpoint) -> str:
        return self.namespace or base.namespace or "default"

    def _write(self, key: tuple[str, str | None], text: str) -> Path:
        return self._written.get(key) or self._written.write(key, text)
