"""``aws-secrets://NAME#KEY``: secrets from AWS Secrets Manager, through boto3.

``NAME`` is a secret's name, under the secretManager's ``secretPrefix`` unless it already
starts with it, or a full ARN. With ``#KEY`` the secret's string is a JSON object (what the
console stores for key/value secrets) and the value is its field ``KEY``; without it the whole
string, or the binary as UTF-8 text, is the value.

Credentials come from boto3's default chain, so IRSA (the design's ``authMethod: iam-role``),
EKS Pod Identity, an instance profile or ``AWS_ACCESS_KEY_ID`` work with nothing set here.
boto3 is synchronous, so each read runs in a worker thread. No message holds a secret value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from punching_fist.errors import SecretResolutionError
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import json_field

SCHEME = "aws-secrets://"


@dataclass(frozen=True, kw_only=True)
class AwsSecretsSettings:
    """Where Secrets Manager is; credentials are boto3's own business."""

    region: str | None = None
    """``None``: boto3's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile)."""
    endpoint: str | None = None
    """A VPC endpoint's URL, or a local emulator's; ``None``: the region's public endpoint."""
    prefix: str = ""
    """The secretManager's ``secretPrefix``: where Punching Fist's secrets are named."""


def settings_from(registry: ResourceRegistry) -> Callable[[], AwsSecretsSettings]:
    """Region, endpoint and prefix of a secretManager of type aws-secrets, else boto3's own.

    Read when a reference is resolved, so an OperatorConfig applied after start-up counts.
    """

    def current() -> AwsSecretsSettings:
        config = registry.current().operator_config
        manager = config.spec.secret_manager if config is not None else None
        if manager is None or manager.type != "aws-secrets":
            return AwsSecretsSettings()
        return AwsSecretsSettings(
            region=manager.region, endpoint=manager.endpoint, prefix=manager.secret_prefix or ""
        )

    return current


def parse_aws_reference(reference: str) -> tuple[str, str | None]:
    """(name, JSON field or ``None``) of an ``aws-secrets://`` reference."""
    name, sep, key = reference.removeprefix(SCHEME).partition("#")
    if not name or (sep and not key):
        raise SecretResolutionError(
            f"secret {reference!r}: expected aws-secrets://name or aws-secrets://name#key"
        )
    return name, key or None


def secret_id(name: str, prefix: str) -> str:
    """The ``SecretId`` to ask for: ``name`` under ``prefix``, unless it is already there."""
    if not prefix or name.startswith(("arn:", prefix)):
        return name
    return prefix + name


class AwsSecretsResolver:
    """Reads secrets with ``GetSecretValue``; one boto3 client per settings in force."""

    def __init__(self, settings: Callable[[], AwsSecretsSettings]) -> None:
        self._settings = settings
        self._client: tuple[AwsSecretsSettings, Any] | None = None
        self._lock = asyncio.Lock()

    def _client_for(self, settings: AwsSecretsSettings) -> Any:
        if self._client is not None and self._client[0] == settings:
            return self._client[1]
        import boto3  # imported on first use: it takes a while, and most servers never need it
        from botocore.config import Config

        client = boto3.session.Session().client(
            "secretsmanager",
            region_name=settings.region,
            endpoint_url=settings.endpoint,
            config=Config(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        self._client = (settings, client)
        return client

    def _read(self, settings: AwsSecretsSettings, secret: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._client_for(settings).get_secret_value(SecretId=secret)
        return answer

    async def resolve(self, reference: str) -> str:
        name, key = parse_aws_reference(reference)
        settings = self._settings()
        secret = secret_id(name, settings.prefix)
        from botocore import exceptions as aws

        async with self._lock:
            try:
                answer = await asyncio.to_thread(self._read, settings, secret)
            except aws.NoRegionError:
                raise SecretResolutionError(
                    f"secret {reference!r}: aws-secrets:// needs a region: the OperatorConfig "
                    "secretManager's region (type aws-secrets), or AWS_REGION"
                ) from None
            except aws.NoCredentialsError:
                raise SecretResolutionError(
                    f"secret {reference!r}: no AWS credentials (IRSA's service account "
                    "annotation, an instance profile, or AWS_ACCESS_KEY_ID)"
                ) from None
            except aws.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "unknown"))
                if code == "ResourceNotFoundException":
                    raise SecretResolutionError(
                        f"secret {reference!r}: AWS Secrets Manager has no secret {secret!r}"
                    ) from None
                raise SecretResolutionError(
                    f"secret {reference!r}: AWS Secrets Manager refused ({code})"
                ) from None
            except aws.BotoCoreError as exc:
                raise SecretResolutionError(
                    f"secret {reference!r}: cannot reach AWS Secrets Manager ({type(exc).__name__})"
                ) from None
        return _value(reference, answer, key)


def _value(reference: str, answer: dict[str, Any], key: str | None) -> str:
    text = answer.get("SecretString")
    if text is None:
        try:
            text = bytes(answer.get("SecretBinary") or b"").decode()
        except UnicodeDecodeError:
            raise SecretResolutionError(
                f"secret {reference!r}: the secret is binary, not UTF-8 text"
            ) from None
    return str(text) if key is None else json_field(reference, str(text), key)
