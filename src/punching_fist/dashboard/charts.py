"""Charts as inline SVG, drawn on the server: no chart library, no script, nothing fetched.

A bar per period; a period without data has no bar and says so in its tooltip. Every label
goes through ``markupsafe.escape``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 600, 160, 48, 22, 10


@dataclass(frozen=True, kw_only=True)
class Point:
    label: str
    value: float | None


def seconds(value: float) -> str:
    """``95`` → ``1m 35s``: durations read as people say them."""
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{int(value // 60)}m {int(value % 60)}s"
    return f"{int(value // 3600)}h {int(value % 3600 // 60)}m"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def bars(points: Sequence[Point], *, title: str, shown: Callable[[float], str] = number) -> Markup:
    """A bar chart of ``points``, left to right."""
    values = [p.value for p in points if p.value is not None]
    top = max(values, default=0.0) or 1.0
    inner_w, inner_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = inner_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + inner_h}" x2="{WIDTH}" '
        f'y2="{PAD_TOP + inner_h}" stroke="#d0d5dd"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" font-size="10" '
        f'fill="#667085">{escape(shown(top))}</text>',
    ]
    label_every = max(1, len(points) // 8)
    for index, point in enumerate(points):
        x = PAD_LEFT + index * slot
        if point.value is not None:
            height = inner_h * point.value / top
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.15:.1f}" '
                f'y="{PAD_TOP + inner_h - height:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{max(height, 1):.1f}" fill="#175cd3">'
                f"<title>{escape(point.label)}: {escape(shown(point.value))}</title></rect>"
            )
        else:
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{PAD_TOP}" width="{slot * 0.7:.1f}" '
                f'height="{inner_h}" fill="none"><title>{escape(point.label)}: no data'
                "</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="10" fill="#667085">{escape(point.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
