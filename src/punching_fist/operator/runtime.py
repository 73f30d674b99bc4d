"""Kubernetes mode, assembled: resource mirror, ``kubernetes`` sources, controller, secrets.

The service starts this after its engine is up and stops it first. Every replica runs the
mirror and the source watches; kopf's peering decides which one runs the controller.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from punching_fist.config import Settings
from punching_fist.errors import ConfigurationError
from punching_fist.operator import aws_secrets, azure_keyvault
from punching_fist.operator.aws_secrets import AwsSecretsResolver
from punching_fist.operator.azure_keyvault import AzureKeyVaultResolver
from punching_fist.operator.checks import ResourceChecker
from punching_fist.operator.client import KubeClient, KubernetesApiError
from punching_fist.operator.controller import Controller, ControllerSettings
from punching_fist.operator.kubernetes_source import KubernetesSourceRunner
from punching_fist.operator.mirror import ResourceMirror
from punching_fist.operator.peering import ensure_peering_objects
from punching_fist.operator.secrets import KubernetesSecretResolver, VaultResolver, VaultSettings
from punching_fist.operator.token_review import KubernetesTokenReviewer
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import CachingResolver, SecretResolver
from punching_fist.server.service import Service

log = structlog.get_logger(__name__)


def vault_settings_from(
    registry: ResourceRegistry, environ: Mapping[str, str] | None = None
) -> Callable[[], VaultSettings | None]:
    """Vault's address and login, from the OperatorConfig's ``secretManager`` or VAULT_ADDR.

    Read when a ``vault://`` reference is first resolved, so an OperatorConfig applied after
    start-up still counts.
    """

    def current() -> VaultSettings | None:
        env = os.environ if environ is None else environ
        config = registry.current().operator_config
        manager = config.spec.secret_manager if config is not None else None
        token = env.get("VAULT_TOKEN") or None
        if manager is not None and manager.type == "vault" and manager.endpoint:
            mount = manager.auth_method or "kubernetes"
            return VaultSettings(
                url=manager.endpoint,
                token=token,
                role=manager.role,
                auth_mount=mount,
                secret_path=manager.secret_path or "",
            )
        if env.get("VAULT_ADDR"):
            return VaultSettings(url=env["VAULT_ADDR"], token=token, role=env.get("VAULT_ROLE"))
        return None

    return current


def add_secret_schemes(
    resolver: SecretResolver, registry: ResourceRegistry, client: KubeClient | None
) -> None:
    """A scheme for each secret manager (configured when first used; their values kept a
    minute); k8s:// when a cluster is at hand."""
    resolver.register("vault", CachingResolver(VaultResolver(vault_settings_from(registry))))
    aws = AwsSecretsResolver(aws_secrets.settings_from(registry))
    azure = AzureKeyVaultResolver(azure_keyvault.settings_from(registry))
    resolver.register("aws-secrets", CachingResolver(aws))
    resolver.register("azure-keyvault", CachingResolver(azure))
    if client is not None:
        resolver.register("k8s", KubernetesSecretResolver(client))


@dataclass(kw_only=True)
class OperatorRuntime:
    """The Kubernetes-mode parts of one replica; ``start``/``stop`` follow the service's."""

    client: KubeClient
    mirror: ResourceMirror
    sources: KubernetesSourceRunner
    controller: Controller
    settings: ControllerSettings

    @classmethod
    def build(cls, service: Service, client: KubeClient, settings: Settings) -> OperatorRuntime:
        """The parts, and ``spec.api.auth: kubernetes`` made possible for the service's API."""
        service.auth.use_token_review(
            KubernetesTokenReviewer(client, namespace=client.default_namespace)
        )
        controller_settings = ControllerSettings(
            namespaces=settings.namespaces,
            peering_name=settings.peering_name,
            priority=settings.peering_priority,
            peering_lifetime=settings.peering_lifetime_seconds,
            status_interval=settings.status_interval_seconds,
        )
        sources = KubernetesSourceRunner(
            client, service.registry, service.trigger_run, database=service.database
        )
        return cls(
            client=client,
            mirror=ResourceMirror(client, service.registry, namespaces=settings.namespaces),
            sources=sources,
            controller=Controller(
                client=client,
                database=service.database,
                registry=service.registry,
                checker=ResourceChecker(service.secrets, sources.problem),
                settings=controller_settings,
                runbooks=service.runbooks,
            ),
            settings=controller_settings,
        )

    async def start(self) -> None:
        try:
            await ensure_peering_objects(
                self.client, name=self.settings.peering_name, namespaces=self.settings.namespaces
            )
        except KubernetesApiError as exc:
            if exc.status == 404:
                raise ConfigurationError(
                    "the kopf.dev peering CRDs are not installed: "
                    "kubectl apply -f charts/punching-fist/crds/"
                ) from exc
            raise
        await self.mirror.start()
        self.sources.start()
        await self.controller.start()
        log.info(
            "kubernetes mode started",
            namespaces=list(self.settings.namespaces) or "all",
            priority=self.settings.priority,
        )

    async def stop(self) -> None:
        await self.controller.stop()
        await self.sources.stop()
        await self.mirror.stop()
        await self.client.close()
