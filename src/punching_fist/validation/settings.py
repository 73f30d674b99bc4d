"""Settings of Sources, Sinks and the OperatorConfig that load but would fail or do nothing.

A setting we do not implement is an error, so nobody relies on it unknowingly; where the
design document's own examples use it, it is a warning instead, so those examples load
unchanged. Credentials must be secret references: a literal value is refused when used, so
it is refused (or, where the design's examples write one, warned about) here already.
"""

from __future__ import annotations

from collections.abc import Iterator

from punching_fist.agent.approval_rules import rule_findings
from punching_fist.agent.providers.config import DEFAULT_KEY_REFERENCES, canonical
from punching_fist.errors import TemplateError
from punching_fist.resources.findings import Finding, error, warning
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.sink import (
    JiraSinkSpec,
    PagerDutySinkSpec,
    Sink,
    SlackSinkSpec,
    WorkflowSinkSpec,
)
from punching_fist.resources.source import (
    ApiSourceSpec,
    Authentication,
    ChatSourceSpec,
    Source,
    WebhookSourceSpec,
)
from punching_fist.resources.source_secrets import offline_problems
from punching_fist.secret_refs import SUPPORTED_SECRET_MANAGERS, is_reference
from punching_fist.sinks.expressions import condition_holds
from punching_fist.validation.chat import chat_source_findings
from punching_fist.validation.runbooks import runbooks_findings

_REFERENCE_HINT = "or k8s://namespace/secret/key"


def source_findings(source: Source) -> list[Finding]:
    return _source_settings(source) + _unset_secrets(source)


def _source_settings(source: Source) -> list[Finding]:
    name = source.metadata.name or ""
    spec = source.spec
    if isinstance(spec, ApiSourceSpec):
        return _api_authentication(name, spec.config.authentication)
    if isinstance(spec, ChatSourceSpec):
        return chat_source_findings(name, spec)
    if isinstance(spec, WebhookSourceSpec) and spec.config.authentication is not None:
        return _authentication(name, spec.config.authentication)
    return []


def _unset_secrets(source: Source) -> list[Finding]:
    # One rule for every Source type: an env:// secret it needs must be set where it runs.
    return [
        error(
            "Source",
            source.metadata.name or "",
            field.at,
            f"{problem}: {field.consequence}",
            reason="SecretNotFound",
        )
        for field, problem in offline_problems(source)
    ]


def _api_authentication(name: str, auth: Authentication | None) -> list[Finding]:
    # An api Source starts workflows: it is never open to anyone who can reach the server.
    if auth is None or auth.type == "none":
        return [
            error(
                "Source",
                name,
                "spec.config.authentication",
                "an api Source needs credentials: {type: apikey, secretRef: env://API_KEY}"
                " (the key comes in X-API-Key)",
            )
        ]
    return _authentication(name, auth)


def _authentication(name: str, auth: Authentication) -> list[Finding]:
    at = "spec.config.authentication.secretRef"
    if auth.type == "none":
        return []
    if auth.secret_ref is None:
        message = f"{auth.type} authentication needs the token: set secretRef"
    elif not is_reference(auth.secret_ref):
        # Never echoed: it may be the token itself. A bare Secret name (the design's
        # "webhook-secret") is not a reference either; every request would get 503.
        message = "must be a secret reference, not a token or a Secret's name"
    else:
        return []
    return [error("Source", name, at, f"{message}: use env://WEBHOOK_SECRET {_REFERENCE_HINT}")]


def sink_findings(sink: Sink) -> list[Finding]:
    name = sink.metadata.name or ""
    spec = sink.spec
    credentials: list[tuple[str, str, str, bool]] = []  # field, value, variable, design uses it
    if isinstance(spec, SlackSinkSpec):
        credentials = [
            ("botToken", spec.config.bot_token, "SLACK_BOT_TOKEN", True),
            ("signingSecret", spec.config.signing_secret, "SLACK_SIGNING_SECRET", False),
        ]
    elif isinstance(spec, JiraSinkSpec):
        credentials = [("apiToken", spec.config.api_token, "JIRA_API_TOKEN", False)]
    elif isinstance(spec, PagerDutySinkSpec):
        credentials = [("routingKey", spec.config.routing_key, "PAGERDUTY_ROUTING_KEY", False)]
    findings = []
    for field, value, variable, design_uses_it in credentials:
        if is_reference(value):
            continue
        at = f"spec.config.{field}"
        message = (
            f"a literal value is refused at every delivery: use env://{variable} {_REFERENCE_HINT}"
        )
        if design_uses_it:  # the design's Slack example carries a placeholder token
            findings.append(warning("Sink", name, at, message, reason="LiteralCredential"))
        else:
            findings.append(error("Sink", name, at, message))
    if isinstance(spec, WorkflowSinkSpec):
        findings += _trigger_condition(name, spec.config.trigger_condition)
    return findings


def _trigger_condition(name: str, condition: str | None) -> list[Finding]:
    if not condition or "{{" in condition:  # templates are compiled with the others
        return []
    try:
        condition_holds(condition, {})
    except TemplateError as exc:
        return [error("Sink", name, "spec.config.triggerCondition", str(exc))]
    return []


_IGNORED = {
    "database": "the database is chosen with `serve --db` (the Helm chart: database.*)",
    "chat": "a chat Source carries its Slack app's settings (docs/chat.md); Slack approvals"
    " are set on a slack Sink",
    "secrets": "name Kubernetes Secrets where they are used: k8s://namespace/secret/key",
    "secretRotation": "secrets are read when they are used, so rotated values count at once",
}
"""OperatorConfig settings we do not implement; the design's examples use each of them."""


def operator_config_findings(config: OperatorConfig) -> list[Finding]:
    name = config.metadata.name or ""
    spec = config.spec
    present = {
        "database": spec.database is not None,
        "chat": spec.chat is not None,
        "secrets": bool(spec.secrets),
        "secretRotation": spec.secret_rotation is not None,
    }
    findings = [
        warning("OperatorConfig", name, f"spec.{key}", f"ignored: {why}")
        for key, why in _IGNORED.items()
        if present[key]
    ]
    manager = spec.secret_manager
    if manager is not None and manager.type not in SUPPORTED_SECRET_MANAGERS:
        working = ", ".join(sorted(SUPPORTED_SECRET_MANAGERS))
        findings.append(
            error(
                "OperatorConfig",
                name,
                "spec.secretManager.type",
                f"{manager.type!r} has no backend in this version (working: {working});"
                " references to it could never be resolved",
            )
        )
    findings += [
        warning(
            "OperatorConfig",
            name,
            at,
            f"a literal API key is refused when an agent starts: use {key_reference(provider)}"
            f" {_REFERENCE_HINT}",
            reason="LiteralCredential",
        )
        for at, provider in _literal_provider_keys(config)
    ]
    findings += runbooks_findings(name, spec.runbooks)
    return findings + rule_findings("OperatorConfig", name, spec.approval_rules)


def key_reference(provider: str) -> str:
    """The reference a provider's key is read from by default (``env://ANTHROPIC_API_KEY``)."""
    name = canonical(provider)
    return DEFAULT_KEY_REFERENCES.get(name, f"env://{name.upper()}_API_KEY")


def _literal_provider_keys(config: OperatorConfig) -> Iterator[tuple[str, str]]:
    # A warning: the design's OperatorConfig example writes placeholder keys.
    llm = config.spec.llm
    for provider, settings in (llm.providers if llm is not None else {}).items():
        if settings.api_key and not is_reference(settings.api_key):
            yield f"spec.llm.providers.{provider}.apiKey", provider
