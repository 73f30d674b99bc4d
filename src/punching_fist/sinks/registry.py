"""Building sink drivers from ``Sink`` resources, by type, registered explicitly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from punching_fist.resources.sink import Sink, StdoutSinkSpec
from punching_fist.sinks.base import Delivery, DeliveryReport, DeliveryStatus, SinkDriver
from punching_fist.sinks.stdout import StdoutSink


@dataclass(frozen=True, kw_only=True)
class SinkDependencies:
    """What drivers may need from the outside world, handed in rather than reached for."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)


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


FACTORIES: dict[str, SinkFactory] = {"stdout": _stdout}


def build_sink(sink: Sink, deps: SinkDependencies) -> SinkDriver:
    factory = FACTORIES.get(sink.spec.type)
    if factory is None:
        return NotImplementedSink(sink.spec.type)
    return factory(sink, deps)
