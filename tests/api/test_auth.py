"""The API's tokens: 401 without one, 403 for a role too weak, the caller's name on decisions.

Everything runs over real HTTP on loopback against a server whose OperatorConfig has one
token per role (``tests/support/api_auth.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from punching_fist.api.auth import ApiAuth, is_loopback
from punching_fist.config import Settings
from punching_fist.errors import ConfigurationError, ResourceValidationError
from punching_fist.server.service import Service
from tests.support.api_auth import (
    ADMIN,
    APPROVER,
    PIPELINE,
    TOKENS,
    VIEWER,
    bearer,
    fire,
    request_approval,
    secrets,
    serve,
)
from tests.support.server import RunningServer, resources_from_yaml

MISSING = "00000000-0000-0000-0000-000000000000"

# (method, path, body, the weakest role allowed)
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/v1/runs", None, "viewer"),
    ("GET", "/api/v1/alerts", None, "viewer"),
    ("GET", "/api/v1/approvals", None, "viewer"),
    ("GET", "/api/v1/deliveries", None, "viewer"),
    ("GET", "/api/v1/sinks", None, "viewer"),
    ("POST", f"/api/v1/approvals/{MISSING}", {"approved": True}, "approver"),
    ("POST", f"/api/v1/deliveries/{MISSING}/retry", None, "admin"),
]
RANK = {"viewer": 0, "approver": 1, "admin": 2}


async def test_each_endpoint_answers_401_without_a_token_and_403_to_a_weaker_role(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        for method, path, body, needed in ENDPOINTS:
            anonymous = await server.client.request(method, path, json=body)
            assert anonymous.status_code == 401, (method, path)
            assert anonymous.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in anonymous.json()["detail"]

            wrong = await server.client.request(
                method, path, json=body, headers=bearer(VIEWER + "x")
            )
            assert wrong.status_code == 401, (method, path)
            assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'

            for role, token in TOKENS.items():
                answer = await server.client.request(method, path, json=body, headers=bearer(token))
                if RANK[role] < RANK[needed]:
                    assert answer.status_code == 403, (method, path, role)
                    assert answer.json()["detail"].endswith(f"this needs {needed}")
                else:  # through authentication: the endpoint's own answer
                    assert answer.status_code in (200, 404), (method, path, role, answer.text)


async def approval_events(server: RunningServer, run_id: str) -> list[dict[str, Any]]:
    """The run's ``approval``/``approved`` audit rows, once written (they are queued)."""
    for _ in range(200):
        run = await server.client.get(f"/api/v1/runs/{run_id}", headers=bearer(VIEWER))
        audit = run.json()["audit"]
        found = [e for e in audit if (e["kind"], e["name"]) == ("approval", "approved")]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the decision never reached the audit trail")


