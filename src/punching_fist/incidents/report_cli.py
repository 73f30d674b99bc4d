"""``punching-fist report``: the KPIs of a running server (``GET /api/v1/kpis``) as a table.

``--json`` prints the API's answer as it came, for scripts; the table is for people. Reading
needs a ``viewer`` token (``--token`` or ``PUNCHING_FIST_TOKEN``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from punching_fist.api_client import DEFAULT_URL, Token, Url, call_api

_out = Console()


def report(
    since: Annotated[
        str, typer.Option("--since", help="Start: an age (7d, 12h) or an ISO 8601 time.")
    ] = "7d",
    until: Annotated[
        str | None, typer.Option("--until", help="End: an age or an ISO 8601 time; default now.")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this Source.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Only this severity.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON, unformatted.")] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """MTTT, MTTR, auto-resolution, escalation, AI accuracy and LLM cost of a period."""
    params = {"since": since, "until": until, "source": source, "severity": severity}
    kpis = call_api(
        "GET",
        url,
        "/api/v1/kpis",
        token=token,
        params={key: value for key, value in params.items() if value is not None},
    )
    if as_json:
        typer.echo(json.dumps(kpis, indent=2, sort_keys=True))
        return
    _out.print(table(kpis), soft_wrap=True)


def table(kpis: dict[str, Any]) -> Table:
    window = kpis["window"]
    scope = ", ".join(
        f"{name} {window[name]}" for name in ("source", "severity") if window.get(name)
    )
    title = f"Incident KPIs {window['since'][:16]} → {window['until'][:16]} UTC"
    result = Table(title=f"{title} ({scope})" if scope else title, title_justify="left")
    result.add_column("KPI")
    result.add_column("Value", justify="right")
    result.add_column("Detail")
    result.add_row("Incidents", str(kpis["incidents"]), f"{kpis['alerts']} alerts")
    for name, key in (("MTTT (time to triage)", "timeToTriage"), ("MTTR", "timeToResolve")):
        figures = kpis[key]
        result.add_row(
            name,
            duration(figures["meanSeconds"]),
            f"p50 {duration(figures['p50Seconds'])} · p90 {duration(figures['p90Seconds'])}"
            f" · {figures['count']} measured",
        )
    for name, key in (
        ("Auto-resolution rate", "autoResolutionRate"),
        ("Escalation rate", "escalationRate"),
        ("Escalation accuracy", "escalationAccuracy"),
        ("AI accuracy", "aiAccuracy"),
    ):
        rate = kpis[key]
        result.add_row(
            name, percent(rate["value"]), f"{rate['numerator']} of {rate['denominator']}"
        )
    result.add_row(
        "Investigations per incident",
        number(kpis["investigationsPerIncident"]),
        f"{kpis['investigations']} investigations",
    )
    llm = kpis["llm"]
    result.add_row(
        "LLM tokens per incident",
        number(llm["tokensPerIncident"]),
        f"{llm['inputTokens']} in · {llm['outputTokens']} out",
    )
    cost = llm["estimatedCostPerIncident"]
    unpriced = llm["unpricedModels"]
    result.add_row(
        "Est. cost per incident",
        f"{cost:.4f} {llm['currency']}" if cost is not None else "-",
        f"no price for {', '.join(unpriced)} (spec.kpis.prices)" if unpriced else "",
    )
    return result


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
