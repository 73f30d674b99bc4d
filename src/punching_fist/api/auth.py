"""Who may call the API: bearer tokens of the OperatorConfig's ``spec.api.tokens``, with roles.

Each token has a ``name`` and a role: ``viewer`` reads, ``approver`` also decides approvals,
``admin`` may do everything (delivery retries too). Routes declare the role they need with
``auth.requires(Role.X)``, a FastAPI dependency that answers 401 (no or unknown token, with
``WWW-Authenticate: Bearer``) or 403 (a role too weak) and otherwise hands the endpoint the
caller's ``Identity``. Only the ``Authorization`` header authenticates, never a cookie, so a
web page cannot borrow a browser's session to approve, retry or delete.

Token values are resolved through the ``SecretResolver`` (which then redacts them from step
output) at start-up and whenever the resources change; only their SHA-256 digests are kept
here, compared in constant time. They are never logged and never stored.

With ``spec.api.auth: kubernetes`` (operator mode), a token that is none of those is handed
to a ``TokenReviewer``: Kubernetes says who holds it and what they may do here
(``operator/token_review.py``). When it cannot be asked, the answer is 503, never a guess.

With no tokens configured the API stays open, but only on a loopback address, for local
development: ``serve`` refuses any other address. Even open, it answers only requests whose
``Host`` is a loopback name (a DNS-rebinding page cannot read it) and refuses state changes
that a browser sent from another site.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from secrets import token_bytes
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, HTTPException, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from punching_fist.errors import ConfigurationError, SecretResolutionError, TemporaryFailure
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.operator_config import ApiSettings, OperatorConfig
from punching_fist.secret_refs import SecretResolver

log = structlog.get_logger(__name__)


class Role(StrEnum):
    """What a token may do; each role may do what the ones before it may."""

    VIEWER = "viewer"
    APPROVER = "approver"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.APPROVER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who made a request: a token's ``name`` and role."""

    name: str
    role: Role


ANONYMOUS = Identity(name="anonymous", role=Role.ADMIN)
"""Every caller of an open (loopback, tokenless) API."""


@dataclass(frozen=True, kw_only=True)
class Reviewed:
    """Who holds a token, as another authority says, and their role here (``None``: none)."""

    name: str
    role: Role | None


class TokenReviewer(Protocol):
    """Asks an outside authority about a token (Kubernetes: ``operator/token_review.py``)."""

    async def review(self, token: str, *, audiences: Sequence[str]) -> Reviewed | None:
        """``None`` for a token it does not know; ``TemporaryFailure`` when it cannot tell."""
        ...


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(
    auto_error=False, description="An API token of the OperatorConfig's spec.api.tokens."
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) only reaches this machine."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def open_api_problem(host: str, config: OperatorConfig | None) -> str | None:
    """Why serving on ``host`` with this configuration would expose an open API, if it would."""
    api = config.spec.api if config is not None else None
    if is_loopback(host) or (api is not None and (api.tokens or api.auth == "kubernetes")):
        return None
    return _refusal(host, "the API has no tokens")


def _refusal(host: str, why: str) -> str:
    return (
        f"serve listens on {host}, not a loopback address, and {why}: anyone who reaches the "
        "port could approve agent actions. Add OperatorConfig spec.api.tokens "
        "([{name, secretRef: env://NAME, role: admin}]) or serve on 127.0.0.1"
    )


@dataclass(frozen=True)
class _Token:
    digest: bytes
    identity: Identity


@dataclass(frozen=True, kw_only=True)
class _State:
    tokens: tuple[_Token, ...] = ()
    open: bool = False
    metrics_auth: bool = False
    reviewer: TokenReviewer | None = None
    """Set with ``auth: kubernetes``: asked about tokens that are none of ``tokens``."""
    audiences: tuple[str, ...] = ()


