"""``punching-fist approvals``: list, approve and deny agent actions through the server's API.

It talks HTTP to a running server (``--url``, ``--token``: ``api_client``). Deciding needs a
token with the ``approver`` role; the decision is recorded under that token's name.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from punching_fist.api_client import DEFAULT_URL, Token, Url, call_api

app = typer.Typer(
    name="approvals",
    help="Decide on actions an agent is waiting to run.",
    no_args_is_help=True,
)
_out = Console()


@app.command("list")
def list_approvals(
    url: Url = DEFAULT_URL,
    token: Token = None,
    status: Annotated[
        str, typer.Option(help="pending, approved, denied, expired or all.")
    ] = "pending",
) -> None:
    """Approval requests: id, what would run, why it needs a person, and the risk."""
    page = call_api("GET", url, "/api/v1/approvals", token=token, params={"status": status})
    items = page["items"]
    if not items:
        _out.print(f"no {status} approvals")
        return
    for item in items:
        action = item.get("action") or {}
        lines = [
            f"{item['id']}  {item['status']}  risk={item.get('risk') or '?'}  "
            f"{item.get('workflow') or '?'}/{item['step_name']}",
            f"    action:  {action.get('tool', '')}: {action.get('command', '')}",
            f"    reason:  {item.get('reason') or ''}",
            f"    expires: {item.get('expires_at') or ''}",
        ]
        rule = item.get("rule")
        if rule:
            given = ", ".join(item.get("approved_by") or []) or "nobody yet"
            lines.append(
                f"    rule:    {rule.get('name')} ({rule.get('origin')}):"
                f" {item.get('approvers_required')} approvers; approved by {given}"
            )
        if item.get("feedback"):
            lines.append(f"    feedback: {item['feedback']}")
        _out.print("\n".join(lines), soft_wrap=True, highlight=False, markup=False)


def _decide(
    url: str, token: str | None, approval_id: str, approved: bool, feedback: str | None
) -> None:
    body = {"approved": approved, "feedback": feedback}
    result = call_api("POST", url, f"/api/v1/approvals/{approval_id}", token=token, json=body)
    verb = "approved" if approved else "denied"
    resumed = "; the run resumes" if result.get("run_resumed") else ""
    if result.get("status") == "pending":  # an approval rule asks for more people
        given, needed = len(result.get("approved_by") or []), result.get("approvers_required")
        resumed = f" ({given} of {needed}); it waits for someone else to approve"
    _out.print(f"{verb} {approval_id}{resumed}")


Feedback = Annotated[
    str | None, typer.Option("--feedback", "-f", help="A note passed on to the agent.")
]


@app.command()
def approve(
    approval_id: Annotated[str, typer.Argument(help="The approval's id.")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    feedback: Feedback = None,
) -> None:
    """Let the agent run the action."""
    _decide(url, token, approval_id, True, feedback)


@app.command()
def deny(
    approval_id: Annotated[str, typer.Argument(help="The approval's id.")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    feedback: Feedback = None,
) -> None:
    """Refuse the action; the agent is told and goes on without it."""
    _decide(url, token, approval_id, False, feedback)
