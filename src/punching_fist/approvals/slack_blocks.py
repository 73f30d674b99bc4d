"""What an approval request looks like in Slack, and how Slack signs what it sends back."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from punching_fist.sinks.slack_blocks import shorten
from punching_fist.store.approval_rows import StoredApproval

APPROVE = "punchingfist_approve"
DENY = "punchingfist_deny"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def approval_blocks(approval: StoredApproval) -> list[dict[str, Any]]:
    action = json.dumps(approval.action, indent=1, ensure_ascii=False)
    rule = approval.rule or {}
    held = (
        f"*Rule:* {rule.get('name')} ({rule.get('origin')}): needs"
        f" {approval.approvers_required} different approvers\n"
        if rule
        else ""
    )
    return [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": shorten(f"🔐 Approval needed · {approval.workflow_name or 'run'}", 150),
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": shorten(
                    f"*Why:* {approval.reason or '-'}\n*Risk:* {approval.risk or 'unknown'}\n"
                    f"{held}```{action}```",
                    3000,
                ),
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Run {approval.run_id} · step {approval.step_name}"
                    + (
                        f" · expires {approval.expires_at:%Y-%m-%d %H:%M} UTC"
                        if approval.expires_at
                        else ""
                    ),
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "punchingfist_approval",
            "elements": [
                {
                    "type": "button",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "action_id": APPROVE,
                    "value": str(approval.id),
                },
                {
                    "type": "button",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "action_id": DENY,
                    "value": str(approval.id),
                },
            ],
        },
    ]
