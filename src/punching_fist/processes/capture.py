"""What a child printed: the first and last bytes of each stream, and how many in all.

A tool or step may print without bound; keeping a head and a tail (where errors and
summaries usually are) bounds the memory a run takes whatever the child does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Captured:
    """What one output stream printed: its first and last bytes and how many there were."""

    head: bytes
    tail: bytes
    total: int
    """Every byte printed, including those cut from the middle."""

    @property
    def cut(self) -> int:
        """How many bytes were dropped between ``head`` and ``tail``."""
        return self.total - len(self.head) - len(self.tail)

    def decode(self, marker: str = "\n[... {cut} bytes cut ...]\n") -> str:
        """The text, with ``marker`` (formatted with ``cut``) where the middle was dropped."""
        if not self.cut:
            # One decode, so a character split between head and tail stays whole.
            return (self.head + self.tail).decode("utf-8", errors="replace")
        return (
            self.head.decode("utf-8", errors="replace")
            + marker.format(cut=self.cut)
            + self.tail.decode("utf-8", errors="replace")
        )


class HeadTail:
    """Keeps the first and last ``keep`` bytes of a stream and counts the rest."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._keep - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self._keep:
                del self._tail[: len(self._tail) - self._keep]

    def captured(self) -> Captured:
        return Captured(head=bytes(self._head), tail=bytes(self._tail), total=self.total)
