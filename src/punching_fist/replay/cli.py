"""``punching-fist replay ALERT.json --resources DIR``: try a workflow on a recorded alert."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from punching_fist.config import Settings, inherited_env
from punching_fist.errors import ConfigurationError
from punching_fist.observability.logging import configure_logging
from punching_fist.replay.report import timeline
from punching_fist.replay.run import replay
from punching_fist.secret_refs import SecretResolver
from punching_fist.validation import check_folder

err = Console(stderr=True)


def replay_command(
    alert: Annotated[
        Path,
        typer.Argument(
            help="A recorded Alertmanager webhook notification (JSON), as Alertmanager POSTs"
            " it; '-' reads standard input.",
        ),
    ],
    resources: Annotated[
        Path, typer.Option(help="Folder of Source/Workflow/Sink YAML files.", exists=True)
    ],
    workflow: Annotated[
        str | None,
        typer.Option(help="Workflow to run (default: the one the webhook Source triggers)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Webhook Source it arrives through (default: the only one)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole report as JSON.")
    ] = False,
    kubeconfig: Annotated[
        str | None, typer.Option(help="kubeconfig of the agent's read-only kubectl.")
    ] = None,
    tool_path: Annotated[
        str | None, typer.Option(help="PATH of the agent's tools (default: this PATH).")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="PUNCHING_FIST_PUBLIC_URL",
            help="Where people reach the server; links to runs in the payloads start with it.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds the whole replay may take.")] = 600.0,
    log_level: Annotated[
        str, typer.Option(help="Log level; logs go to stderr (warning: the engine's warnings).")
    ] = "error",
) -> None:
    """Run a workflow on a recorded notification without side effects: sinks print what they
    would send, agent tools stay read-only, no database but a temporary one is written."""
    report = check_folder(resources)
    for problem in report.errors:
        err.print(f"[red]error[/red] {escape(problem)}", highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(code=1)
    body = sys.stdin.buffer.read() if str(alert) == "-" else alert.read_bytes()
    secrets = SecretResolver()
    configure_logging(level=log_level, redact=secrets.redact_data)
    settings = Settings(
        base_env=inherited_env(os.environ),
        kubeconfig=kubeconfig,
        tool_path=tool_path,
        public_url=public_url,
    )
    try:
        result = asyncio.run(
            replay(
                body,
                report.resources,
                workflow=workflow,
                source=source,
                settings=settings,
                secrets=secrets,
                timeout=timeout,
            )
        )
    except ConfigurationError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from exc
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(timeline(result), nl=False)
