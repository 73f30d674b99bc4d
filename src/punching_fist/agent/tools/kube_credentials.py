"""Which Kubernetes credentials a step's kubectl calls carry.

A step names a ``serviceAccount`` (the design's read-only "investigator" and the
approval-gated "remediator"); RBAC on that account is the last line of defence behind the
kubectl policy, so a step must never run with more than its account may do. The mapping:

1. ``ToolContext.kubeconfig``, when the runtime set it, is used as given (trusted config).
2. A step with ``serviceAccount: NAME`` uses ``<directory>/NAME.kubeconfig``. In a cluster,
   ``directory`` is typically a Secret mounted into the operator pod with one key per
   account (``punchingfist-investigator.kubeconfig: ...``), each holding a kubeconfig with
   that account's token; on a laptop it is a folder of kubeconfigs. A missing file is a
   configuration error, never a silent fall-back to broader credentials.
3. A step without a service account uses ``default`` when set, else the operator pod's own
   service account (in-cluster config: ``KUBERNETES_SERVICE_HOST``/``PORT`` captured at
   start-up, the token kubectl reads from the standard mount).

Nothing else reaches kubectl: the model cannot name a kubeconfig, context or token (the
policy refuses those flags), and ``KUBECONFIG`` always points at a file chosen here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from punching_fist.agent.tools.base import ToolContext
from punching_fist.errors import ConfigurationError

IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
KUBECONFIG_SUFFIX = ".kubeconfig"

# A Kubernetes object name (DNS-1123 subdomain): also guarantees no "/" or ".." path tricks.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class MissingCredentials(ConfigurationError):
    """A step's kubectl calls have no credentials to run with."""


@dataclass(frozen=True, kw_only=True)
class KubeCredentials:
    """Where the kubectl tool finds each step's kubeconfig; built once at start-up."""

    directory: Path | None = None
    """Kubeconfigs per service account, named ``<service-account>.kubeconfig``."""
    default: Path | None = None
    """Kubeconfig for steps without a service account; ``None`` means in-cluster config."""
    in_cluster_env: Mapping[str, str] = field(default_factory=dict)
    """``KUBERNETES_SERVICE_HOST``/``PORT`` when the operator runs in a pod, else empty."""

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        directory: Path | None = None,
        default: Path | None = None,
    ) -> KubeCredentials:
        """Capture the in-cluster variables from the operator's environment (at start-up)."""
        in_cluster = {name: environ[name] for name in IN_CLUSTER_VARIABLES if name in environ}
        return cls(directory=directory, default=default, in_cluster_env=in_cluster)

    def environment_for(self, context: ToolContext) -> dict[str, str]:
        """The variables that give kubectl this step's identity (``KUBECONFIG`` and friends).

        Raises ``MissingCredentials`` when the step's service account has no kubeconfig, or
        when there is no credential at all (better than kubectl dialling localhost:8080).
        """
        if context.kubeconfig:
            return {"KUBECONFIG": context.kubeconfig}
        if context.service_account:
            return {"KUBECONFIG": str(self._for_service_account(context.service_account))}
        if self.default is not None:
            return {"KUBECONFIG": str(self.default)}
        if len(self.in_cluster_env) == len(IN_CLUSTER_VARIABLES):
            # An empty kubeconfig makes kubectl fall back to the pod's service account.
            return {"KUBECONFIG": os.devnull, **self.in_cluster_env}
        raise MissingCredentials(
            f"step {context.step_name!r}: no Kubernetes credentials for kubectl; give the step"
            " a serviceAccount with a kubeconfig in the operator's kubeconfig directory, or"
            " configure a default kubeconfig"
        )

    def _for_service_account(self, name: str) -> Path:
        if not _NAME.fullmatch(name) or len(name) > 253:
            raise MissingCredentials(f"serviceAccount {name!r} is not a valid Kubernetes name")
        if self.directory is None:
            raise MissingCredentials(
                f"serviceAccount {name!r}: the operator has no kubeconfig directory configured"
                f" (expected a file {name}{KUBECONFIG_SUFFIX} there)"
            )
        path = self.directory / f"{name}{KUBECONFIG_SUFFIX}"
        if not path.is_file():
            raise MissingCredentials(
                f"serviceAccount {name!r}: no kubeconfig at {path}; add it (for example as a"
                f" key {name}{KUBECONFIG_SUFFIX} of the mounted kubeconfig Secret)"
            )
        return path
