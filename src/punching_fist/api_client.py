"""The command line's side of the API: the ``--url`` and ``--token`` options and one request.

Commands that call a running server (``approvals``, ...) hold no state and no database
connection, so they work the same against a laptop server or a port-forwarded operator.
The token comes from ``--token`` or ``PUNCHING_FIST_TOKEN`` (the environment keeps it out of
shell history) and is sent only as ``Authorization: Bearer``; it is never printed.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_ENV = "PUNCHING_FIST_TOKEN"  # noqa: S105 (a variable's name, not a token)

Url = Annotated[str, typer.Option("--url", help="Base URL of the Punching Fist server.")]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        show_envvar=True,
        help="API token (one of the OperatorConfig's spec.api.tokens).",
    ),
]

_err = Console(stderr=True)


def call_api(method: str, url: str, path: str, *, token: str | None, **kwargs: Any) -> Any:
    """The JSON answer of one request; prints the server's reason and exits on an error."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", headers=headers, timeout=30, **kwargs
        )
    except httpx.HTTPError as exc:
        _err.print(f"[red]error[/red] cannot reach {escape(url)}: {escape(str(exc))}")
        raise typer.Exit(code=2) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        _err.print(
            f"[red]error[/red] {response.status_code}: {escape(str(detail))}", highlight=False
        )
        raise typer.Exit(code=1)
    return response.json()
