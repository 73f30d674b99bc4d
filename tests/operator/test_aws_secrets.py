"""``aws-secrets://`` through boto3 against moto's Secrets Manager, run as a server on loopback.

No error message may contain a secret value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from punching_fist.errors import SecretResolutionError
from punching_fist.operator.aws_secrets import (
    AwsSecretsResolver,
    AwsSecretsSettings,
    parse_aws_reference,
    secret_id,
    settings_from,
)
from punching_fist.operator.runtime import add_secret_schemes
from punching_fist.resources import parse_yaml
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import SecretResolver
from tests.harness.ports import LOOPBACK, free_port
from tests.harness.processes import ManagedProcess, PortInUseError
from tests.operator.support import EXCERPTS

REGION = "eu-central-1"
SLACK = {"token": "xoxb-from-aws", "signing": "sig-from-aws"}
PLAIN = "plain-value-4711"
BINARY = b"binary-value-0815"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server on a free port, seeded with the secrets these tests read."""
    moto_server = Path(sys.executable).with_name("moto_server")
    logs = tmp_path_factory.mktemp("moto")
    for attempt in range(3):
        port = free_port()
        server = ManagedProcess(
            "moto",
            [str(moto_server), "-H", LOOPBACK, "-p", str(port)],
            log_path=logs / f"moto-{attempt}.log",
        )
        with server:
            url = f"http://{LOOPBACK}:{port}"
            try:
                server.wait_ready(url=f"{url}/moto-api/data.json", timeout=30)
            except PortInUseError:
                continue
            seed(url)
            yield url
            return
    raise RuntimeError("moto's server lost the race for a free port three times")


def client(endpoint: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("secretsmanager", endpoint_url=endpoint)


def seed(endpoint: str) -> None:
    secrets = client(endpoint)
    secrets.create_secret(Name="punchingfist/slack", SecretString=json.dumps(SLACK))
    secrets.create_secret(Name="punchingfist/plain", SecretString=PLAIN)
    secrets.create_secret(Name="punchingfist/binary", SecretBinary=BINARY)
    secrets.create_secret(Name="elsewhere/db", SecretString=json.dumps({"password": "pw-9"}))


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials as boto3 finds them in a pod with keys; nothing from this machine's setup."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def resolver(moto: str, prefix: str = "punchingfist/") -> AwsSecretsResolver:
    return AwsSecretsResolver(
        lambda: AwsSecretsSettings(region=REGION, endpoint=moto, prefix=prefix)
    )


async def test_a_json_field_of_a_secret_under_the_prefix(moto: str) -> None:
    secrets = resolver(moto)
    assert await secrets.resolve("aws-secrets://slack#token") == "xoxb-from-aws"
    assert await secrets.resolve("aws-secrets://slack#signing") == "sig-from-aws"
    # Written with the prefix, or as an ARN: taken as written.
    assert await secrets.resolve("aws-secrets://punchingfist/slack#token") == "xoxb-from-aws"
    arn = client(moto).describe_secret(SecretId="elsewhere/db")["ARN"]
    assert await secrets.resolve(f"aws-secrets://{arn}#password") == "pw-9"


async def test_a_whole_secret_string_or_binary(moto: str) -> None:
    secrets = resolver(moto)
    assert await secrets.resolve("aws-secrets://plain") == PLAIN
    assert await secrets.resolve("aws-secrets://binary") == BINARY.decode()
    assert await resolver(moto, prefix="").resolve("aws-secrets://elsewhere/db") == (
        '{"password": "pw-9"}'
    )


async def test_failures_name_the_reference_never_a_value(moto: str) -> None:
    secrets = resolver(moto)
    with pytest.raises(SecretResolutionError, match="has no secret 'punchingfist/absent'"):
        await secrets.resolve("aws-secrets://absent#token")
    with pytest.raises(SecretResolutionError, match="no key 'other'") as no_key:
        await secrets.resolve("aws-secrets://slack#other")
    with pytest.raises(SecretResolutionError, match="needs a JSON object") as not_json:
        await secrets.resolve("aws-secrets://plain#token")
    for failure in (no_key, not_json):
        for value in (*SLACK.values(), PLAIN):
            assert value not in str(failure.value)


async def test_no_region_or_no_credentials_say_what_to_set(
    moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SecretResolutionError, match=r"needs a region.*AWS_REGION"):
        await AwsSecretsResolver(lambda: AwsSecretsSettings()).resolve("aws-secrets://plain")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SecretResolutionError, match="no AWS credentials"):
        await resolver(moto).resolve("aws-secrets://plain")


async def test_unreachable_secrets_manager(moto: str) -> None:
    closed = f"http://{LOOPBACK}:{free_port()}"
    secrets = AwsSecretsResolver(lambda: AwsSecretsSettings(region=REGION, endpoint=closed))
    with pytest.raises(SecretResolutionError, match="cannot reach AWS Secrets Manager"):
        await secrets.resolve("aws-secrets://plain")


def test_reference_forms() -> None:
    assert parse_aws_reference("aws-secrets://slack#token") == ("slack", "token")
    assert parse_aws_reference("aws-secrets://a/b") == ("a/b", None)
    for bad in ("aws-secrets://", "aws-secrets://#k", "aws-secrets://slack#"):
        with pytest.raises(SecretResolutionError, match="expected aws-secrets://name"):
            parse_aws_reference(bad)
    assert secret_id("slack", "pf/") == "pf/slack"
    assert secret_id("pf/slack", "pf/") == "pf/slack"
    assert secret_id("arn:aws:secretsmanager:r:1:secret:x", "pf/") == (
        "arn:aws:secretsmanager:r:1:secret:x"
    )


def test_settings_come_from_the_operator_config() -> None:
    example = EXCERPTS / "09-operatorconfig-aws-secrets.yaml.example"
    config = parse_yaml(example.read_text(), origin=str(example))[0].resource
    assert isinstance(config, OperatorConfig)
    settings = settings_from(ResourceRegistry(ResourceSet(operator_config=config)))()
    assert settings == AwsSecretsSettings(region="us-west-2", prefix="punchingfist/")
    assert settings_from(ResourceRegistry())() == AwsSecretsSettings()


async def test_registered_scheme_reads_through_the_operator_config(moto: str) -> None:
    config = parse_yaml(
        f"""
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
spec:
  secretManager: {{type: aws-secrets, region: {REGION}, endpoint: "{moto}",
                  secretPrefix: punchingfist/}}
""",
        origin="config.yaml",
    )[0].resource
    assert isinstance(config, OperatorConfig)
    secrets = SecretResolver()
    add_secret_schemes(secrets, ResourceRegistry(ResourceSet(operator_config=config)), None)
    value = await secrets.resolve("aws-secrets://slack#token")
    assert value == "xoxb-from-aws"
    assert secrets.redact(f"Bearer {value}") == "Bearer [redacted]"
