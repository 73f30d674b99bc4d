"""The ``api`` source type: a JSON object POSTed to a Source's endpoint starts its workflow.

The body becomes ``.source.data``. The run is committed before the answer (202 with its id),
so an acknowledged request is never lost. An ``Idempotency-Key`` header makes retries safe:
the same key with the same body answers with the run the first request started; the same
key with another body is refused (422), following the IETF idempotency-key draft (Stripe
answers 400 there). Every api Source needs credentials (``validation.settings``); the key
arrives in ``X-API-Key`` (or the header the Source names) and is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

from punching_fist.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    SecretResolutionError,
    TemporaryFailure,
    Unauthenticated,
)
from punching_fist.observability.tracing import TRACEPARENT, current_traceparent
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import ApiSourceSpec, Source
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.api_requests import ApiRun, create_api_run
from punching_fist.store.database import Database

log = structlog.get_logger(__name__)

IDEMPOTENCY_KEY_LENGTH = 255
"""The longest ``Idempotency-Key`` stored (UUIDs, the usual choice, have 36 characters)."""


def api_endpoints(resources: Iterable[tuple[str, Source]]) -> dict[str, tuple[str, Source]]:
    """Each api Source by its endpoint (the first by name where two share one)."""
    index: dict[str, tuple[str, Source]] = {}
    for name, source in sorted(resources):
        if isinstance(source.spec, ApiSourceSpec):
            index.setdefault(source.spec.config.endpoint, (name, source))
    return index


class ApiIntake:
    """Authenticates, checks and stores the requests of every api Source."""

    def __init__(
        self,
        registry: ResourceRegistry,
        database: Database,
        secrets: SecretResolver,
        start_runs: Callable[[list[Any]], object],
    ) -> None:
        self._registry = registry
        self._database = database
        self._secrets = secrets
        self._start_runs = start_runs
        self._indexed_for: object = None
        self._index: dict[str, tuple[str, Source]] = {}

    def _endpoints(self) -> dict[str, tuple[str, Source]]:
        current = self._registry.current()
        if current is not self._indexed_for:  # rebuilt once per resource change
            self._index = api_endpoints(current.sources.items())
            self._indexed_for = current
        return self._index

    def serves(self, path: str) -> bool:
        return path in self._endpoints()

    def method(self, path: str) -> str | None:
        """The method the api Source at ``path`` accepts, or None when none serves it."""
        found = self._endpoints().get(path)
        if found is None:
            return None
        spec = found[1].spec
        assert isinstance(spec, ApiSourceSpec)
        return spec.config.method

    def source_for(self, path: str) -> tuple[str, ApiSourceSpec]:
        found = self._endpoints().get(path)
        if found is None:
            raise NotFound(f"no api source serves {path!r}")
        name, source = found
        assert isinstance(source.spec, ApiSourceSpec)
        return name, source.spec

    async def authenticate(self, spec: ApiSourceSpec, headers: Mapping[str, str]) -> None:
        auth = spec.config.authentication
        if auth is None or auth.type == "none" or auth.secret_ref is None:
            # validate and the loader refuse this; never serve an api Source without a key
            raise ConfigurationError("the api Source has no authentication with a secretRef")
        if auth.type == "bearer":
            scheme, _, token = headers.get("authorization", "").partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" else ""
        else:
            presented = headers.get((auth.header or "x-api-key").lower(), "")
        if not presented:
            raise Unauthenticated("missing or invalid API key")
        try:
            expected = await self._secrets.resolve(auth.secret_ref)
        except SecretResolutionError as exc:
            raise TemporaryFailure(f"cannot check credentials: {exc}") from exc
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthenticated("missing or invalid API key")

    async def accept(
        self, name: str, spec: ApiSourceSpec, body: bytes, idempotency_key: str | None
    ) -> ApiRun:
        """Store the run ``body`` starts (or find the one its key started) and queue it."""
        data = _json_object(body)
        if idempotency_key is not None:
            _check_key(idempotency_key)
        digest = hashlib.sha256(body).hexdigest()
        traceparent = current_traceparent()
        context: dict[str, Any] = {
            **({TRACEPARENT: traceparent} if traceparent else {}),
            "name": name,
            "type": "api",
            "context": spec.context,
            "data": self._secrets.redact_data(data),
        }
        run = await create_api_run(
            self._database,
            source_name=name,
            workflow_name=spec.trigger_workflow,
            source_context=context,
            idempotency_key=idempotency_key,
            body_sha256=digest,
        )
        if run.created:
            self._start_runs([run.run_id])
        return run


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8 text") from None
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"the body must be a JSON object (it becomes .source.data), not {_kind(data)}"
        )
    return data


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _check_key(key: str) -> None:
    if not key or len(key) > IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LENGTH} printable characters"
        )
