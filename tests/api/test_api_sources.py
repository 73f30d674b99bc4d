"""api Sources over real HTTP on loopback, on SQLite and PostgreSQL: a JSON object POSTed with
the key starts the workflow with it as ``.source.data``; retries with an Idempotency-Key start
nothing more; every refusal is precise and stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Row, select

from punching_fist.errors import ConfigurationError
from punching_fist.resources.endpoints import reserved
from punching_fist.resources.references import check_references
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.secret_refs import SecretResolver
from punching_fist.sources.secrets_present import SourceSecretsPresent
from punching_fist.store.tables import api_requests, workflow_runs
from punching_fist.validation.settings import source_findings
from tests.support.server import RunningServer, resources_from_yaml, running_server

KEY = "k3y-for-the-api-source"

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: deploys}
spec:
  type: api
  config:
    endpoint: /api-sources/deploys
    maxBodyBytes: 2048
    authentication: {type: apikey, secretRef: "env://PF_TEST_API_SOURCE_KEY"}
  triggerWorkflow: announce
  context: {team: platform}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: announce}
spec:
  steps:
    - name: say
      type: cli
      command: echo "{{ .source.type }} {{ .source.name }} {{ .source.data.service }} {{ .source.context.team }}"
  outputs:
    - {name: line, value: "{{ .steps.say.result.stdout | trim }}"}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
"""

HEADERS = {"X-API-Key": KEY}


@pytest.fixture
async def server(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    monkeypatch.setenv("PF_TEST_API_SOURCE_KEY", KEY)
    async with running_server(resources_from_yaml(RESOURCES), database_url) as running:
        yield running


async def _runs(server: RunningServer) -> list[Row[Any]]:
    async with server.service.database.connect() as conn:
        return list((await conn.execute(select(workflow_runs))).all())


async def test_a_json_object_starts_the_workflow_with_it_as_source_data(
    server: RunningServer,
) -> None:
    response = await server.client.post(
        "/api-sources/deploys", json={"service": "checkout", "version": "1.2"}, headers=HEADERS
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["source"] == "deploys"
    assert body["replayed"] is False
    await server.settle()
    (run,) = await _runs(server)
    assert str(run.id) == body["runId"]
    assert run.status == "succeeded"
    assert run.source_context["data"] == {"service": "checkout", "version": "1.2"}
    assert run.outputs == {"line": "api deploys checkout platform"}
    assert "api deploys checkout platform" in server.sink_output()


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_run(
    server: RunningServer,
) -> None:
    headers = {**HEADERS, "Idempotency-Key": "deploy-4711"}
    payload = {"service": "checkout"}
    first = await server.client.post("/api-sources/deploys", json=payload, headers=headers)
    # Concurrent and later retries alike find the first run.
    retries = await asyncio.gather(
        *(
            server.client.post("/api-sources/deploys", json=payload, headers=headers)
            for _ in range(5)
        )
    )
    assert first.status_code == 202
    assert {r.status_code for r in retries} == {202}
    assert {r.json()["runId"] for r in retries} == {first.json()["runId"]}
    assert all(r.json()["replayed"] for r in retries)
    assert retries[0].headers["idempotent-replayed"] == "true"
    other = await server.client.post(
        "/api-sources/deploys", json=payload, headers={**HEADERS, "Idempotency-Key": "deploy-2"}
    )
    assert other.status_code == 202
    assert other.json()["runId"] != first.json()["runId"]
    reused = await server.client.post(
        "/api-sources/deploys", json={"service": "cart"}, headers=headers
    )
    assert reused.status_code == 422
    assert "Idempotency-Key was already used with a different body" in reused.json()["error"]
    await server.settle()
    assert len(await _runs(server)) == 2
    counted = server.service.metrics.registry.get_sample_value
    labels = {"source": "deploys", "type": "api"}
    assert counted("punchingfist_source_events_total", {**labels, "outcome": "started"}) == 2
    assert counted("punchingfist_source_events_total", {**labels, "outcome": "repeated"}) == 5
    async with server.service.database.connect() as conn:
        keys = {row.idempotency_key for row in await conn.execute(select(api_requests))}
    assert keys == {"deploy-4711", "deploy-2"}


@pytest.mark.parametrize(
    ("headers", "content", "status", "problem"),
    [
        ({}, b"{}", 401, "missing or invalid API key"),
        ({"X-API-Key": "wrong"}, b"{}", 401, "missing or invalid API key"),
        ({"X-API-Key": KEY}, b"[1, 2]", 400, "must be a JSON object"),
        ({"X-API-Key": KEY}, b'"text"', 400, "not a string"),
        ({"X-API-Key": KEY}, b'{"service": ', 400, "not valid JSON"),
        ({"X-API-Key": KEY}, b"\xff\xfe", 400, "not UTF-8"),
        ({"X-API-Key": KEY}, b"{" + b" " * 4096 + b"}", 413, "exceeds the limit of 2048"),
        (
            {"X-API-Key": KEY, "Idempotency-Key": "x" * 256},
            b"{}",
            400,
            "Idempotency-Key must be 1 to 255",
        ),
    ],
)
async def test_refusals_are_precise_and_store_nothing(
    server: RunningServer, headers: dict[str, str], content: bytes, status: int, problem: str
) -> None:
    response = await server.client.post(
        "/api-sources/deploys",
        content=content,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert problem in response.json()["error"]
    assert await _runs(server) == []


async def test_only_json_and_only_the_sources_method(server: RunningServer) -> None:
    form = await server.client.post(
        "/api-sources/deploys", content=b"a=1", headers={**HEADERS, "Content-Type": "text/plain"}
    )
    assert form.status_code == 415
    get = await server.client.get("/api-sources/deploys", headers=HEADERS)
    assert get.status_code == 405
    assert get.headers["allow"] == "POST"
    elsewhere = await server.client.post("/api-sources/other", json={}, headers=HEADERS)
    assert elsewhere.status_code == 404
    assert await _runs(server) == []


async def test_every_route_of_the_server_is_reserved_for_it(server: RunningServer) -> None:
    """An api Source's endpoint can collide with no path the server documents."""
    document = (await server.client.get("/openapi.json")).json()
    sources = {"/api-sources/deploys"}  # the Sources' own paths are documented too
    paths = [path.split("{", 1)[0] for path in document["paths"] if path not in sources]
    assert "/healthz" in paths
    assert "/slack/interactions" in paths
    for path in [*paths, "/openapi.json", "/docs", "/ui/runs"]:
        assert reserved(path), path
    assert not reserved("/api-sources/deploys")
    assert not reserved("/api/v1/trigger")  # the design's example


def api_source(
    name: str,
    endpoint: str,
    authentication: str = 'authentication: {type: apikey, secretRef: "env://K"}',
) -> str:
    """An api Source at ``endpoint`` starting ``announce``."""
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: {name}}}
spec:
  type: api
  config:
    endpoint: {endpoint}
    {authentication}
  triggerWorkflow: announce
"""


COLLIDING = "---".join(
    [
        """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: hook}
