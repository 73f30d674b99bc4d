"""``spec.api.auth: kubernetes``: Kubernetes tokens, checked by TokenReview, roles by RBAC.

The test API server kit has no authentication or RBAC, so a small server on loopback speaks
the two review APIs' real JSON (``authentication.k8s.io/v1`` TokenReview,
``authorization.k8s.io/v1`` SubjectAccessReview) and answers from a table of users and rules.
The Punching Fist server runs for real, over HTTP on loopback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf
import pytest

from punching_fist.config import Settings
from punching_fist.errors import ConfigurationError
from punching_fist.operator.client import KubeClient
from punching_fist.operator.token_review import KubernetesTokenReviewer
from punching_fist.server.service import Service
from tests.support.api_auth import ADMIN, PIPELINE, bearer, fire, request_approval, secrets
from tests.support.server import RunningServer, free_port, resources_from_yaml, running_server

MISSING = "00000000-0000-0000-0000-000000000000"
NAMESPACE = "punching-fist"
OPERATOR_TOKEN = "operator-service-account-token"
SRE = "system:serviceaccount:ops:sre-bot"

# token -> (user, audiences it was issued for)
USERS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "k8s-alice": ({"username": "alice@company.example", "uid": "u-1", "groups": ["sre"]}, []),
    "k8s-bob": ({"username": "bob@company.example", "groups": ["dev"]}, []),
    "k8s-carol": ({"username": "carol@company.example", "groups": ["system:masters"]}, []),
    "k8s-dave": ({"username": "dave@company.example", "groups": []}, []),
    "k8s-sre-bot": ({"username": SRE, "groups": ["system:serviceaccounts"]}, ["punching-fist"]),
}
# (user or group, verb, resource) the cluster's RBAC allows in NAMESPACE
RULES = {
    ("sre", "create", "approvals"),
    ("sre", "get", "approvals"),
    ("dev", "get", "approvals"),
    ("system:masters", "update", "operatorconfigs"),
    (SRE, "create", "approvals"),
}
CONFIG = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: config}
spec:
  api:
    auth: kubernetes
    audiences: %s
    tokens: [{name: platform-admin, secretRef: env://PF_ADMIN, role: admin}]
"""


@dataclass
class Cluster:
    """What the fake API server was asked, and whether it answers."""

    token_reviews: list[dict[str, Any]] = field(default_factory=list)
    access_reviews: list[dict[str, Any]] = field(default_factory=list)
    broken: bool = False


class FakeReviewApi(BaseHTTPRequestHandler):
    cluster: Cluster

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.cluster.broken:
            self._send(500, {"kind": "Status", "message": "etcdserver: request timed out"})
            return
        if self.headers.get("Authorization") != f"Bearer {OPERATOR_TOKEN}":
            self._send(401, {"kind": "Status", "message": "Unauthorized"})
            return
        if self.path == "/apis/authentication.k8s.io/v1/tokenreviews":
            self.cluster.token_reviews.append(review["spec"])
            review["status"] = self._authenticate(review["spec"])
        elif self.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
            self.cluster.access_reviews.append(review["spec"])
            spec = review["spec"]
            attributes = spec["resourceAttributes"]
            allowed = attributes["namespace"] == NAMESPACE and any(
                (who, attributes["verb"], attributes["resource"]) in RULES
                for who in (spec["user"], *spec.get("groups", []))
            )
            review["status"] = {"allowed": allowed} | ({} if allowed else {"reason": "no rule"})
        else:
            self._send(404, {"kind": "Status", "message": "not found"})
            return
        self._send(201, review)

    def _authenticate(self, spec: dict[str, Any]) -> dict[str, Any]:
        found = USERS.get(spec["token"])
        if found is None:
            return {"user": {}, "error": "[invalid bearer token]"}
        user, issued_for = found
        wanted = spec.get("audiences") or ["https://kubernetes.default.svc"]
        audiences = [a for a in wanted if a in (issued_for or ["https://kubernetes.default.svc"])]
        if not audiences:
            return {"user": {}, "error": "token audiences is invalid for the target audiences"}
        return {"authenticated": True, "user": user, "audiences": audiences}


