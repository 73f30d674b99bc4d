"""The ``curl`` tool: GET and HEAD requests to hosts on the workflow's allow-list.

An LLM that can fetch any URL can be steered (by text in a log line or an alert) into
reaching cloud metadata endpoints or internal admin APIs, so:

* only ``GET``/``HEAD``, only ``http``/``https``, only hosts on ``allowedHosts``. An empty
  list refuses everything; entries are exact hosts (``api.shop.svc``), hosts with a port
  (``api.shop.svc:8080``) or subdomain wildcards (``*.shop.svc``, which does not match
  ``shop.svc`` itself). Hosts are compared as the HTTP client will dial them (IDNA, no
  trailing dot, case-insensitive); IP addresses must be listed as written.
* redirects are followed by hand, each hop checked against the list, so an allowed host
  cannot bounce the request elsewhere;
* no proxy or ``.netrc`` settings from the operator's environment, no credentials sent;
* a deadline for the whole exchange and a cap on the body read, so a slow or endless
  response cannot hold the investigation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from punching_fist.agent.tools.curl_render import read_capped, render_response
from punching_fist.agent.tools.redaction import finish_output
from punching_fist.errors import ConfigurationError
from punching_fist.secret_refs import SecretResolver

DESCRIPTION = (
    "Fetch a URL with HTTP GET or HEAD and show the status, main headers and body. Use it"
    " to check a service's health or metrics endpoint, e.g. http://api.shop.svc:8080/healthz."
)
METHODS = frozenset({"GET", "HEAD"})
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CurlArguments(BaseModel):
    """What the model passes: a full URL and optionally the method."""

    url: str = Field(description="Full URL with http:// or https://.")
    method: str = Field(default="GET", description="GET (default) or HEAD.")


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: a host (or ``*.`` suffix) and optionally a port."""

    host: str
    wildcard: bool
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> HostRule:
        """Read ``host``, ``host:port``, ``*.suffix`` or ``*.suffix:port``."""
        text = entry.strip()
        wildcard = text.startswith("*.")
        if wildcard:
            text = text[2:]
        try:
            url = httpx.URL(f"http://{text}")
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"allowedHosts entry {entry!r}: {exc}") from exc
        host = _normal_host(url)
        if not host or url.path not in ("", "/") or url.query or url.userinfo or "*" in host:
            raise ConfigurationError(
                f"allowedHosts entry {entry!r}: write a host, host:port or *.domain"
            )
        return cls(host=host, wildcard=wildcard, port=url.port)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        return host.endswith(f".{self.host}") if self.wildcard else host == self.host


class CurlTool:
    """HTTP GET/HEAD for the agent, limited to an allow-list of hosts."""

    name = "curl"
    arguments: type[BaseModel] = CurlArguments
    read_only = True
    """Only GET and HEAD, which servers must treat as safe."""

    def __init__(
        self,
        *,
        allowed_hosts: Sequence[str],
        secrets: SecretResolver,
        description: str | None = None,
    ) -> None:
        """Raises ``ConfigurationError`` for an allow-list entry that is not a host."""
        self.description = description or DESCRIPTION
        self._rules = tuple(HostRule.parse(entry) for entry in allowed_hosts)
        self._secrets = secrets

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        """Refuse other methods, schemes and hosts; the reason says what would be allowed."""
        args = parse_arguments(CurlArguments, arguments)
        if args.method.upper() not in METHODS:
            return _refuse(f"method {args.method!r} is not allowed; use GET or HEAD")
        if problem := self._url_problem(args.url):
            return _refuse(problem)
        if self.name in context.require_approval_for:
            return SafetyCheck(verdict="approval", reason="the workflow requires approval for curl")
        return SafetyCheck(verdict="allow", reason="GET/HEAD to an allowed host")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        """Fetch the URL; network errors and refused redirects are reported as text.

        Raises ``CommandRejected`` for a request ``check`` would not allow.
        """
        ensure_permitted(self.check(arguments, context), context)
        args = parse_arguments(CurlArguments, arguments)
        started = time.perf_counter()
        details: dict[str, Any] = {"method": args.method.upper(), "hops": [args.url]}
        try:
            text = await self._fetch(args, context, details)
        except TimeoutError:
            text = f"request timed out after {context.timeout_seconds:g}s"
            details["error"] = "timeout"
        except httpx.HTTPError as exc:
            text = f"request failed: {type(exc).__name__}: {exc}"
            details["error"] = type(exc).__name__
        details["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return finish_output(text, context=context, secrets=self._secrets, details=details)

    async def _fetch(
        self, args: CurlArguments, context: ToolContext, details: dict[str, Any]
    ) -> str:
        body_limit = max(64 * 1024, 4 * context.output_limit)
        request_url = httpx.URL(args.url)
        method = args.method.upper()
        notes: list[str] = []
        async with httpx.AsyncClient(
            timeout=context.timeout_seconds, trust_env=False, follow_redirects=False
        ) as client:
            # httpx's timeouts are per read; a body trickling in needs an overall deadline.
            async with asyncio.timeout(context.timeout_seconds):
                for _ in range(MAX_REDIRECTS + 1):
                    request = client.build_request(method, request_url)
                    response = await client.send(request, stream=True)
                    try:
                        details["status"] = response.status_code
                        next_request = response.next_request if response.is_redirect else None
                        if next_request is None:
                            body, cut = await read_capped(response, body_limit)
                            return render_response(response, body, cut, notes)
                        if problem := self._url_problem(str(next_request.url)):
                            notes.append(f"redirect to {next_request.url} not followed: {problem}")
                            return render_response(response, b"", False, notes)
                    finally:
                        await response.aclose()
                    notes.append(f"redirected from {request_url}")
                    request_url, method = next_request.url, next_request.method
                    details["hops"].append(str(request_url))
        return f"stopped after {MAX_REDIRECTS} redirects; last location {request_url}"

    def _url_problem(self, url_text: str) -> str | None:
        try:
            url = httpx.URL(url_text)
        except httpx.InvalidURL as exc:
            return f"not a valid URL ({exc})"
        if url.scheme not in _DEFAULT_PORTS:
            return "only http:// and https:// URLs are allowed"
        host = _normal_host(url)
        if not host:
            return "the URL has no host"
        if not self._rules:
            return (
                "this curl tool has no allowed hosts; the workflow must list them in the"
                " tool's allowedHosts (e.g. `api.shop.svc` or `*.shop.svc`)"
            )
        port = url.port or _DEFAULT_PORTS[url.scheme]
        if not any(rule.matches(host, port) for rule in self._rules):
            allowed = ", ".join(_describe(rule) for rule in self._rules)
            return f"host {host}:{port} is not on the allow-list ({allowed})"
        return None


def _normal_host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii", errors="replace").lower().rstrip(".")


def _describe(rule: HostRule) -> str:
    text = f"*.{rule.host}" if rule.wildcard else rule.host
    return f"{text}:{rule.port}" if rule.port is not None else text


def _refuse(reason: str) -> SafetyCheck:
    return SafetyCheck(verdict="refuse", reason=reason, risk="medium")
