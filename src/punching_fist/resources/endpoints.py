"""The HTTP paths Sources serve, and the ones the server keeps for itself.

An api Source's endpoint that another Source or the server's own API already serves would
never see its requests (or would take theirs), so it is an error in ``validate`` and at load.
``tests/api/test_api_sources.py`` checks that every route of the served app is covered here.
"""

from __future__ import annotations

from punching_fist.resources.findings import Finding, error
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.source import ApiSourceSpec, Source, WebhookSourceSpec

RESERVED_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/slack/interactions",
        "/ui",
    }
)
"""Paths the server's own routes answer."""

RESERVED_PREFIXES = ("/ui/", "/docs/")
"""The dashboard and the API documentation."""

API_COLLECTIONS = frozenset(
    {
        "alerts",
        "approvals",
        "deliveries",
        "incidents",
        "knowledge",
        "kpis",
        "runbooks",
        "runs",
        "sinks",
    }
)
"""The REST API's collections under ``/api/v1/``; other paths there (the design's
``/api/v1/trigger``) are free for api Sources."""


def reserved(path: str) -> bool:
    """Whether the server's own routes serve ``path``."""
    if path in RESERVED_PATHS or path.startswith(RESERVED_PREFIXES):
        return True
    if not path.startswith("/api/v1/"):
        return False
    return path.removeprefix("/api/v1/").split("/", 1)[0] in API_COLLECTIONS


def served_path(source: Source) -> str | None:
    """The path a Source answers HTTP requests at (webhook, chat, api), else None."""
    spec = source.spec
    if isinstance(spec, WebhookSourceSpec):
        return spec.config.path
    if isinstance(spec, ApiSourceSpec):
        return spec.config.endpoint
    if spec.type == "chat":
        path = getattr(spec.config, "path", None)
        return path if isinstance(path, str) else None
    return None


def endpoint_findings(resources: ResourceSet) -> list[Finding]:
    """api Sources whose endpoint another Source or the server's API already serves."""
    others: dict[str, str] = {}
    for name, source in sorted(resources.sources.items()):
        path = served_path(source)
        if path is not None and not isinstance(source.spec, ApiSourceSpec):
            others.setdefault(path, f"Source/{name} ({source.spec.type})")
    findings: list[Finding] = []
    taken: dict[str, str] = {}
    for name, source in sorted(resources.sources.items()):
        if not isinstance(source.spec, ApiSourceSpec):
            continue
        endpoint = source.spec.config.endpoint
        owner = others.get(endpoint) or taken.get(endpoint)
        if owner is None and reserved(endpoint):
            owner = "the server's own API"
        if owner is not None:
            findings.append(
                error(
                    "Source",
                    name,
                    "spec.config.endpoint",
                    f"{endpoint!r} is already served by {owner}: choose another path",
                    reason="NameConflict",
                )
            )
        taken.setdefault(endpoint, f"Source/{name} (api)")
    return findings
