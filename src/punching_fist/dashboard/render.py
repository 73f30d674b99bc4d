"""Jinja2 pages of the dashboard, autoescaped: alert text and tool output are untrusted.

Templates and static files ship inside the package (``templates/``, ``static/``); nothing
is fetched from a CDN and nothing is built on the user's machine.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from punching_fist.dashboard import charts

NAV = [
    ("/ui/incidents", "Incidents"),
    ("/ui/runs", "Runs"),
    ("/ui/approvals", "Approvals"),
    ("/ui/kpis", "KPIs"),
    ("/ui/resources", "Resources"),
]
"""The pages in the header, in order."""
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _when(value: Any) -> str:
    """An ISO timestamp as ``2026-12-07 03:04:05 UTC``; anything else as it is."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: Any) -> str:
    return "n/a" if value is None else charts.seconds(float(value))


def _percent(value: Any) -> str:
    return "n/a" if value is None else charts.percent(float(value))


def _short(value: Any) -> str:
    return str(value)[:8]


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("punching_fist.dashboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["short"] = _short
    env.filters["seconds"] = _seconds
    env.filters["percent"] = _percent
    env.globals["nav"] = NAV
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


@cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """A file of ``static/`` and its content type; ``None`` for anything else."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        return None
    path = resources.files("punching_fist.dashboard").joinpath("static", name)
    if not path.is_file():
        return None
    return path.read_bytes(), STATIC_TYPES[suffix]
