"""``punching-fist model ...``: install the local model and show what is installed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from punching_fist.errors import PunchingFistError
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.installer import InstallOptions, install
from punching_fist.local_model.status import inspect_cache

model_app = typer.Typer(
    help="The local LLM (Qwen2.5-Coder 1.5B on llama-server): install it, see what is installed.",
    no_args_is_help=True,
)

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir", help="Cache folder [default: $PF_CACHE_DIR or ~/.cache/punching-fist]"
    ),
]


class RichInstallProgress:
    """Shows each install step as a rich progress bar; safe to call from worker threads."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._started = 0.0

    def begin(self, step: str, total: float | None = None) -> None:
        self._started = time.monotonic()
        self._task = self._progress.add_task(step, total=total)

    def advance(self, amount: float) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self, step: str, note: str) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            elapsed = f" [dim]({time.monotonic() - self._started:.1f}s)[/]"
        else:
            elapsed = ""
        self._task = None
        self._progress.console.print(f"[green]✓[/] {step}: {note}{elapsed}")


@model_app.command("install")
def install_command(
    cache_dir: CacheDir = None,
    force: Annotated[bool, typer.Option(help="Redo every step even if cached.")] = False,
    jobs: Annotated[int | None, typer.Option(help="Parallel compile jobs.")] = None,
) -> None:
    """Fetch and verify the weights, build llama-server; skips what is already cached."""
    paths = LocalModelPaths.from_settings(cache_dir)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    console = Console()
    with Progress(*columns, console=console, transient=True) as bars:
        try:
            status = asyncio.run(
                install(
                    paths,
                    options=InstallOptions(force=force, jobs=jobs),
                    progress=RichInstallProgress(bars),
                )
            )
        except PunchingFistError as exc:
            console.print(f"[red]install failed:[/] {exc}")
            raise typer.Exit(1) from exc
    _print_status(console, paths)
    if not status.ready:
        raise typer.Exit(1)


@model_app.command("status")
def status_command(cache_dir: CacheDir = None) -> None:
    """Show what is installed and where; exits 1 if the model is not ready."""
    paths = LocalModelPaths.from_settings(cache_dir)
    if not _print_status(Console(), paths):
        raise typer.Exit(1)


def _print_status(console: Console, paths: LocalModelPaths) -> bool:
    status = inspect_cache(paths)
    table = Table(title=f"Local model cache: {status.root}")
    for column in ("component", "state", "size"):
        table.add_column(column)
    table.add_column("path", overflow="fold")
    for component in (status.weights, status.server):
        colour = "green" if component.installed else "red"
        size = f"{component.size / 2**20:,.0f} MiB" if component.size is not None else "-"
        table.add_row(component.name, f"[{colour}]{component.detail}[/]", size, str(component.path))
    console.print(table)
    return status.ready
