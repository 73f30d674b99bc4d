"""``punching-fist incidents``: tell a running server whether an investigation was right.

It talks HTTP (``--url``, ``--token``: ``api_client``) like ``punching-fist approvals``;
feedback needs an ``approver`` token and is recorded under that token's name.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from punching_fist.api_client import DEFAULT_URL, Token, Url, call_api

app = typer.Typer(
    name="incidents",
    help="Incidents: feedback on their investigations.",
    no_args_is_help=True,
)
_out = Console()


@app.command()
def feedback(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    correct: Annotated[
        bool | None,
        typer.Option("--correct/--wrong", help="Whether the investigation's root cause was right."),
    ] = None,
    human_needed: Annotated[
        bool | None,
        typer.Option(
            "--human-needed/--no-human-needed",
            help="Whether a person was needed to resolve it (escalation accuracy).",
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="What you found.")] = None,
    resolution: Annotated[str | None, typer.Option("--resolution", help="What fixed it.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Say whether the root cause was right (--correct or --wrong), with notes and the fix."""
    if correct is None:
        raise typer.BadParameter("say --correct or --wrong", param_hint="--correct/--wrong")
    body: dict[str, object] = {"rootCauseCorrect": correct}
    if human_needed is not None:
        body["humanNeeded"] = human_needed
    if notes is not None:
        body["notes"] = notes
    if resolution is not None:
        body["resolution"] = resolution
    given = call_api(
        "POST",
        url,
        f"/api/v1/incidents/{incident_id}/feedback",
        token=token,
        json=body,
        params={"via": "cli"},
    )
    verdict = "right" if correct else "wrong"
    _out.print(
        f"feedback on {incident_id}: root cause {verdict}, recorded by {given['givenBy']}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
