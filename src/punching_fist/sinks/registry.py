"""Building sink drivers from ``Sink`` resources, by type, registered explicitly."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from punching_fist.engine.status import DeliveryStatus
from punching_fist.errors import ConfigurationError
from punching_fist.resources.sink import (
    AlertmanagerSinkSpec,
    JiraSinkSpec,
    PagerDutySinkSpec,
    PrometheusSinkSpec,
    Sink,
    SlackSinkSpec,
    StdoutSinkSpec,
    WorkflowSinkSpec,
)
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.alertmanager import AlertmanagerSink
from punching_fist.sinks.base import Delivery, DeliveryReport, SinkDriver
from punching_fist.sinks.jira import JiraSink
from punching_fist.sinks.pagerduty import PagerDutySink
from punching_fist.sinks.pushgateway import PushgatewaySink
from punching_fist.sinks.slack import SlackSink
from punching_fist.sinks.stdout import StdoutSink
from punching_fist.sinks.workflow import WorkflowSink, WorkflowStarter


@dataclass(frozen=True, kw_only=True)
class SinkDependencies:
    """What drivers may need from the outside world, handed in rather than reached for."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    http: httpx.AsyncClient | None = None
    """The shared client of the HTTP sinks; the service opens and closes it."""
    secrets: SecretResolver | None = None
    """Resolves the sinks' credential references; the service hands in its own."""
    run_url: Callable[[uuid.UUID], str | None] | None = None
    """Link to a run for humans (Slack buttons, Jira descriptions, PagerDuty links)."""
    workflows: WorkflowStarter | None = None
    """Starts chained runs for the ``workflow`` sink."""

    def client(self) -> httpx.AsyncClient:
        if self.http is None:
            raise ConfigurationError("HTTP sinks need an HTTP client; none was configured")
        return self.http

    def link(self, run_id: uuid.UUID) -> str | None:
        return self.run_url(run_id) if self.run_url is not None else None

    def resolver(self) -> SecretResolver:
        if self.secrets is None:
            raise ConfigurationError("sink credentials need a secret resolver; none configured")
        return self.secrets


class NotImplementedSink:
    """A sink type this build cannot deliver to yet: reported, never fatal to the run."""

    def __init__(self, sink_type: str) -> None:
        self._type = sink_type

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        return DeliveryReport(
            status=DeliveryStatus.NOT_IMPLEMENTED,
            error=f"sink type {self._type!r} is not implemented in this build",
        )


SinkFactory = Callable[[Sink, SinkDependencies], SinkDriver]


def _stdout(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, StdoutSinkSpec)
    return StdoutSink(sink.spec.config, deps.stdout)


def _slack(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, SlackSinkSpec)
    return SlackSink(sink.spec.config, secrets=deps.resolver(), run_url=deps.link)


def _alertmanager(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, AlertmanagerSinkSpec)
    return AlertmanagerSink(sink.spec.config, deps.client(), run_url=deps.link)


def _prometheus(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, PrometheusSinkSpec)
    return PushgatewaySink(sink.spec.config, deps.client())


def _jira(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, JiraSinkSpec)
    return JiraSink(sink.spec.config, deps.client(), secrets=deps.resolver(), run_url=deps.link)


def _pagerduty(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, PagerDutySinkSpec)
    return PagerDutySink(
        sink.spec.config, deps.client(), secrets=deps.resolver(), run_url=deps.link
    )


def _workflow(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    assert isinstance(sink.spec, WorkflowSinkSpec)
    if deps.workflows is None:
        raise ConfigurationError("the workflow sink needs a run starter; none was configured")
    return WorkflowSink(sink.spec.config, deps.workflows)


FACTORIES: dict[str, SinkFactory] = {
    "stdout": _stdout,
    "slack": _slack,
    "alertmanager": _alertmanager,
    "prometheus": _prometheus,
    "jira": _jira,
    "pagerduty": _pagerduty,
    "workflow": _workflow,
}


def build_sink(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    factory = FACTORIES.get(sink.spec.type)
    if factory is None:
        return NotImplementedSink(sink.spec.type)
    return factory(sink, deps)
