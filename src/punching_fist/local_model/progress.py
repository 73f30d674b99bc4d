"""How the installer reports progress, without knowing who listens (a terminal, a log, a test)."""

from __future__ import annotations

from typing import Protocol


class InstallProgress(Protocol):
    """Receives the installer's steps. Calls may come from a worker thread."""

    def begin(self, step: str, total: float | None = None) -> None:
        """A step starts; ``total`` is its size in the unit ``advance`` will use, if known."""

    def advance(self, amount: float) -> None:
        """The current step moved forward by ``amount``."""

    def finish(self, step: str, note: str) -> None:
        """The current step is over (done, or skipped with ``note`` saying why)."""


class SilentProgress:
    """Reports nothing; the default where nobody watches."""

    def begin(self, step: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float) -> None:
        return None

    def finish(self, step: str, note: str) -> None:
        return None
