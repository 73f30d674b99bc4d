"""An alert's signature: what makes two alerts the same incident for memory and the cache.

Its alertname and identifying labels: the namespace, the workload (an owner label such as
``deployment``, or the pod's name without its generated suffix: another pod of the same
Deployment is the same workload) and the container. The workload is worked out by the
caller (the engine uses ``incidents.correlation.workload_of``, the incidents' own rule) so
that an incident and its memory agree on what a workload is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_NAMESPACE_LABELS = ("namespace", "kubernetes_namespace")


@dataclass(frozen=True, kw_only=True)
class Signature:
    alertname: str | None
    namespace: str | None
    workload: str | None
    container: str | None

    @classmethod
    def of(cls, labels: Mapping[str, object], workload: str | None) -> Signature:
        return cls(
            alertname=_text(labels.get("alertname")),
            namespace=next(
                (v for v in (_text(labels.get(n)) for n in _NAMESPACE_LABELS) if v), None
            ),
            workload=workload or None,
            container=_text(labels.get("container")),
        )


def _text(value: object) -> str | None:
    return value[:255] if isinstance(value, str) and value else None
