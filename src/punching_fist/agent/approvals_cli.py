"""``punching-fist approvals``: list, approve and deny agent actions through the server's API.

The CLI holds no state and no database connection: it talks HTTP to a running server
(``--url``), so it works the same against a laptop server or a port-forwarded operator.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

DEFAULT_URL = "http://127.0.0.1:8080"

app = typer.Typer(
    name="approvals",
    help="Decide on actions an agent is waiting to run.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)

Url = Annotated[str, typer.Option("--url", help="Base URL of the Punching Fist server.")]


def _request(method: str, url: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(method, f"{url.rstrip('/')}{path}", timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        _err.print(f"[red]error[/red] cannot reach {url}: {exc}")
        raise typer.Exit(code=2) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        _err.print(f"[red]error[/red] {response.status_code}: {detail}")
        raise typer.Exit(code=1)
    return response.json()


@app.command("list")
def list_approvals(
    url: Url = DEFAULT_URL,
    status: Annotated[
        str, typer.Option(help="pending, approved, denied, expired or all.")
    ] = "pending",
) -> None:
    """Approval requests: id, what would run, why it needs a person, and the risk."""
    page = _request("GET", url, "/api/v1/approvals", params={"status": status})
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
        if item.get("feedback"):
            lines.append(f"    feedback: {item['feedback']}")
        _out.print("\n".join(lines), soft_wrap=True, highlight=False, markup=False)


def _decide(url: str, approval_id: str, approved: bool, feedback: str | None) -> None:
    body = {"approved": approved, "feedback": feedback, "decidedBy": "cli"}
    result = _request("POST", url, f"/api/v1/approvals/{approval_id}", json=body)
    verb = "approved" if approved else "denied"
    resumed = "; the run resumes" if result.get("run_resumed") else ""
    _out.print(f"{verb} {approval_id}{resumed}")


Feedback = Annotated[
    str | None, typer.Option("--feedback", "-f", help="A note passed on to the agent.")
]


@app.command()
def approve(
    approval_id: Annotated[str, typer.Argument(help="The approval's id.")],
    url: Url = DEFAULT_URL,
    feedback: Feedback = None,
) -> None:
    """Let the agent run the action."""
    _decide(url, approval_id, True, feedback)


@app.command()
def deny(
    approval_id: Annotated[str, typer.Argument(help="The approval's id.")],
    url: Url = DEFAULT_URL,
    feedback: Feedback = None,
) -> None:
    """Refuse the action; the agent is told and goes on without it."""
    _decide(url, approval_id, False, feedback)
