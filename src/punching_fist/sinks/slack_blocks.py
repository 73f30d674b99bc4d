"""The Slack message of a result: Block Kit blocks plus the plain-text fallback.

Layout: a header with the severity and alert name; the summary (or the sink's rendered
template); root cause; recommendations; a context line with confidence, workflow, duration
and whether it was fixed automatically; a button linking to the run; with a root cause, on a
sink with approvers, "Root cause right / wrong" buttons. Slack's limits (150
characters in a header, 3000 in a section, 50 blocks) are applied here, so a long LLM answer
is shortened rather than rejected with ``invalid_blocks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from punching_fist.sinks.summary import ResultSummary

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
TEXT_LIMIT = 3000
FEEDBACK_RIGHT = "punchingfist_feedback_right"
FEEDBACK_WRONG = "punchingfist_feedback_wrong"
"""The buttons people judge an investigation's root cause with (``approvals.slack_feedback``)."""

SEVERITY_EMOJI = {
    "critical": "🔴",
    "error": "🔴",
    "high": "🔴",
    "warning": "🟠",
    "warn": "🟠",
    "info": "🔵",
    "low": "🔵",
}

_USER_ID = re.compile(r"[UW][A-Z0-9]{6,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{6,}")
_SPECIAL = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True, kw_only=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]]
    mentions: bool


def mention(user: str) -> str:
    """Slack's mention syntax for a user ID, a user-group ID, @here/@channel, or a handle.

    Plain ``@handle`` names are passed on with ``link_names`` set; Slack links the ones it
    still can, so IDs (``U…``, ``S…``) are the reliable way to page someone.
    """
    name = user.strip().lstrip("@")
    if name.lower() in _SPECIAL:
        return _SPECIAL[name.lower()]
    if _USER_ID.fullmatch(name):
        return f"<@{name}>"
    if _GROUP_ID.fullmatch(name):
        return f"<!subteam^{name}>"
    return f"@{name}"


def to_mrkdwn(text: str) -> str:
    """Markdown's ``**bold**`` (as the design's templates write it) in Slack's ``*bold*``."""
    return _BOLD.sub(r"*\1*", text)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header_text(result: ResultSummary) -> str:
    if result.alert_status == "resolved":
        return shorten(f"✅ RESOLVED · {result.alertname}", HEADER_LIMIT)
    emoji = SEVERITY_EMOJI.get(result.severity, "⚪")
    return shorten(f"{emoji} {result.severity.upper()} · {result.alertname}", HEADER_LIMIT)


def build_message(
    result: ResultSummary,
    *,
    rendered: str | None,
    mention_users: list[str],
    run_url: str | None,
    feedback_for: str | None = None,
) -> SlackMessage:
    """``feedback_for``: the run whose incident "Root cause right / wrong" buttons judge;
    shown only on a message with a root cause."""
    mentions = " ".join(mention(user) for user in mention_users)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header_text(result)}}
    ]
    body = to_mrkdwn(rendered.strip()) if rendered else result.summary
    if rendered or not body:
        lead = "\n".join(part for part in (mentions, body) if part)
    else:
        lead = "\n".join(part for part in (mentions, "*Summary*", body) if part)
    if lead:
        blocks.append(_section(lead))
    if result.root_cause:
        blocks.append(_section(f"*Root cause*\n{result.root_cause}"))
    if result.recommendations:
        items = "\n".join(f"• {item}" for item in result.recommendations)
        blocks.append(_section(f"*Recommendations*\n{items}"))
    blocks.append({"type": "context", "elements": [_mrkdwn(_context_line(result))]})
    if run_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View run"},
                        "url": run_url,
                        "action_id": "punchingfist_view_run",
                    }
                ],
            }
        )
    if feedback_for and result.root_cause:
        blocks.append(_feedback_buttons(feedback_for))
    fallback = f"{header_text(result)}: {body or result.status}"
    text = shorten(f"{mentions} {fallback}".strip(), TEXT_LIMIT)
    return SlackMessage(text=text, blocks=blocks, mentions=bool(mention_users))


def _feedback_buttons(run_id: str) -> dict[str, Any]:
    def button(text: str, action_id: str) -> dict[str, Any]:
        return {
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "action_id": action_id,
            "value": run_id,
        }

    return {
        "type": "actions",
        "block_id": "punchingfist_feedback",
        "elements": [
            button("Root cause right", FEEDBACK_RIGHT),
            button("Root cause wrong", FEEDBACK_WRONG),
        ],
    }


def _context_line(result: ResultSummary) -> str:
    parts = []
    if result.confidence is not None:
        parts.append(f"*Confidence:* {result.confidence:.0%}")
    workflow = f"*Workflow:* {result.workflow} {result.status}"
    if result.duration:
        workflow += f" in {result.duration}"
    parts.append(workflow)
    parts.append(f"*Auto-fixed:* {'yes' if result.auto_fixed else 'no'}")
    return " · ".join(parts)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": shorten(text, SECTION_LIMIT)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
