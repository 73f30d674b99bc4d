"""The OpenAPI document says what the server really answers: schemathesis against a served app.

The server runs here over real HTTP on loopback with the three API tokens configured; the
admin one goes with every request (schemathesis takes it away itself to check that the API
refuses requests without it). Every phase runs (examples, coverage, fuzzing, stateful) with
every default check: no 5xx, every status, content type, header and body as documented, 405
with ``Allow`` for a method a path does not serve, invalid input refused, valid input taken.
Generation is deterministic, so the run sends the same requests each time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder

from tests.support.api_auth import ADMIN, bearer, fire, request_approval, serve

MIN_CASES = 500
EXAMPLES = 40
"""Per operation and phase; about 1,500 requests in all."""
REQUEST_CHECKS = ("negative_data_rejection", "positive_data_acceptance")
"""Not for the webhooks: their JSON schema (the pydantic model's) is looser than the intake in
places (no NUL characters, the store's column lengths) and stricter in others (pydantic also
takes a Unix time for a date), so these two would hold the intake to a document that only
approximates it. Everything about their answers is checked."""


@dataclass
class Outcome:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, recorder: ScenarioRecorder) -> None:
        self.cases += len(recorder.cases)
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                self.statuses[interaction.response.status_code] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is not None:
                    failure = check.failure_info.failure
                    self.failures.append(
                        f"{recorder.cases[case_id].value.operation.label}: {check.name}:"
                        f" {failure.title}: {failure.message}"
                    )


def conformance_run(url: str) -> Outcome:
    config = schemathesis.Config.from_dict(
        {
            "headers": bearer(ADMIN),
            "cache": {"enabled": False},
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "operations": [
                {
                    "include-tag": "webhooks",
                    "checks": {name: {"enabled": False} for name in REQUEST_CHECKS},
                },
                {
                    # since < until spans two parameters, which OpenAPI cannot say: schema-valid
                    # pairs the other way round are rightly refused (422 naming since).
                    "include-path": "/api/v1/kpis",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # since: an ISO 8601 time or an age (7d), as for the KPIs; a string that is
                    # neither is schema-valid and rightly refused (422 naming since).
                    "include-path": "/api/v1/incidents",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    outcome = Outcome()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            outcome.record(event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            outcome.errors.append(repr(event))
    return outcome


def _report(outcome: Outcome) -> str:
    return "\n".join([*outcome.failures, *outcome.errors][:40])


async def test_the_served_api_answers_as_its_openapi_document_says(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server, bearer(ADMIN))  # something to find: a run, its
        await request_approval(server, run_id)  # delivery, an approval
        spec: dict[str, Any] = (await server.client.get("/openapi.json")).json()
        outcome = await asyncio.to_thread(conformance_run, server.url)
    assert "/hook" in spec["paths"]  # the webhook source is in the document, and tested
    assert not outcome.failures, _report(outcome)
    assert not outcome.errors, _report(outcome)
    assert outcome.cases >= MIN_CASES
    assert not [status for status in outcome.statuses if status >= 500], outcome.statuses
