"""The ``stdout`` sink: the result as JSON, or as text rendered from a template."""

from __future__ import annotations

import json
from typing import Any, TextIO

from punching_fist.engine.status import DeliveryStatus
from punching_fist.resources.sink import StdoutConfig
from punching_fist.sinks.base import Delivery, DeliveryReport
from punching_fist.templating import render


def result_document(delivery: Delivery) -> dict[str, Any]:
    """The JSON a ``format: json`` sink prints: the run, its source and its outputs."""
    context = delivery.context
    source = dict(context.get("source") or {})
    data = dict(source.get("data") or {})
    data.pop("notification", None)  # the alert itself is enough; the group is in the store
    source["data"] = data
    return {
        "runId": str(delivery.run_id),
        "sink": delivery.sink_name,
        "workflow": context.get("workflow"),
        "source": source,
        "steps": {
            name: {"status": step.get("status"), "error": step.get("error")}
            for name, step in (context.get("steps") or {}).items()
        },
    }


class StdoutSink:
    """Writes one document (or rendered text block) per delivery to a stream."""

    def __init__(self, config: StdoutConfig, stream: TextIO) -> None:
        self._config = config
        self._stream = stream

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        if self._config.format == "text" and self._config.template:
            text = render(self._config.template, delivery.context)
        else:
            indent = 2 if self._config.pretty else None
            text = json.dumps(result_document(delivery), indent=indent, default=str)
        self._stream.write(text if text.endswith("\n") else text + "\n")
        self._stream.flush()
        return DeliveryReport(status=DeliveryStatus.DELIVERED, response={"bytes": len(text)})
