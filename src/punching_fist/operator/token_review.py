"""Kubernetes tokens for the API: TokenReview says who holds one, SubjectAccessReview what role.

With OperatorConfig ``spec.api.auth: kubernetes``, people and programs call the API with the
tokens they already have for the cluster (a service account's, or an OIDC ``id-token`` that
the API server accepts), and their roles are granted with ordinary RBAC. The role is the
highest whose rule the cluster allows, in the operator's namespace, on virtual resources of
the group ``punchingfist.io`` (no CRD needed, RBAC does not check that a resource exists):

==========  ==========================================  ====================================
role        verb and resource                           why this one
==========  ==========================================  ====================================
admin       ``update operatorconfigs.punchingfist.io``  who may change the OperatorConfig may
                                                        mint themselves an admin token anyway
approver    ``create approvals.punchingfist.io``        a decision is a new object
viewer      ``get approvals.punchingfist.io``
==========  ==========================================  ====================================

The operator's own account needs ``create`` on ``tokenreviews`` and ``subjectaccessreviews``
(the built-in ClusterRole ``system:auth-delegator``). Answers are kept ``ttl`` seconds per
token, so a busy client does not cost two to four API calls per request, and a revoked token
or role stops working within that time. Only the tokens' SHA-256 digests are kept.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from punching_fist.api.auth import Reviewed, Role
from punching_fist.errors import TemporaryFailure
from punching_fist.operator.client import KubeClient, KubernetesApiError

log = structlog.get_logger(__name__)

GROUP = "punchingfist.io"
ROLE_RULES: tuple[tuple[Role, str, str], ...] = (
    (Role.ADMIN, "update", "operatorconfigs"),
    (Role.APPROVER, "create", "approvals"),
    (Role.VIEWER, "get", "approvals"),
)
"""(role, verb, resource): the first the cluster allows is the caller's role."""
AUTHN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
AUTHZ_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class KubernetesTokenReviewer:
    """A ``TokenReviewer`` asking the API server, answers kept ``ttl`` seconds per token."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._kept: OrderedDict[tuple[bytes, tuple[str, ...]], tuple[Reviewed | None, float]]
        self._kept = OrderedDict()

    async def review(self, token: str, *, audiences: Sequence[str]) -> Reviewed | None:
        key = (hashlib.sha256(token.encode()).digest(), tuple(audiences))
        kept = self._kept.get(key)
        if kept is not None and self._clock() < kept[1]:
            self._kept.move_to_end(key)  # the least recently used make room first
            return kept[0]
        try:
            reviewed = await self._ask(token, audiences)
        except KubernetesApiError as exc:
            hint = ""
            if exc.status == 403:
                hint = " (the operator's account needs the ClusterRole system:auth-delegator)"
            raise TemporaryFailure(f"{exc}{hint}", delay=5.0) from exc
        # Unknown tokens are kept too: a client stuck on a revoked one costs a call per ttl.
        self._kept[key] = (reviewed, self._clock() + self._ttl)
        self._kept.move_to_end(key)
        while len(self._kept) > self._max_entries:
            self._kept.popitem(last=False)
        return reviewed

    async def _ask(self, token: str, audiences: Sequence[str]) -> Reviewed | None:
        spec: dict[str, Any] = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        answer = await self._client.create(
            AUTHN_REVIEWS,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec},
        )
        status = (answer or {}).get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        if audiences and not set(audiences) & set(status.get("audiences") or ()):
            return None  # meant for someone else (the API server would have said so too)
        name = str(user["username"])
        subject = {
            key: user[key] for key in ("uid", "groups", "extra") if user.get(key) is not None
        }
        for role, verb, resource in ROLE_RULES:
            if await self._allowed(name, subject, verb, resource):
                return Reviewed(name=name, role=role)
        log.info("a Kubernetes identity has no role in the API", user=name)
        return Reviewed(name=name, role=None)

    async def _allowed(self, name: str, subject: dict[str, Any], verb: str, resource: str) -> bool:
        answer = await self._client.create(
            AUTHZ_REVIEWS,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": name,
                    **subject,
                    "resourceAttributes": {
                        "namespace": self._namespace,
                        "verb": verb,
                        "group": GROUP,
                        "resource": resource,
                    },
                },
            },
        )
        return bool(((answer or {}).get("status") or {}).get("allowed"))