@pytest.fixture
def cluster() -> Iterator[tuple[Cluster, str]]:
    state = Cluster()
    handler = type("Handler", (FakeReviewApi,), {"cluster": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def serving(
    url: str, sqlite_url: str, *, audiences: str = "[]"
) -> tuple[KubeClient, Clock, AbstractAsyncContextManager[RunningServer]]:
    """The server of ``tests.support.api_auth`` with ``auth: kubernetes``, as operator mode
    builds it (``OperatorRuntime.build`` hands the API the reviewer)."""
    clock = Clock()
    client = KubeClient(
        kopf.ConnectionInfo(server=url, token=OPERATOR_TOKEN, default_namespace=NAMESPACE)
    )
    reviewer = KubernetesTokenReviewer(client, namespace=client.default_namespace, clock=clock)

    def configure(service: Service) -> None:
        service.auth.use_token_review(reviewer)

    context = running_server(
        resources_from_yaml(PIPELINE + CONFIG % audiences),
        sqlite_url,
        secrets=secrets(),
        configure=configure,
        host="0.0.0.0",
    )
    return client, clock, context


async def test_roles_come_from_the_clusters_rbac(
    cluster: tuple[Cluster, str], sqlite_url: str
) -> None:
    state, url = cluster
    client, _, context = serving(url, sqlite_url)
    try:
        async with context as server:
            answers: dict[str, list[int]] = {}
            for token in ("k8s-alice", "k8s-bob", "k8s-carol", "k8s-dave", "not-a-token"):
                headers = bearer(token)
                answers[token] = [
                    (await server.client.get("/api/v1/approvals", headers=headers)).status_code,
                    (
                        await server.client.post(
                            f"/api/v1/approvals/{MISSING}", json={"approved": True}, headers=headers
                        )
                    ).status_code,
                    (
                        await server.client.post(
                            f"/api/v1/deliveries/{MISSING}/retry", headers=headers
                        )
                    ).status_code,
                ]
            no_role = await server.client.get("/api/v1/approvals", headers=bearer("k8s-dave"))
            unknown = await server.client.get("/api/v1/approvals", headers=bearer("not-a-token"))
            static = await server.client.post(
                f"/api/v1/deliveries/{MISSING}/retry", headers=bearer(ADMIN)
            )
    finally:
        await client.close()
    # 404: through authentication and authorisation, to the endpoint (nothing by that id).
    assert answers == {
        "k8s-alice": [200, 404, 403],  # approver
        "k8s-bob": [200, 403, 403],  # viewer
        "k8s-carol": [200, 404, 404],  # admin
        "k8s-dave": [403, 403, 403],  # authenticated, but no role
        "not-a-token": [401, 401, 401],
    }
    assert "'dave@company.example' has no role here" in no_role.json()["detail"]
    assert unknown.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert static.status_code == 404  # the configured tokens still work, without a review
    assert OPERATOR_TOKEN not in json.dumps(state.access_reviews)
    alice = next(r for r in state.access_reviews if r["user"] == "alice@company.example")
    assert alice["uid"] == "u-1"
    assert alice["groups"] == ["sre"]
    assert alice["resourceAttributes"]["group"] == "punchingfist.io"
    assert alice["resourceAttributes"]["namespace"] == NAMESPACE


async def test_a_decision_names_the_kubernetes_user(
    cluster: tuple[Cluster, str], sqlite_url: str
) -> None:
    _, url = cluster
    client, _, context = serving(url, sqlite_url)
    try:
        async with context as server:
            run_id = await fire(server)
            approval_id = await request_approval(server, run_id)
            decided = await server.client.post(
                f"/api/v1/approvals/{approval_id}",
                json={"approved": True, "decidedBy": "someone-else"},
                headers=bearer("k8s-alice"),
            )
    finally:
        await client.close()
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "alice@company.example"


async def test_reviews_are_kept_thirty_seconds(
    cluster: tuple[Cluster, str], sqlite_url: str
) -> None:
    state, url = cluster
    client, clock, context = serving(url, sqlite_url)
    try:
        async with context as server:
            for _ in range(5):
                answer = await server.client.get("/api/v1/approvals", headers=bearer("k8s-bob"))
                assert answer.status_code == 200
            assert len(state.token_reviews) == 1
            # admin? approver? viewer: three access reviews, once.
            assert len(state.access_reviews) == 3
            for _ in range(3):
                await server.client.get("/api/v1/approvals", headers=bearer("not-a-token"))
            assert len(state.token_reviews) == 2  # an unknown token is kept too
            clock.now = 30.0
            assert (
                await server.client.get("/api/v1/approvals", headers=bearer("k8s-bob"))
            ).status_code == 200
            assert len(state.token_reviews) == 3
    finally:
        await client.close()


async def test_an_unreachable_api_server_answers_503_and_is_not_remembered(
    cluster: tuple[Cluster, str], sqlite_url: str
) -> None:
    state, url = cluster
    client, _, context = serving(url, sqlite_url)
    try:
        async with context as server:
            state.broken = True
            refused = await server.client.get("/api/v1/approvals", headers=bearer("k8s-alice"))
            state.broken = False
            allowed = await server.client.get("/api/v1/approvals", headers=bearer("k8s-alice"))
    finally:
        await client.close()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert "etcdserver" not in refused.text  # the cause is logged, not told to the caller
    assert allowed.status_code == 200


async def test_audiences_restrict_which_tokens_count(
    cluster: tuple[Cluster, str], sqlite_url: str
) -> None:
    state, url = cluster
    client, _, context = serving(url, sqlite_url, audiences="[punching-fist]")
    try:
        async with context as server:
            bot = await server.client.get("/api/v1/approvals", headers=bearer("k8s-sre-bot"))
            alice = await server.client.get("/api/v1/approvals", headers=bearer("k8s-alice"))
    finally:
        await client.close()
    assert bot.status_code == 200
    assert alice.status_code == 401  # her token is for the API server, not for us
    assert all(r["audiences"] == ["punching-fist"] for r in state.token_reviews)


async def test_kubernetes_auth_needs_operator_mode(sqlite_url: str) -> None:
    service = Service.build(
        Settings(database_url=sqlite_url, port=free_port()),
        resources_from_yaml(PIPELINE + CONFIG % "[]"),
        secrets=secrets(),
    )
    with pytest.raises(ConfigurationError, match="needs serve --kubernetes"):
        await service.start()


async def test_the_oldest_reviews_make_room(cluster: tuple[Cluster, str]) -> None:
    state, url = cluster
    client = KubeClient(
        kopf.ConnectionInfo(server=url, token=OPERATOR_TOKEN, default_namespace=NAMESPACE)
    )
    reviewer = KubernetesTokenReviewer(client, namespace=NAMESPACE, max_entries=2)
    try:
        for token in ("k8s-alice", "k8s-bob", "k8s-alice", "k8s-carol", "k8s-bob", "k8s-alice"):
            await reviewer.review(token, audiences=())
    finally:
        await client.close()
    # The least recently used go first: bob for carol, then alice for bob, carol for alice.
    reviewed = [r["token"] for r in state.token_reviews]
    assert reviewed == ["k8s-alice", "k8s-bob", "k8s-carol", "k8s-bob", "k8s-alice"]