spec:
  type: webhook
  config: {path: /hooks/x}
  triggerWorkflow: announce
""",
        api_source("a-same-as-hook", "/hooks/x"),
        api_source("b-health", "/healthz"),
        api_source("c-rest", "/api/v1/runs/latest"),
        api_source("d-first", "/trigger"),
        api_source("e-second", "/trigger"),
    ]
)


def test_endpoint_collisions_are_errors_naming_the_owner() -> None:
    resources = resources_from_yaml(COLLIDING + "---" + RESOURCES.split("---", 1)[1])
    texts = {f.name: f.text for f in check_references(resources) if not f.warning}
    assert texts == {
        "a-same-as-hook": "spec.config.endpoint: '/hooks/x' is already served by Source/hook"
        " (webhook): choose another path",
        "b-health": "spec.config.endpoint: '/healthz' is already served by the server's own API:"
        " choose another path",
        "c-rest": "spec.config.endpoint: '/api/v1/runs/latest' is already served by the"
        " server's own API: choose another path",
        "e-second": "spec.config.endpoint: '/trigger' is already served by Source/d-first (api):"
        " choose another path",
    }


@pytest.mark.parametrize(
    ("authentication", "problem"),
    [
        ("", "an api Source needs credentials"),
        ("authentication: {type: none}", "an api Source needs credentials"),
        ("authentication: {type: apikey}", "needs the token: set secretRef"),
        ("authentication: {type: apikey, secretRef: hunter2}", "must be a secret reference"),
    ],
)
def test_an_api_source_without_a_usable_key_is_an_error(authentication: str, problem: str) -> None:
    text = api_source("open", "/open", authentication)
    source = resources_from_yaml(text).sources["open"]
    findings = source_findings(source)
    assert [f.warning for f in findings] == [False]
    assert problem in findings[0].text
    assert "hunter2" not in findings[0].text


async def test_folder_mode_refuses_to_start_without_the_sources_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = ResourceRegistry(resources_from_yaml(RESOURCES))
    monkeypatch.delenv("PF_TEST_API_SOURCE_KEY", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        await SourceSecretsPresent(registry, SecretResolver()).start()
    assert str(refused.value).startswith(
        "Source/deploys: spec.config.authentication.secretRef cannot be read"
    )
    assert "PF_TEST_API_SOURCE_KEY" in str(refused.value)
    monkeypatch.setenv("PF_TEST_API_SOURCE_KEY", KEY)
    await SourceSecretsPresent(registry, SecretResolver()).start()


async def test_the_openapi_document_describes_each_api_source(server: RunningServer) -> None:
    document = (await server.client.get("/openapi.json")).json()
    operation = document["paths"]["/api-sources/deploys"]["post"]
    assert set(document["paths"]["/api-sources/deploys"]) == {"post"}
    assert operation["operationId"] == "api_source_deploys"
    (security,) = operation["security"]
    assert document["components"]["securitySchemes"][next(iter(security))] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert set(operation["responses"]) == {"202", "400", "401", "413", "415", "422", "503"}
    accepted = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted["required"] == ["runId", "source", "replayed"]
    assert operation["parameters"][0]["name"] == "Idempotency-Key"
