"""``validate --connect``: what only the environment a server runs in can say about Sources.

``validate`` alone checks files and the ``env://`` secrets of Sources. With ``--connect`` it
also does what ``serve`` would find at start: every other secret reference of a Source
resolves (with the schemes folder-mode ``serve`` has), and the cluster of kubernetes Sources
(``--kubeconfig``, else ``KUBECONFIG``) is reachable and serves their resource. Each problem
names its Source.
"""

from __future__ import annotations

from pathlib import Path

from punching_fist.errors import ConfigurationError, SecretResolutionError
from punching_fist.operator.checks import secret_references
from punching_fist.operator.client import KubernetesApiError
from punching_fist.operator.kubernetes_source import kubeconfig_client, resolve_resource
from punching_fist.operator.runtime import add_secret_schemes
from punching_fist.resources.loader import ResourceSet, model_dump_wire
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import KubernetesSourceSpec
from punching_fist.resources.source_secrets import is_offline
from punching_fist.secret_refs import SecretResolver


async def connect_problems(resources: ResourceSet, kubeconfig: Path | None) -> list[str]:
    """Every Source that could not run here, one line each."""
    secrets = SecretResolver()
    add_secret_schemes(secrets, ResourceRegistry(resources), None)
    problems: list[str] = []
    for name, source in sorted(resources.sources.items()):
        for at, reference in secret_references(model_dump_wire(source.spec)):
            if is_offline(reference):
                continue  # plain validate reports it already (resources/source_secrets.py)
            try:
                await secrets.resolve(reference)
            except SecretResolutionError as exc:
                problems.append(f"Source/{name}: {at}: {exc}")
    watched = {
        name: source.spec
        for name, source in sorted(resources.sources.items())
        if isinstance(source.spec, KubernetesSourceSpec)
    }
    if watched:
        problems += await _cluster_problems(watched, kubeconfig)
    return problems


async def _cluster_problems(
    watched: dict[str, KubernetesSourceSpec], kubeconfig: Path | None
) -> list[str]:
    try:
        client = kubeconfig_client(kubeconfig)
    except ConfigurationError as exc:
        return [f"Source/{name}: {exc}" for name in watched]
    problems = []
    try:
        for name, spec in watched.items():
            try:
                await resolve_resource(client, spec.config.resource)
            except KubernetesApiError as exc:
                problems.append(f"Source/{name}: the Kubernetes API at {client.server}: {exc}")
            except ConfigurationError as exc:
                problems.append(f"Source/{name}: {exc}")
    finally:
        await client.close()
    return problems
