"""Each log line one bounded JSON object: exceptions as fields, long values cut.

A label of a megabyte, a step's whole output or a database error quoting its parameters
would otherwise become a line of that size, which log shippers split, drop or choke on; and a
traceback printed as text is many lines that are not JSON at all. Here every string longer
than ``STRING_LIMIT`` characters is cut with a note saying how much, exceptions become an
``exception`` field (type, message, frames without their local variables, which could hold
secrets), and a line still longer than ``LINE_LIMIT`` is rendered again with tighter cuts until
it fits.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

STRING_LIMIT = 4096
"""Characters kept of any string value (or key); the rest is replaced by a note."""
LINE_LIMIT = 8192
"""Characters of one rendered line, at most (JSON escapes non-ASCII, so also bytes)."""
_TIGHTER = ((1024, 32), (256, 8), (64, 4))
"""(string limit, items kept per list or object) for lines still over ``LINE_LIMIT``."""
_SCALARS = (str, int, float, bool, type(None))
_FIRST = ("event", "level", "timestamp", "logger")

structured_exceptions = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=20)
)
"""``exc_info`` → an ``exception`` field: a list of stacks (the exception, its causes)."""


def cut(value: Any, strings: int = STRING_LIMIT, items: int | None = None) -> Any:
    """``value`` as JSON data, strings cut at ``strings`` characters and, with ``items``, lists
    and objects to that many entries; what is cut is said in its place."""
    if isinstance(value, str):
        if len(value) <= strings:
            return value
        return f"{value[:strings]}…[{len(value) - strings} more characters cut]"
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        pairs = list(value.items())
        kept = pairs if items is None else pairs[:items]
        result = {_key(k, strings): cut(v, strings, items) for k, v in kept}
        if len(pairs) > len(kept):
            result["…"] = f"{len(pairs) - len(kept)} more entries cut"
        return result
    if isinstance(value, list | tuple | set | frozenset):
        entries = list(value)
        if items is None or len(entries) <= items:
            return [cut(v, strings, items) for v in entries]
        # The ends of a list say most: a traceback's outermost and innermost frames.
        head, tail = entries[: items // 2], entries[len(entries) - items // 2 :]
        note = f"…[{len(entries) - len(head) - len(tail)} more items cut]"
        return [
            *(cut(v, strings, items) for v in head),
            note,
            *(cut(v, strings, items) for v in tail),
        ]
    return cut(repr(value), strings, items)


def _key(key: Any, strings: int) -> str:
    text = key if isinstance(key, str) else str(key)
    return text if len(text) <= strings else f"{text[:strings]}…[cut]"


def _dumps(event: Any) -> str:
    return json.dumps(event, default=repr)


def render_bounded(_logger: Any, _method: str, event: dict[str, Any]) -> str:
    """structlog's last processor: the event as one JSON line of at most ``LINE_LIMIT``."""
    line = _dumps(cut(event))
    if len(line) <= LINE_LIMIT:
        return line
    for strings, items in _TIGHTER:
        smaller = cut(event, strings, items)
        smaller["truncated"] = True
        line = _dumps(smaller)
        if len(line) <= LINE_LIMIT:
            return line
    # Only the scalar fields (what happened, when, the ids), the first of them, cut short.
    first = {k: event[k] for k in _FIRST if k in event}
    scalars = {k: v for k, v in {**first, **event}.items() if isinstance(v, _SCALARS)}
    essentials = cut(scalars, 256, 16)
    essentials["truncated"] = True
    return _dumps(essentials)
