"""What a chat Source needs to work that its schema cannot say (``docs/chat.md``).

Its credentials must be secret references (whether they resolve is the rule every Source
shares, ``resources/source_secrets.py``). Slack events name channels by id, so ``channel``
must be one.
"""

from __future__ import annotations

import re

from punching_fist.resources.findings import Finding, error
from punching_fist.resources.source import ChatSourceSpec
from punching_fist.secret_refs import is_reference

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def chat_source_findings(name: str, spec: ChatSourceSpec) -> list[Finding]:
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
    return findings
