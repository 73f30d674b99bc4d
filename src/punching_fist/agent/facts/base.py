"""What every fact rule reads: the evidence's (command, output) pairs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

Observed = Sequence[tuple[str, str]]
"""(command, output) pairs, as the evidence gathered them."""


def log_lines(observed: Observed) -> Iterator[str]:
    """The lines of the application's own logs (``kubectl logs``), in the order read."""
    for command, output in observed:
        if command.startswith("logs "):
            yield from output.splitlines()
