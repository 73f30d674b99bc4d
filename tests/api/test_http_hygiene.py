"""What the HTTP edge answers besides the happy path, and that the OpenAPI document says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.api_auth import ADMIN, VIEWER, bearer, serve
from tests.support.server import RunningServer

LISTS = ["/api/v1/alerts", "/api/v1/runs", "/api/v1/deliveries", "/api/v1/approvals"]
RUN = "/api/v1/runs/00000000-0000-0000-0000-000000000001"


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    async with serve(sqlite_url, headers=bearer(ADMIN)) as running:
        yield running


@pytest.fixture
async def spec(server: RunningServer) -> dict[str, Any]:
    document: dict[str, Any] = (await server.client.get("/openapi.json")).json()
    return document


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("field", "value"), [("limit", 0), ("limit", 1001), ("offset", -1), ("offset", 2**63)]
)
async def test_a_page_out_of_range_is_422_naming_the_field(
    server: RunningServer, path: str, field: str, value: int
) -> None:
    response = await server.client.get(path, params={field: value})
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/healthz", "GET, HEAD"),
        ("POST", "/readyz", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
        ("POST", "/openapi.json", "GET, HEAD"),
        ("POST", "/api/v1/alerts", "GET, HEAD"),
        ("POST", RUN, "GET, HEAD"),
        ("DELETE", "/api/v1/deliveries", "GET, HEAD"),
        ("PUT", "/api/v1/approvals/00000000-0000-0000-0000-000000000001", "GET, HEAD, POST"),
        ("GET", "/hook", "POST"),  # a webhook source's path
        ("PATCH", "/hook", "POST"),
    ],
)
async def test_a_wrong_method_on_a_known_path_is_405_with_allow(
    server: RunningServer, method: str, path: str, allow: str
) -> None:
    response = await server.client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_a_post_to_a_path_nothing_serves_still_gets_the_intakes_precise_404(
    server: RunningServer,
) -> None:
    response = await server.client.post("/hooks", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "no webhook source serves '/hooks'"}
    assert (await server.client.get("/hooks")).status_code == 404


async def test_metrics_come_with_exactly_the_content_type_the_document_declares(
    server: RunningServer, spec: dict[str, Any]
) -> None:
    [declared] = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    response = await server.client.get("/metrics")
    assert response.headers["content-type"] == declared
    assert declared == "text/plain; version=0.0.4; charset=utf-8"
    # Open unless spec.api.metricsAuth: "no token" is one of the ways in.
    assert {} in spec["paths"]["/metrics"]["get"]["security"]


def statuses(spec: dict[str, Any], method: str, path: str) -> set[str]:
    return set(spec["paths"][path][method]["responses"])


async def test_the_document_declares_what_each_endpoint_refuses(spec: dict[str, Any]) -> None:
    token = {"401", "403", "503"}
    for path in LISTS:
        assert token | {"200", "422"} <= statuses(spec, "get", path)
    assert token | {"404"} <= statuses(spec, "get", "/api/v1/runs/{run_id}")
    assert token | {"404", "409"} <= statuses(
        spec, "post", "/api/v1/deliveries/{delivery_id}/retry"
    )
    assert token | {"400", "404", "409", "422"} <= statuses(
        spec, "post", "/api/v1/approvals/{approval_id}"
    )
    assert {"400", "401", "403", "404", "413", "503"} <= statuses(
        spec, "post", "/slack/interactions"
    )
    assert "503" in statuses(spec, "get", "/readyz")
    error = {"$ref": "#/components/schemas/ErrorBody"}
    refusal = spec["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]["404"]
    assert refusal["content"]["application/json"]["schema"] == error
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]


async def test_the_document_describes_the_webhook_sources_of_the_moment(
    server: RunningServer, spec: dict[str, Any]
) -> None:
    hook = spec["paths"]["/hook"]["post"]
    assert {"202", "400", "413", "415", "422", "503"} <= set(hook["responses"])
    body = hook["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AlertmanagerNotification"}
    notification = spec["components"]["schemas"]["AlertmanagerNotification"]
    assert {"status", "alerts"} <= set(notification["required"])
    # A refusal of the webhook is {"error": ...}, as WebhookApp answers.
    response = await server.client.post(
        "/hook", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


async def test_a_viewer_token_is_refused_a_retry_as_documented(
    server: RunningServer, spec: dict[str, Any]
) -> None:
    path = "/api/v1/deliveries/00000000-0000-0000-0000-000000000001/retry"
    response = await server.client.post(path, headers=bearer(VIEWER))
    assert response.status_code == 403
    assert "403" in statuses(spec, "post", "/api/v1/deliveries/{delivery_id}/retry")
    assert (await server.client.post(path)).status_code == 404  # admin: no such delivery
