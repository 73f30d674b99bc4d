"""The ``prometheus`` sink: a run's metrics pushed to a Pushgateway.

The samples are built with ``prometheus_client`` (a private ``CollectorRegistry`` per
delivery, rendered by ``generate_latest`` in the text exposition format) and sent with the
shared async httpx client, because ``prometheus_client.push_to_gateway`` blocks. The push
is a ``PUT`` of the whole group (``job`` plus the grouping key), which makes it idempotent:
a retried push replaces what the lost one may have left.

Every push carries ``punchingfist_workflow_duration_seconds``, ``..._success``,
``..._status{status}``, ``..._confidence`` (when known), ``..._auto_fixed`` and
``..._last_completion_timestamp_seconds``, plus the sink's own ``metrics`` whose values are
templates.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

import httpx
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from punching_fist.engine.status import DeliveryStatus, RunStatus
from punching_fist.errors import TemplateError
from punching_fist.resources.sink import PrometheusConfig
from punching_fist.sinks.base import Delivery, DeliveryReport
from punching_fist.sinks.http import check, join_url, send
from punching_fist.sinks.summary import ResultSummary, summarize
from punching_fist.templating import render, render_value

SERVICE = "pushgateway"
PREFIX = "punchingfist_workflow"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def group_path(job: str, grouping: Mapping[str, str]) -> str:
    """``/metrics/job@base64/…/name@base64/…``: base64 allows any value, ``/`` included."""
    parts = [f"job@base64/{_b64(job)}"]
    parts += [f"{name}@base64/{_b64(value)}" for name, value in grouping.items()]
    return "/metrics/" + "/".join(parts)


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode() or "="


class PushgatewaySink:
    def __init__(self, config: PrometheusConfig, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        context = delivery.context
        result = summarize(context)
        grouping = {
            name: render(value, context) for name, value in self._config.grouping_key.items()
        } or {"workflow": result.workflow}
        labels = {name: render(value, context) for name, value in self._config.labels.items()}
        registry = CollectorRegistry()
        self._standard(registry, labels, result)
        skipped = self._custom(registry, context)
        response = await send(
            self._client,
            "PUT",
            join_url(self._config.pushgateway, group_path(self._config.job, grouping)),
            service=SERVICE,
            content=generate_latest(registry),
            headers={"Content-Type": CONTENT_TYPE},
        )
        check(response, service=SERVICE)
        summary: dict[str, object] = {"job": self._config.job, "grouping": grouping}
        if skipped:
            summary["skipped"] = skipped
        return DeliveryReport(status=DeliveryStatus.DELIVERED, response=summary)

    @staticmethod
    def _standard(
        registry: CollectorRegistry, labels: Mapping[str, str], result: ResultSummary
    ) -> None:
        names = sorted(labels)
        values = [labels[name] for name in names]

        def gauge(name: str, help_text: str, value: float, **extra: str) -> None:
            metric = Gauge(f"{PREFIX}_{name}", help_text, [*names, *extra], registry=registry)
            # A gauge without label names refuses .labels(): a sink without ``labels``.
            child = metric.labels(*values, *extra.values()) if names or extra else metric
            child.set(value)

        if result.duration_seconds is not None:
            gauge("duration_seconds", "How long the run took.", result.duration_seconds)
        succeeded = result.status == RunStatus.SUCCEEDED
        gauge("success", "1 if the run succeeded, else 0.", 1.0 if succeeded else 0.0)
        gauge("status", "The run's status, as a label.", 1.0, status=result.status)
        if result.confidence is not None:
            gauge("confidence", "The investigation's confidence, 0 to 1.", result.confidence)
        gauge("auto_fixed", "1 if the problem was fixed automatically.", float(result.auto_fixed))
        gauge("last_completion_timestamp_seconds", "When the run finished.", time.time())

    def _custom(self, registry: CollectorRegistry, context: Mapping[str, object]) -> list[str]:
        """Add the configured metrics; returns those skipped (value not a number, bad name)."""
        skipped: list[str] = []
        for metric in self._config.metrics:
            try:
                value = float(render_value(metric.value, context))
            except (TemplateError, TypeError, ValueError):
                skipped.append(metric.name)  # reported in the delivery's response
                continue
            label_values = {k: render(v, context) for k, v in metric.labels.items()}
            try:
                gauge = Gauge(
                    metric.name,
                    metric.help or f"{metric.name} (pushed by Punching Fist)",
                    list(label_values),
                    registry=registry,
                )
            except ValueError:  # an invalid or duplicated metric name
                skipped.append(metric.name)
                continue
            (gauge.labels(*label_values.values()) if label_values else gauge).set(value)
        return skipped
