"""Optional OpenTelemetry traces: intake → run → steps → LLM requests and tool calls → sinks.

Off unless an OTLP endpoint is configured (``serve --otlp-endpoint`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``). Off, ``span`` hands back one shared no-op context manager:
no span objects, no context changes, nothing exported, so the intake's hot path pays a method
call. On, spans go to the OTLP/HTTP exporter in batches, from the SDK's own thread.

One trace per alert: the intake's span is stored with the run it starts, as a W3C
``traceparent`` in the run's source context, and the run's span continues it, in whichever
process or replica claims the run, and again when the run resumes (after an approval or a
restart). While a span is current its ids are bound to the log context (``trace_id``,
``span_id``, beside ``run_id``), so every log line of the run carries them.

The tracer is handed down from the composition root like everything else: OpenTelemetry's
global provider stays untouched, so tests (and two services in one process) do not share it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from punching_fist import __version__

Attributes = Mapping[str, AttributeValue]

TRACEPARENT = "traceparent"
"""The key of a run's source context that holds the span it continues."""
TRACES_PATH = "/v1/traces"

_PROPAGATOR = TraceContextTextMapPropagator()
_OFF: AbstractContextManager[Span | None] = contextlib.nullcontext(None)


def traces_endpoint(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (as ``OTEL_EXPORTER_OTLP_ENDPOINT``
    means it), or the URL itself when it already names the traces path."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


class Tracing:
    """Where spans go, or nowhere (``off``)."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("punching_fist", __version__) if provider else None

    @classmethod
    def off(cls) -> Tracing:
        return cls()

    @classmethod
    def otlp(cls, endpoint: str, *, service_name: str = "punching-fist") -> Tracing:
        """Spans exported in batches to an OTLP/HTTP collector at ``endpoint``."""
        # Imported only when used: the exporter brings protobuf and requests along.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=traces_endpoint(endpoint))
        return cls.exporting_to(exporter, batch=True, service_name=service_name)

    @classmethod
    def exporting_to(
        cls, exporter: SpanExporter, *, batch: bool = False, service_name: str = "punching-fist"
    ) -> Tracing:
        """Spans handed to ``exporter``: each as it ends, or in batches from a thread.

        ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` override ``service_name``."""
        ours = Resource.create({"service.name": service_name, "service.version": __version__})
        resource = ours.merge(OTELResourceDetector().detect())
        provider = TracerProvider(resource=resource)
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def span(
        self, name: str, attributes: Attributes | None = None, *, parent: str | None = None
    ) -> AbstractContextManager[Span | None]:
        """A span, current inside the block (None when off); ``parent``: a ``traceparent``
        to continue instead of the current span. An exception ends it with an error status."""
        if self._tracer is None:
            return _OFF
        return self._started(self._tracer, name, attributes, parent)

    @contextlib.contextmanager
    def _started(
        self,
        tracer: trace.Tracer,
        name: str,
        attributes: Attributes | None,
        parent: str | None,
    ) -> Iterator[Span]:
        context = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else None
        with tracer.start_as_current_span(name, context=context, attributes=attributes) as span:
            ids = span.get_span_context()
            with structlog.contextvars.bound_contextvars(
                trace_id=trace.format_trace_id(ids.trace_id),
                span_id=trace.format_span_id(ids.span_id),
            ):
                yield span

    def flush(self) -> None:
        """Export what is still buffered (at the service's stop; the SDK shuts down at exit)."""
        if self._provider is not None:
            self._provider.force_flush()


def current_traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` (to store with a run); None outside one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def annotate(span: Span | None, attributes: Attributes, *, error: str | None = None) -> None:
    """Add what became known during the span; ``error``: it failed, without an exception."""
    if span is None:
        return
    span.set_attributes(attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error[:500]))
