"""Pytest fixtures for the real services; registered as a plugin by ``tests/conftest.py``.

Slow services are session-scoped and started lazily, so a run that needs none of them pays
nothing. A service that cannot run here (binaries missing) skips its tests with a hint on
how to install it; under ``CI=true`` it fails instead, because a CI run that silently skips
the integration tests proves nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.harness.k8s import K8sApiServer, default_kit_dir, kit_problems, running_k8s_apiserver
from tests.harness.postgres import PostgresServer, postgres_binaries_missing, running_postgres
from tests.harness.prometheus_stack import (
    PrometheusStack,
    prometheus_binaries_missing,
    running_prometheus_stack,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def unavailable(reason: str) -> NoReturn:
    """Skip the requesting test, or fail it when running in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session, pointing at database ``pf_test``."""
    missing = postgres_binaries_missing()
    if missing:
        unavailable(f"PostgreSQL 15 not installed ({', '.join(missing)}); run `make test-deps`")
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A fresh, empty database for one test, dropped afterwards (even if still in use)."""
    name = f"pf_{uuid.uuid4().hex[:16]}"
    database = postgres_server.create_database(name)
    yield database
    postgres_server.drop_database(name)


@pytest.fixture
def postgres_url(postgres_database: PostgresServer) -> str:
    """SQLAlchemy URL (``postgresql+asyncpg://...``) of a fresh database for one test."""
    return postgres_database.async_url


@pytest.fixture(scope="session")
def prometheus_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusStack]:
    """Prometheus + Alertmanager + Pushgateway + webhook relay, shared by the session.

    Shared state: prefer ``clean_prometheus_stack`` in tests, and match webhooks on
    label values unique to the test.
    """
    missing = prometheus_binaries_missing()
    if missing:
        unavailable(f"Prometheus stack not installed ({', '.join(missing)}); run `make test-deps`")
    with running_prometheus_stack(tmp_path_factory.mktemp("prometheus-stack")) as stack:
        yield stack


@pytest.fixture
def clean_prometheus_stack(prometheus_stack: PrometheusStack) -> Iterator[PrometheusStack]:
    """The session's stack with no webhook target, no recorded payloads, no pushed metrics.

    Reset again afterwards so a test's alerts stop firing at the next test's receiver.
    """
    prometheus_stack.reset()
    yield prometheus_stack
    prometheus_stack.reset()


@pytest.fixture(scope="session")
def k8s_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[K8sApiServer]:
    """A Kubernetes API server: ``PF_TEST_KUBECONFIG``'s cluster, or one started from the kit."""
    given = os.environ.get("PF_TEST_KUBECONFIG")
    if given:
        kubeconfig = Path(given)
        if not kubeconfig.is_file():
            pytest.fail(f"PF_TEST_KUBECONFIG={given} is not a file", pytrace=False)
        yield K8sApiServer(kubeconfig=kubeconfig)
        return
    kit = default_kit_dir(REPO_ROOT)
    problems = kit_problems(kit)
    if problems:
        unavailable(
            f"no Kubernetes API server for tests ({'; '.join(problems)}): put the kit at {kit}"
            " (with kubectl, openssl and curl on PATH) or set PF_TEST_KUBECONFIG to the"
            " kubeconfig of a disposable cluster"
        )
    with running_k8s_apiserver(kit, tmp_path_factory.mktemp("k8s-apiserver")) as server:
        yield server
