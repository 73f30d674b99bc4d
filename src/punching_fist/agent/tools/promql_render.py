"""Compact text for Prometheus query results, written for an LLM's context window.

An instant vector is one ``name{labels} value`` line per series. A range result (matrix)
is one summary line per series (points, min, max, last) and a few evenly spaced samples,
which shows a trend or a spike without hundreds of numbers. Series beyond a cap are
counted, with a hint on how to narrow the query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

MAX_INSTANT_SERIES = 40
MAX_RANGE_SERIES = 15
SAMPLES_PER_SERIES = 8
NO_DATA = "no series matched (check the metric name and label values)"
NARROW = "narrow the query with label matchers, topk(10, ...) or sum by (...)"


def render_result(data: Mapping[str, Any]) -> str:
    """Text for the ``data`` object of a successful ``/api/v1/query(_range)`` answer."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string") and isinstance(result, Sequence) and len(result) == 2:
        return f"{kind}: {_number(result[1])} at {_time(result[0])}"
    if kind not in ("vector", "matrix") or not isinstance(result, list):
        return f"unexpected result type {kind!r}"
    if not result:
        return NO_DATA
    if kind == "vector":
        lines = [f"{_series(item)} {_number(item['value'][1])}" for item in result]
        return _capped(lines, MAX_INSTANT_SERIES, at=_time(result[0]["value"][0]))
    return _capped([_range_series(item) for item in result], MAX_RANGE_SERIES)


def _capped(lines: list[str], limit: int, *, at: str | None = None) -> str:
    header = f"{len(lines)} series" + (f" at {at}" if at else "") + ":"
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"... {len(lines) - limit} more series not shown; {NARROW}")
    return "\n".join([header, *shown])


def _range_series(item: Mapping[str, Any]) -> str:
    points: list[tuple[float, str]] = [(float(t), v) for t, v in item.get("values", [])]
    if not points:
        return f"{_series(item)}: no points"
    numbers = [float(v) for _, v in points]
    finite = [n for n in numbers if math.isfinite(n)] or numbers
    summary = (
        f"{_series(item)}: {len(points)} points {_time(points[0][0])}..{_time(points[-1][0])}"
        f" min {_number(min(finite))} max {_number(max(finite))}"
        f" last {_number(points[-1][1])}"
    )
    picks = _evenly_spaced(len(points), SAMPLES_PER_SERIES)
    samples = " ".join(f"{_clock(points[i][0])}={_number(points[i][1])}" for i in picks)
    return f"{summary}\n  samples: {samples}"


def _evenly_spaced(count: int, wanted: int) -> list[int]:
    """Indices of ``wanted`` points spread over ``count``, always the first and last."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _series(item: Mapping[str, Any]) -> str:
    labels = dict(item.get("metric") or {})
    name = labels.pop("__name__", "")
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner or not name else name


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(value)
    return f"{number:.6g}"


def _time(stamp: Any) -> str:
    return datetime.fromtimestamp(float(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S")
