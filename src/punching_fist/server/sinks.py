"""Building the sink side of a server: the delivery dispatch with its drivers' dependencies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import httpx

from punching_fist.config import Settings
from punching_fist.engine.chains import ChainLauncher
from punching_fist.engine.delivery.attempts import DeliveryTuning
from punching_fist.engine.delivery.dispatch import SinkDispatch
from punching_fist.observability.metrics import Metrics
from punching_fist.observability.tracing import Tracing
from punching_fist.resources.loader import ResourceSet
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.registry import SinkDependencies
from punching_fist.store.database import Database
from punching_fist.store.deliveries import DeliveryStore


def build_sink_dispatch(
    settings: Settings,
    database: Database,
    resources: Callable[[], ResourceSet],
    metrics: Metrics,
    secrets: SecretResolver,
    launcher: ChainLauncher,
    dependencies: SinkDependencies | None = None,
    tracing: Tracing | None = None,
) -> SinkDispatch:
    """Dependencies the caller left out are filled in: the server's secret resolver, a shared
    HTTP client (owned, and closed, by the returned ``SinkDispatch``), the chained-run
    launcher and links to the run API. ``tracing``: a span for each delivery attempt."""
    given = dependencies or SinkDependencies()
    http = given.http or httpx.AsyncClient(timeout=httpx.Timeout(30.0))
    complete = replace(
        given,
        http=http,
        secrets=given.secrets or secrets,
        workflows=given.workflows or launcher,
        run_url=given.run_url or run_link(settings),
    )
    return SinkDispatch(
        deliveries=delivery_store(settings, database),
        database=database,
        resources=resources,
        dependencies=complete,
        metrics=metrics,
        secrets=complete.secrets or secrets,
        tuning=DeliveryTuning(single_writer=database.is_sqlite),
        owned_http=None if given.http else http,
        tracing=tracing,
    )


def run_link(settings: Settings) -> Callable[[uuid.UUID], str]:
    """Links to a run for people: under ``public_url`` when set, else the listening address."""
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return lambda run_id: f"{base}/api/v1/runs/{run_id}"


def delivery_store(settings: Settings, database: Database) -> DeliveryStore:
    return DeliveryStore(
        database, owner=settings.owner, lease=timedelta(seconds=settings.lease_seconds)
    )
