"""Retrying the runner's store writes through a database outage.

A step that finished while the database was briefly away must be recorded, not run again:
the runner's writes wait the outage out. The run's lease keeper cancels the wait when the
outage outlasts the lease, so another worker can take the run over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from punching_fist.errors import StoreUnavailable

log = structlog.get_logger(__name__)


async def durably(
    write: Callable[[], Awaitable[object]], sleep: Callable[[float], Awaitable[None]]
) -> None:
    """Retry ``write`` the database did not take until it does (backoff 0.25 s to 5 s)."""
    pause = 0.25
    while True:
        try:
            await write()
            return
        except StoreUnavailable as exc:
            log.warning("database write failed; retrying", error=str(exc))
            await sleep(pause)
            pause = min(pause * 2, 5.0)
