"""The lines of gathered evidence that show what failed, picked out for a small model.

A 1.5B model reading three screens of ``describe`` and log output tends to answer from the
alert's own words. Repeating the few lines that carry a failure signal (an error, a reason,
an exit code, a Warning event) right before the question puts the evidence where it reads
last, so its findings quote them and its root cause follows from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SIGNAL = re.compile(
    r"error|fatal|fail|panic|exception|refused|denied|unauthori[sz]ed|forbidden|timed? ?out"
    r"|not found|no such|missing|not set|invalid|cannot|can't|unable|killed|oom|exit code:? *[1-9]"
    r"|back-?off|unhealthy|insufficient|didn't match|untolerated|taint|unbound|notready"
    r"|evicted|errimage|crashloop|no endpoints|not ready|mismatch|nxdomain|i/o timeout",
    re.IGNORECASE,
)
_QUIET = re.compile(
    # Normal events, probe settings (their timeout= and failure=), the tool's own markers.
    r"^\s*(Normal\b|\d+[smhd]\S*\s+Normal\b|(Liveness|Readiness|Startup):)"
    r"|^\$ kubectl |^\[exit code|^\(no output\)"
)
_REASON_OK = re.compile(r"Reason:\s+(Completed|Started)\b")
_NUMBERS = re.compile(r"\d+")
LINE_CHARS = 200


def key_lines(outputs: Iterable[str], *, limit: int = 10) -> list[str]:
    """Up to ``limit`` distinct lines with a failure signal, in the order they appear.

    Lines that differ only in numbers (timestamps, counts) count once; Normal events and
    the tool's own markers are skipped.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for output in outputs:
        for raw in output.splitlines():
            line = " ".join(raw.split())
            if not line or _QUIET.search(raw) or _REASON_OK.search(line):
                continue
            if not _SIGNAL.search(line):
                continue
            shape = _NUMBERS.sub("#", line)
            if shape in seen:
                continue
            seen.add(shape)
            kept.append(line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…")
            if len(kept) == limit:
                return kept
    return kept