class ApiAuth:
    """The API's tokens, kept current with the resources, and the dependencies that check them."""

    compare = staticmethod(hmac.compare_digest)
    """How a presented token's digest is compared: in constant time."""

    def __init__(
        self, resources: Callable[[], ResourceSet], secrets: SecretResolver, *, host: str
    ) -> None:
        self._resources = resources
        self._secrets = secrets
        self._host = host
        self._state = _State()  # closed until ``start`` has read the tokens
        self._lock = asyncio.Lock()  # one refresh at a time, so the last change wins
        self._refreshing: set[asyncio.Task[list[str]]] = set()
        self._reviewer: TokenReviewer | None = None
        self._process_key = token_bytes(32)

    def use_token_review(self, reviewer: TokenReviewer) -> None:
        """Kubernetes mode: ``spec.api.auth: kubernetes`` asks ``reviewer`` about tokens."""
        self._reviewer = reviewer

    async def start(self) -> None:
        """Read the tokens; raises ``ConfigurationError`` when the API would be open off-host."""
        problems = await self.refresh()
        for problem in problems:
            log.error("API token not usable", problem=problem)
        if self._kubernetes_auth() and self._reviewer is None:
            raise ConfigurationError(
                "OperatorConfig spec.api.auth: kubernetes checks tokens with the cluster's "
                "TokenReview API, so it needs serve --kubernetes; use spec.api.tokens here"
            )
        state = self._state
        if state.open:
            log.warning(
                "the API is open: no tokens configured (OperatorConfig spec.api.tokens); "
                "anyone on this machine may read, approve and retry",
                host=self._host,
            )
        elif not state.tokens and state.reviewer is None and not is_loopback(self._host):
            why = "the API has no tokens"
            if problems:
                why = f"none of the API's tokens resolved ({'; '.join(problems)})"
            log.error("refusing to serve", problem=_refusal(self._host, why))
            raise ConfigurationError(_refusal(self._host, why))

    async def refresh(self) -> list[str]:
        """Resolve the configured tokens again; the problems of those that did not resolve."""
        async with self._lock:
            return await self._refresh()

    async def _refresh(self) -> list[str]:
        config = self._resources().operator_config
        api = config.spec.api if config is not None else None
        api = api or ApiSettings()
        tokens: list[_Token] = []
        problems: list[str] = []
        for entry in api.tokens:
            try:
                value = await self._secrets.resolve(entry.secret_ref)
            except SecretResolutionError as exc:
                problems.append(f"token {entry.name!r}: {exc}")
                continue
            if not value.strip():
                problems.append(f"token {entry.name!r}: the secret is empty")
                continue
            identity = Identity(name=entry.name, role=Role(entry.role))
            tokens.append(_Token(_digest(value), identity))
        kubernetes = api.auth == "kubernetes"
        self._state = _State(
            tokens=tuple(tokens),
            open=not api.tokens and not kubernetes and is_loopback(self._host),
            metrics_auth=api.metrics_auth,
            reviewer=self._reviewer if kubernetes else None,
            audiences=tuple(api.audiences),
        )
        return problems

    def session_key(self) -> bytes:
        """The dashboard's cookie-signing key: derived from every configured token's digest.

        Replicas with the same tokens agree on it, and changing any token signs every browser
        out. Without tokens (an open API, or Kubernetes TokenReview) it is this process's own.
        """
        digests = sorted(token.digest for token in self._state.tokens)
        if not digests:
            return self._process_key
        return hashlib.sha256(b"punching-fist dashboard session\0" + b"".join(digests)).digest()

    def _kubernetes_auth(self) -> bool:
        config = self._resources().operator_config
        api = config.spec.api if config is not None else None
        return api is not None and api.auth == "kubernetes"

    def resources_changed(self, _resources: ResourceSet) -> None:
        """A ``ResourceRegistry`` listener: re-read the tokens (the OperatorConfig may differ)."""
        task = asyncio.get_running_loop().create_task(self.refresh())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[list[str]]) -> None:
        self._refreshing.discard(task)
        if not task.cancelled() and task.exception() is None:
            for problem in task.result():
                log.error("API token not usable", problem=problem)

    def requires(self, role: Role) -> Any:
        """A dependency admitting callers with at least ``role``; it returns their identity.

        Typed ``Any`` as FastAPI's ``Depends`` is, so it can be a parameter's default.
        """

        async def authenticated(request: Request, credentials: Credentials) -> Identity:
            return await self.identify(request, credentials, role)

        return Depends(authenticated)

    def metrics(self) -> params.Depends:
        """A dependency for ``/metrics``: open unless ``spec.api.metricsAuth`` is true."""

        async def guarded(request: Request, credentials: Credentials) -> None:
            if self._state.metrics_auth:
                await self.identify(request, credentials, Role.VIEWER)

        dependency: params.Depends = Depends(guarded)
        return dependency

    async def identify(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role
    ) -> Identity:
        """The caller, if they may do what needs ``role``; else the HTTP error to answer."""
        state = self._state
        if state.open:
            _refuse_cross_site(request)
            return ANONYMOUS
        if credentials is None:
            raise _unauthorized(
                "this API needs a token: send 'Authorization: Bearer <token>' "
                "(the --token option or PUNCHING_FIST_TOKEN for the command line)"
            )
        identity = self._match(credentials.credentials)
        if identity is None and state.reviewer is not None:
            identity = await _review(state.reviewer, credentials.credentials, state.audiences)
        if identity is None:
            raise _unauthorized("unknown API token", error="invalid_token")
        if not identity.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"{identity.name!r} has the role {identity.role}; this needs {role}",
            )
        return identity

    def _match(self, presented: str) -> Identity | None:
        # Digests have one length, so the comparison time says nothing about the token; every
        # configured token is compared, so neither does the position of the one that matches.
        digest = _digest(presented)
        found = None
        for token in self._state.tokens:
            if self.compare(digest, token.digest):
                found = token.identity
        return found


async def _review(reviewer: TokenReviewer, token: str, audiences: Sequence[str]) -> Identity | None:
    try:
        reviewed = await reviewer.review(token, audiences=audiences)
    except TemporaryFailure as exc:
        log.error("cannot check a Kubernetes token", problem=str(exc))
        raise HTTPException(
            status_code=503,
            detail="cannot check the token with Kubernetes now; try again",
            headers={"Retry-After": str(max(1, round(exc.delay)))},
        ) from None
    if reviewed is None:
        return None
    if reviewed.role is None:
        raise HTTPException(
            status_code=403,
            detail=f"{reviewed.name!r} has no role here: grant it get (viewer) or create "
            "(approver) on approvals.punchingfist.io, or update on "
            "operatorconfigs.punchingfist.io (admin), in the operator's namespace",
        )
    return Identity(name=reviewed.name, role=reviewed.role)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _unauthorized(detail: str, *, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def _refuse_cross_site(request: Request) -> None:
    """An open API serves this machine's own tools, not web pages it happens to have open."""
    headers = request.headers
    host = headers.get("host", "")
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:  # a malformed IPv6 literal
        name = ""
    if not is_loopback(name):
        raise HTTPException(
            status_code=403,
            detail=f"the API has no tokens and answers loopback names only, not Host {host!r}",
        )
    if request.method in _SAFE_METHODS:
        return
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None:
        cross = site not in ("same-origin", "none")
    else:  # older browsers send Origin only; command-line clients send neither
        cross = origin is not None and urlsplit(origin).netloc != host
    if cross:
        raise HTTPException(
            status_code=403,
            detail="cross-site request refused: without API tokens, only this machine's own "
            "tools may change anything",
        )
