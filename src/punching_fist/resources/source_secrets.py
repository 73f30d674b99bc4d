"""The secrets a Source cannot run without, and the ones we can tell are missing offline.

One rule for every Source type (``docs/sources.md``, "Honest status"): a webhook Source's
authentication secret, an api Source's key and a chat Source's bot token and signing secret
are needed for every request, so a Source whose secret cannot be read must not look ready.
An ``env://`` reference is checked where ``validate`` and the loader run (the server's
environment is the one that counts); ``k8s://``, ``vault://``, ``aws-secrets://`` and
``azure-keyvault://`` need the cluster or a cloud, so ``validate --connect``, folder-mode
``serve`` at start and the operator's status check them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from punching_fist.resources.source import (
    ApiSourceSpec,
    ChatSourceSpec,
    Source,
    WebhookSourceSpec,
)
from punching_fist.secret_refs import is_reference

OFFLINE_SCHEMES = frozenset({"env"})
"""Schemes resolved from the process alone: checked by plain ``validate`` and at load."""


@dataclass(frozen=True, kw_only=True)
class SecretField:
    """One secret reference of a Source and what the Source cannot do without it."""

    at: str
    reference: str
    consequence: str


def secret_fields(source: Source) -> list[SecretField]:
    """The Source's secret references (literal values are refused elsewhere)."""
    spec = source.spec
    found: list[tuple[str, str | None, str]] = []
    if isinstance(spec, WebhookSourceSpec | ApiSourceSpec):
        auth = spec.config.authentication
        if auth is not None and auth.type != "none":
            consequence = (
                "the webhook Source would refuse every request (503)"
                if isinstance(spec, WebhookSourceSpec)
                else "the api Source could not accept any request"
            )
            found.append(("spec.config.authentication.secretRef", auth.secret_ref, consequence))
    elif isinstance(spec, ChatSourceSpec):
        found += [
            ("spec.config.botToken", spec.config.bot_token, "the chat Source could not answer"),
            (
                "spec.config.signingSecret",
                spec.config.signing_secret,
                "the chat Source could not verify Slack's requests",
            ),
        ]
    return [
        SecretField(at=at, reference=reference, consequence=consequence)
        for at, reference, consequence in found
        if reference is not None and is_reference(reference)
    ]


def is_offline(reference: str) -> bool:
    return reference.split("://", 1)[0] in OFFLINE_SCHEMES


def offline_problems(
    source: Source, environ: Mapping[str, str] | None = None
) -> list[tuple[SecretField, str]]:
    """Each reference that can be resolved here and does not, with the reason."""
    environ = os.environ if environ is None else environ
    problems = []
    for field in secret_fields(source):
        if not is_offline(field.reference):
            continue
        variable = field.reference.removeprefix("env://")
        if not variable or variable not in environ:
            problems.append((field, f"{field.reference} is not set in this environment"))
    return problems
