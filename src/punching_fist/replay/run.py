"""Replay: one recorded Alertmanager notification through a workflow, with no side effects.

The real engine runs: the webhook intake's rules, the steps, the agent with its tools, every
sink's driver. What would leave the process is held back instead:

* the database is a temporary SQLite file, deleted afterwards; the production database is
  never opened (its URL is not even read);
* sinks send to ``recorder.Recorder`` and get placeholder credentials; chained runs are
  noted, not started; ``stdout`` sinks write into the report;
* agent tools are read-only (``Settings.agent_read_only``): a write or a script is refused
  at once, and the model is told so; nothing waits for a person;
* only the chosen Source is loaded, so no schedule fires and no other intake opens.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from punching_fist.config import Settings
from punching_fist.errors import ConfigurationError
from punching_fist.replay.recorder import (
    RecordedRequest,
    Recorder,
    RecordingStarter,
    placeholder_secrets,
)
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source, WebhookSourceSpec
from punching_fist.secret_refs import SecretResolver
from punching_fist.server.service import Service
from punching_fist.sinks.registry import SinkDependencies
from punching_fist.store import queries

REPLAY_SOURCE = "replay"


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """What happened, and what would have been sent."""

    workflow: str
    source: str
    alerts: list[dict[str, Any]]
    """Per alert of the notification: the intake's outcome and its run, if one started."""
    runs: list[dict[str, Any]]
    """Each run's detail: steps, tool calls (``audit``), deliveries."""
    requests: list[RecordedRequest] = field(default_factory=list)
    stdout: str = ""
    chained: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "source": self.source,
            "alerts": self.alerts,
            "runs": self.runs,
            "sinkRequests": [request.as_json() for request in self.requests],
            "stdout": self.stdout,
            "chainedRuns": self.chained,
        }


def choose_source(
    resources: ResourceSet, *, workflow: str | None, source: str | None
) -> tuple[str, Source]:
    """The webhook Source the notification comes in through, triggering ``workflow``."""
    if workflow is not None and workflow not in resources.workflows:
        known = ", ".join(sorted(resources.workflows)) or "none"
        raise ConfigurationError(f"no Workflow {workflow!r} (loaded: {known})")
    webhooks = {
        name: found
        for name, found in resources.sources.items()
        if isinstance(found.spec, WebhookSourceSpec)
    }
    if source is not None:
        if source not in webhooks:
            raise ConfigurationError(
                f"no webhook Source {source!r} (loaded: {', '.join(sorted(webhooks)) or 'none'})"
            )
        candidates = {source: webhooks[source]}
    elif workflow is not None:
        candidates = {
            name: found
            for name, found in webhooks.items()
            if found.spec.trigger_workflow == workflow
        }
    else:
        candidates = webhooks
    if len(candidates) > 1:
        raise ConfigurationError(
            f"several webhook Sources could take it ({', '.join(sorted(candidates))}): "
            "name one with --source or the workflow with --workflow"
        )
    if candidates:
        [(name, chosen)] = candidates.items()
        if workflow is not None and chosen.spec.trigger_workflow != workflow:
            spec = chosen.spec.model_copy(update={"trigger_workflow": workflow})
            chosen = chosen.model_copy(update={"spec": spec})
        return name, chosen
    if workflow is None:
        raise ConfigurationError("no webhook Source loaded: name the workflow with --workflow")
    synthetic = Source.model_validate(
        {
            "apiVersion": "punchingfist.io/v1alpha1",
            "kind": "Source",
            "metadata": {"name": REPLAY_SOURCE},
            "spec": {
                "type": "webhook",
                "config": {"path": f"/{REPLAY_SOURCE}"},
                "triggerWorkflow": workflow,
            },
        }
    )
    return REPLAY_SOURCE, synthetic


_ENDPOINT_FIELD = {
    "slack": "endpoint",
    "jira": "endpoint",
    "pagerduty": "endpoint",
    "alertmanager": "endpoint",
    "prometheus": "pushgateway",
}


def _recorded(name: str, sink: Sink, recorder: Recorder) -> Sink:
    """``sink`` sending to the recorder instead of its destination."""
    attribute = _ENDPOINT_FIELD.get(sink.spec.type)
    config = getattr(sink.spec, "config", None)
    if attribute is None or config is None:
        return sink
    config = config.model_copy(update={attribute: recorder.endpoint(name) + "/"})
    return sink.model_copy(update={"spec": sink.spec.model_copy(update={"config": config})})


async def replay(
    notification: bytes,
    resources: ResourceSet,
    *,
    workflow: str | None = None,
    source: str | None = None,
    settings: Settings | None = None,
    secrets: SecretResolver | None = None,
    timeout: float = 600.0,  # noqa: ASYNC109 - the runs' budget, not a call's deadline
) -> ReplayResult:
    """Run ``notification`` through the workflow and report; raises ``ConfigurationError``
    when the Source or the workflow cannot be chosen. ``settings``: the agent's tool
    settings (kubeconfig, tool path); its database and addresses are replaced."""
    source_name, chosen = choose_source(resources, workflow=workflow, source=source)
    recorder = Recorder()
    await recorder.start()
    try:
        with tempfile.TemporaryDirectory(prefix="punching-fist-replay-") as scratch:
            return await _replay(
                notification,
                resources,
                source_name,
                chosen,
                recorder,
                _settings(settings or Settings(), Path(scratch)),
                secrets,
                timeout,
            )
    finally:
        await recorder.stop()


def _settings(base: Settings, scratch: Path) -> Settings:
    return replace(
        base,
        database_url=f"sqlite+aiosqlite:///{scratch / 'replay.db'}",
        resources_dir=None,
        state_dir=scratch,
        host="127.0.0.1",  # nothing listens; links to runs read as serve's would
        kubernetes=False,
        agent_read_only=True,
        otlp_endpoint=None,
        freeze_heap_after_start=False,
    )


async def _replay(
    notification: bytes,
    resources: ResourceSet,
    source_name: str,
    chosen: Source,
    recorder: Recorder,
    settings: Settings,
    secrets: SecretResolver | None,
    timeout: float,  # noqa: ASYNC109
) -> ReplayResult:
    loaded = ResourceSet(
        sources={source_name: chosen},
        workflows=resources.workflows,
        sinks={name: _recorded(name, sink, recorder) for name, sink in resources.sinks.items()},
        operator_config=resources.operator_config,
    )
    stdout = io.StringIO()
    starter = RecordingStarter()
    service = Service.build(
        settings,
        loaded,
        sink_dependencies=SinkDependencies(
            stdout=stdout, secrets=placeholder_secrets(), workflows=starter
        ),
        secrets=secrets,
    )
    await service.start()
    try:
        accepted = await service.intake.accept(source_name, chosen, notification)
        alerts: list[dict[str, Any]] = json.loads(accepted.body())["alerts"]
        await asyncio.wait_for(service.dispatcher.wait_idle(), timeout)
        runs = []
        for entry in alerts:
            if entry.get("runId"):
                detail = await queries.run_detail(service.database, uuid.UUID(entry["runId"]))
                if detail is not None:
                    runs.append(service.secrets.redact_data(detail))
    finally:
        await service.stop()
    assert isinstance(chosen.spec, WebhookSourceSpec)
    return ReplayResult(
        workflow=chosen.spec.trigger_workflow,
        source=source_name,
        alerts=alerts,
        runs=runs,
        requests=[replace(r, body=service.secrets.redact_data(r.body)) for r in recorder.requests],
        stdout=service.secrets.redact(stdout.getvalue()),
        chained=starter.started,
    )