async def test_a_cookie_is_no_credential(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        server.client.cookies.set("Authorization", f"Bearer {ADMIN}")
        retried = await server.client.post(f"/api/v1/deliveries/{MISSING}/retry")
    assert retried.status_code == 401


async def test_a_decision_is_recorded_under_the_tokens_name_whatever_the_body_says(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        decided = await server.client.post(
            f"/api/v1/approvals/{approval_id}",
            json={"approved": True, "decidedBy": "ceo@company.example", "feedback": "go"},
            headers=bearer(APPROVER),
        )
        stored = await server.client.get(f"/api/v1/approvals/{approval_id}", headers=bearer(VIEWER))
        decisions = await approval_events(server, run_id)
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "sre-lead"
    assert stored.json()["decided_by"] == "sre-lead"
    # The audit trail names the person too.
    assert [e["arguments"]["decided_by"] for e in decisions] == ["sre-lead"]
    assert stored.json()["status"] == "approved"


async def test_health_is_open_and_metrics_open_unless_configured(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        assert (await server.client.get("/healthz")).status_code == 200
        assert (await server.client.get("/readyz")).status_code == 200
        assert (await server.client.get("/metrics")).status_code == 200
    async with serve(sqlite_url, metrics_auth=True) as server:
        assert (await server.client.get("/healthz")).status_code == 200
        refused = await server.client.get("/metrics")
        allowed = await server.client.get("/metrics", headers=bearer(VIEWER))
    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert "punchingfist_alerts_processed_total" in allowed.text


async def test_webhook_sources_keep_their_own_authentication(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server)  # the source has no authentication: no API token needed
    assert run_id


async def test_tokens_never_reach_the_logs_the_database_or_the_answers(
    sqlite_url: str, tmp_path: Path
) -> None:
    answers: list[str] = []
    with capture_logs() as logs:
        async with serve(sqlite_url) as server:
            run_id = await fire(server)
            approval_id = await request_approval(server, run_id)
            for token in (*TOKENS.values(), "not-a-token"):
                headers = bearer(token)
                for path in (f"/api/v1/runs/{run_id}", "/api/v1/approvals", "/api/v1/deliveries"):
                    answers.append((await server.client.get(path, headers=headers)).text)
            decided = await server.client.post(
                f"/api/v1/approvals/{approval_id}",
                json={"approved": False, "feedback": "not now"},
                headers=bearer(ADMIN),
            )
            answers.append(decided.text)
            await server.settle()
    assert decided.status_code == 200
    assert decided.json()["decided_by"] == "platform-admin"
    logged = json.dumps(logs, default=str)
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("pf.db*"))
    assert "service started" in logged
    assert b"sre-lead" not in stored  # nobody with a token name decided anything
    assert b"platform-admin" in stored
    for token in TOKENS.values():
        assert token not in logged
        assert token.encode() not in stored
        assert all(token not in answer for answer in answers)


async def test_an_open_api_on_loopback_warns_at_start_and_records_anonymous(
    sqlite_url: str,
) -> None:
    with capture_logs() as logs:
        async with serve(sqlite_url, tokens=False) as server:
            run_id = await fire(server)
            approval_id = await request_approval(server, run_id)
            decided = await server.client.post(
                f"/api/v1/approvals/{approval_id}", json={"approved": True, "decidedBy": "me"}
            )
    warnings = [e for e in logs if e["log_level"] == "warning" and "API is open" in e["event"]]
    assert len(warnings) == 1
    assert warnings[0]["host"] == "127.0.0.1"
    assert decided.json()["decided_by"] == "anonymous"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Origin": "https://evil.example"}, "cross-site request refused"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site request refused"),
        ({"Host": "rebound.evil.example"}, "answers loopback names only"),
        ({"Host": "[::1"}, "answers loopback names only"),
    ],
)
async def test_an_open_api_refuses_what_a_web_page_sends(
    sqlite_url: str, headers: dict[str, str], detail: str
) -> None:
    async with serve(sqlite_url, tokens=False) as server:
        refused = await server.client.post(f"/api/v1/deliveries/{MISSING}/retry", headers=headers)
        same_site = await server.client.post(
            f"/api/v1/deliveries/{MISSING}/retry", headers={"Origin": server.url}
        )
        read = await server.client.get("/api/v1/runs", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert detail in refused.json()["detail"]
    assert same_site.status_code == 404  # through: the delivery does not exist
    assert read.status_code == 200  # a cross-site read cannot see the answer (no CORS)


async def test_serving_off_loopback_without_tokens_refuses_to_start(sqlite_url: str) -> None:
    service = Service.build(
        Settings(database_url=sqlite_url, host="0.0.0.0"),
        resources_from_yaml(PIPELINE),
        secrets=secrets(),
    )
    with pytest.raises(ConfigurationError, match=r"listens on 0\.0\.0\.0.*no tokens"):
        await service.start()


async def test_serving_off_loopback_refuses_tokens_that_do_not_resolve(sqlite_url: str) -> None:
    config = PIPELINE + (
        "---\napiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\n"
        "metadata: {name: c}\nspec:\n  api:\n"
        "    tokens: [{name: ci, secretRef: env://PF_UNSET, role: admin}]\n"
    )
    service = Service.build(
        Settings(database_url=sqlite_url, host="10.1.2.3"),
        resources_from_yaml(config),
        secrets=secrets(),
    )
    with pytest.raises(ConfigurationError, match="none of the API's tokens resolved"):
        await service.start()


async def test_serving_off_loopback_with_tokens_starts(sqlite_url: str) -> None:
    async with serve(sqlite_url, host="0.0.0.0") as server:
        assert (await server.client.get("/api/v1/runs", headers=bearer(VIEWER))).status_code == 200
        assert (await server.client.get("/api/v1/runs")).status_code == 401


def test_tokens_are_compared_in_constant_time() -> None:
    assert ApiAuth.compare is hmac.compare_digest


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        (
            "[{name: ci, secretRef: 'pf-literal-token-0123456789', role: admin}]",
            "must be a secret reference, not the token itself",
        ),
        (
            "[{name: ci, secretRef: env://A, role: admin}, {name: ci, secretRef: env://B, "
            "role: viewer}]",
            "token names must be unique",
        ),
        ("[{name: ci, secretRef: env://A, role: root}]", "Input should be 'viewer', 'approver'"),
    ],
)
def test_token_configuration_mistakes_are_refused_at_load(tokens: str, problem: str) -> None:
    text = PIPELINE + (
        "---\napiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\n"
        f"metadata: {{name: c}}\nspec:\n  api:\n    tokens: {tokens}\n"
    )
    with pytest.raises(ResourceValidationError) as refused:
        resources_from_yaml(text)
    message = str(refused.value)
    assert problem in message
    assert "(OperatorConfig/c): spec.api.tokens" in message
    assert "pf-literal-token-0123456789" not in message
    if "secret reference" in problem:
        assert "env://NAME or k8s://namespace/secret/key" in message


async def test_tokens_are_read_again_when_the_operator_config_changes(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        assert (await server.client.get("/api/v1/runs", headers=bearer(VIEWER))).status_code == 200
        rotated = PIPELINE + (
            "---\napiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\n"
            "metadata: {name: c}\nspec:\n  api:\n"
            "    tokens: [{name: rotated, secretRef: env://PF_ADMIN, role: viewer}]\n"
        )
        server.service.registry.replace(resources_from_yaml(rotated))
        for _ in range(100):
            old = await server.client.get("/api/v1/runs", headers=bearer(VIEWER))
            if old.status_code == 401:
                break
            await asyncio.sleep(0.02)
        new = await server.client.get("/api/v1/runs", headers=bearer(ADMIN))
        retry = await server.client.post(
            f"/api/v1/deliveries/{MISSING}/retry", headers=bearer(ADMIN)
        )
    assert old.status_code == 401
    assert new.status_code == 200
    assert retry.status_code == 403  # the same secret, now with the viewer role
