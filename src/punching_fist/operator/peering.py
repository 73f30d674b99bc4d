"""kopf peering: the CRDs it needs and the peering objects replicas elect a leader through.

kopf pauses every replica that sees a live peer of higher priority, so exactly one replica runs
the controller handlers (status, Events) while every replica keeps serving webhooks. Peers of
*equal* priority all pause, which is why each replica picks a random priority at start.
kopf does not create peering objects itself; the controller does, idempotently, at start.
"""

from __future__ import annotations

from typing import Any

import yaml

from punching_fist.operator.client import KubeClient

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"


def _peering_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{PEERING_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "punching-fist"},
        },
        "spec": {
            "group": PEERING_GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": PEERING_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def peering_crds_yaml() -> str:
    """kopf's two peering CRDs (cluster-wide and namespaced), as one YAML stream."""
    documents = [
        _peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
        _peering_crd("KopfPeering", "kopfpeerings", "Namespaced"),
    ]
    header = (
        "# kopf.dev peering CRDs: replicas of the operator elect one controller through them.\n"
    )
    return header + yaml.safe_dump_all(documents, sort_keys=False)


async def ensure_peering_objects(
    client: KubeClient, *, name: str, namespaces: tuple[str, ...]
) -> None:
    """Create the peering object(s) kopf will use, unless they exist already."""
    if not namespaces:
        await client.create_if_absent(
            f"/apis/{PEERING_GROUP}/{PEERING_VERSION}/clusterkopfpeerings",
            {
                "apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": name},
            },
        )
        return
    for namespace in namespaces:
        await client.create_if_absent(
            f"/apis/{PEERING_GROUP}/{PEERING_VERSION}/namespaces/{namespace}/kopfpeerings",
            {
                "apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}",
                "kind": "KopfPeering",
                "metadata": {"name": name, "namespace": namespace},
            },
        )
