"""Garbage-collector settings for a long-running server.

A full collection walks every object in the process, and after startup that is hundreds of
thousands of them (SQLAlchemy, pydantic, FastAPI, kopf), none of which will ever be garbage.
Under load that walk stalled the intake for ~100 ms at a time (p99 108 ms against a p50 of
8 ms). Freezing what startup built takes it out of every later collection; a larger young
generation makes collections rarer on a path that allocates many short-lived objects.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000
"""Allocations between young collections (CPython's default: 700)."""


def freeze_startup_heap() -> None:
    """Collect once, then exempt everything alive now from future collections."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
