"""What a chat Source needs to work that its schema cannot say (``docs/chat.md``).

Its credentials must be secret references, and an ``env://`` one must be set where the check
runs: without the signing secret every request from Slack is refused, without the bot token
no answer is posted, so a Source missing either is an error in ``validate`` and at load (the
server's environment is the one that counts; ``k8s://`` and ``vault://`` references are read
by the operator's checks). Slack events name channels by id, so ``channel`` must be one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from punching_fist.resources.findings import Finding, error
from punching_fist.resources.source import ChatSourceSpec
from punching_fist.secret_refs import is_reference

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def chat_source_findings(
    name: str, spec: ChatSourceSpec, environ: Mapping[str, str] | None = None
) -> list[Finding]:
    environ = os.environ if environ is None else environ
    config = spec.config
    findings: list[Finding] = []
    if config.channel is not None and not _CHANNEL_ID.fullmatch(config.channel):
        findings.append(
            error(
                "Source",
                name,
                "spec.config.channel",
                f"{config.channel!r} is not a channel id: Slack's events name channels by id"
                " (C0123ABCD, in the channel's details), so a name would match nothing",
            )
        )
    for field, value in (("botToken", config.bot_token), ("signingSecret", config.signing_secret)):
        at = f"spec.config.{field}"
        if not is_reference(value):
            findings.append(
                error(
                    "Source",
                    name,
                    at,
                    "must be a secret reference such as env://SLACK_SIGNING_SECRET (or k8s://,"
                    " vault://), not the secret itself",
                )
            )
        elif value.startswith("env://") and value.removeprefix("env://") not in environ:
            findings.append(
                error(
                    "Source",
                    name,
                    at,
                    f"{value} is not set in this environment: the chat Source could not"
                    + (" verify Slack's requests" if field == "signingSecret" else " answer"),
                    reason="SecretNotFound",
                )
            )
    return findings
