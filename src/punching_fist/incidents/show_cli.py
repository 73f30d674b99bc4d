"""``punching-fist incidents list`` and ``show ID``: incidents read from a running server's
API (``--url``, ``--token``: ``api_client``; a ``viewer`` token is enough)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from punching_fist.api_client import DEFAULT_URL, Token, Url, call_api

_out = Console()


def _print(text: str) -> None:
    _out.print(text, soft_wrap=True, highlight=False, markup=False)


def list_incidents(
    url: Url = DEFAULT_URL,
    token: Token = None,
    status: Annotated[
        str | None, typer.Option(help="open, investigating or resolved; all without it.")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="Only this severity.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Opened or taking alerts since (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Incidents, newest first: id, status, severity, alerts, MTTR, title."""
    params: dict[str, Any] = {"limit": limit}
    params.update({k: v for k, v in (("status", status), ("severity", severity)) if v})
    if since:
        params["since"] = since
    page = call_api("GET", url, "/api/v1/incidents", token=token, params=params)
    if not page["items"]:
        _print("no incidents")
        return
    for item in page["items"]:
        mttr = f"  mttr={item['mttr_seconds']}s" if item.get("mttr_seconds") is not None else ""
        _print(
            f"{item['id']}  {item['status']:<13} {item['severity']:<9} "
            f"alerts={item.get('alerts_count') or 0}{mttr}  {item['title']}"
        )
    if page.get("nextOffset") is not None:
        _print(f"({page['total']} in all; the API pages with offset)")


def show(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """One incident: its summary, root cause, investigation and timeline."""
    item = call_api("GET", url, f"/api/v1/incidents/{incident_id}", token=token)
    lines = [
        f"{item['id']}  {item['status']}  {item['severity']}  {item['title']}",
        f"    opened:      {item['created_at']}  alerts: {item.get('alerts_count') or 0}",
    ]
    if item.get("resolved_at"):
        lines.append(f"    resolved:    {item['resolved_at']}  mttr: {item['mttr_seconds']}s")
    if item.get("investigation_run_id"):
        lines.append(f"    investigated by run {item['investigation_run_id']}")
    summary = item.get("ai_summary") or {}
    if isinstance(summary, dict) and summary.get("summary"):
        lines.append(f"    summary:     {summary['summary']}")
    if item.get("root_cause_analysis"):
        lines.append(f"    root cause:  {item['root_cause_analysis']}")
    if item.get("lessons_learned"):
        lines.append(f"    lessons:     {item['lessons_learned']}")
    lines.append("    timeline:")
    for event in item.get("timeline") or []:
        detail = event.get("alertname") or event.get("step") or ""
        lines.append(f"      {event['at']}  {event['event']}  {detail}".rstrip())
    _print("\n".join(lines))
