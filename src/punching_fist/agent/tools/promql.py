"""The ``promql`` tool: instant and range queries against the Prometheus HTTP API.

Prometheus answers in JSON that costs many tokens per sample; a small model reads a few
lines per series far better. So results are rendered compactly (one line per series for an
instant query; a min/max/last summary plus a handful of evenly spaced samples for a range),
the number of series is capped with a hint to narrow the query, and Prometheus' own error
message (``bad_data: 1:6: parse error: ...``) is passed on verbatim so the model can fix
its query on the next turn. Reaching Prometheus at all failing is also reported as text:
the model can carry on with other tools.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, Field

from punching_fist.agent.tools.base import (
    SafetyCheck,
    ToolContext,
    ToolOutput,
    ensure_permitted,
    parse_arguments,
)
from punching_fist.agent.tools.promql_render import render_result
from punching_fist.agent.tools.redaction import finish_output
from punching_fist.secret_refs import SecretResolver

DESCRIPTION = (
    "Query Prometheus metrics with PromQL. Use it for numbers over time: error rates,"
    " latency, CPU and memory use, restarts. Give range_minutes to see how a value changed;"
    " omit it for the current value."
)
MAX_POINTS = 120  # per series in a range query; the rendering shows fewer still


class PromqlArguments(BaseModel):
    """What the model passes: a PromQL expression and, for a range query, how far back."""

    query: str = Field(
        description='A PromQL expression, e.g. `rate(http_requests_total{service="api"}[5m])`.'
    )
    range_minutes: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 60,
        description="Look back this many minutes and show the values over time.",
    )
    step_seconds: int | None = Field(
        default=None, ge=1, description="Seconds between points of a range query (optional)."
    )


class PromqlTool:
    """Queries one Prometheus endpoint, with an optional bearer token from a secret reference."""

    name = "promql"
    arguments: type[BaseModel] = PromqlArguments
    read_only = True

    def __init__(
        self,
        *,
        endpoint: str,
        secrets: SecretResolver,
        token_secret_ref: str | None = None,
        description: str | None = None,
    ) -> None:
        """``endpoint`` is Prometheus' base URL (a path prefix such as ``/prometheus`` is kept)."""
        self.description = description or DESCRIPTION
        self._endpoint = endpoint.rstrip("/")
        self._secrets = secrets
        self._token_ref = token_secret_ref

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        """Queries only read; they need approval only if the workflow lists ``promql``."""
        parse_arguments(PromqlArguments, arguments)
        if self.name in context.require_approval_for:
            return SafetyCheck(
                verdict="approval", reason="the workflow requires approval for promql"
            )
        return SafetyCheck(verdict="allow", reason="read-only query")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        """Run the query; an unreachable Prometheus or a bad query is reported as text.

        Raises ``CommandRejected`` if the workflow gates promql and the call is not approved,
        ``SecretResolutionError`` when the token reference cannot be resolved.
        """
        ensure_permitted(self.check(arguments, context), context)
        args = parse_arguments(PromqlArguments, arguments)
        path, params = _request(args, context.timeout_seconds)
        headers = {"Accept": "application/json"}
        if self._token_ref:
            headers["Authorization"] = f"Bearer {await self._secrets.resolve(self._token_ref)}"
        started = time.perf_counter()
        details: dict[str, Any] = {"endpoint": self._endpoint, "path": path, "params": params}
        try:
            async with httpx.AsyncClient(
                timeout=context.timeout_seconds, trust_env=False, follow_redirects=False
            ) as client:
                response = await client.get(
                    f"{self._endpoint}{path}", params=params, headers=headers
                )
            details["status"] = response.status_code
            text = _read_response(response)
        except httpx.HTTPError as exc:
            details["error"] = type(exc).__name__
            text = f"cannot reach Prometheus at {self._endpoint}: {type(exc).__name__}: {exc}"
        details["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return finish_output(text, context=context, secrets=self._secrets, details=details)


def _request(args: PromqlArguments, timeout_seconds: float) -> tuple[str, dict[str, str]]:
    # Prometheus stops evaluating at its own timeout instead of working on for nobody.
    params = {"query": args.query, "timeout": f"{max(timeout_seconds, 1):g}s"}
    if args.range_minutes is None:
        return "/api/v1/query", params
    end = time.time()
    span = args.range_minutes * 60
    step = args.step_seconds or max(1, -(-span // MAX_POINTS))
    params |= {"start": f"{end - span:.3f}", "end": f"{end:.3f}", "step": f"{step}s"}
    return "/api/v1/query_range", params


def _read_response(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"Prometheus answered HTTP {response.status_code} without JSON:\n{response.text}"
    if not isinstance(body, Mapping):
        return f"Prometheus answered HTTP {response.status_code} with unexpected JSON"
    warnings = body.get("warnings") or []
    if body.get("status") != "success":
        kind = body.get("errorType", f"HTTP {response.status_code}")
        text = f"Prometheus rejected the query ({kind}): {body.get('error', 'no message')}"
    else:
        text = render_result(body.get("data") or {})
    if warnings:
        text += "\nwarnings: " + "; ".join(str(w) for w in warnings)
    return text
