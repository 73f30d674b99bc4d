"""Agent steps and the knowledge base: recall before an investigation, remember after.

The glue between ``knowledge.memory`` and the agent's port: the triggering alert's signature
(its workload as ``incidents.correlation`` sees it), the recollection handed over on
``AgentRequest.memory``, and the finished result kept as redacted as the run stores it.
Memory is help, never a dependency: a failure to recall or remember is logged and the
investigation goes on without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.incidents.correlation import workload_of
from punching_fist.knowledge.memory import Asker, Memory, Recalled
from punching_fist.knowledge.signature import Signature

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StepMemory:
    memory: Memory
    redact: Callable[[Any], Any]

    async def recall(self, request: AgentRequest) -> tuple[AgentRequest, Recalled | None]:
        """``request`` with what memory holds for its alert (unchanged without an alert)."""
        alert = _alert(request.context)
        if not alert:
            return request, None
        try:
            recalled = await self.memory.recall(alert, _signature(alert), _asker(request))
        except Exception as exc:  # memory is help: the investigation runs without it
            log.warning("knowledge base not read", error=f"{type(exc).__name__}: {exc}")
            return request, None
        if recalled is None:
            return request, None
        return replace(request, memory=recalled.recollection), recalled

    async def remember(
        self, request: AgentRequest, outcome: AgentOutcome, recalled: Recalled | None
    ) -> None:
        alert = _alert(request.context)
        if not alert or outcome.ending is not Ending.ANSWERED:
            return
        labels = alert.get("labels") or {}
        try:
            await self.memory.remember(
                asker=_asker(request),
                signature=_signature(alert),
                labels={str(k): str(v) for k, v in labels.items()},
                result=self.redact(outcome.result),
                evidence_digest=outcome.evidence_digest,
                recalled=recalled,
            )
        except Exception as exc:
            log.warning("investigation not remembered", error=f"{type(exc).__name__}: {exc}")


def _asker(request: AgentRequest) -> Asker:
    return Asker(
        run_id=request.run_id,
        workflow=request.workflow.metadata.name or "",
        step_name=request.step_name,
    )


def _signature(alert: Mapping[str, Any]) -> Signature:
    labels = alert.get("labels") or {}
    workload = workload_of({str(k): str(v) for k, v in labels.items()})
    return Signature.of(labels, workload.name if workload else None)


def _alert(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The triggering alert (``.source.data.alert``); empty for schedules and chats."""
    source = context.get("source")
    data = source.get("data") if isinstance(source, Mapping) else None
    alert = data.get("alert") if isinstance(data, Mapping) else None
    return alert if isinstance(alert, Mapping) and alert.get("labels") else {}
