"""The lines of gathered evidence that show what failed, picked out for a small model.

A 1.5B model reading three screens of ``describe`` and log output tends to answer from the
alert's own words. Repeating the few lines that carry a failure signal (an error, a reason,
an exit code, a Warning event) right before the question puts the evidence where it reads
last, so its findings quote them and its root cause follows from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from punching_fist.agent.evidence_text import shorten

_SIGNAL = re.compile(
    r"error|fatal|fail|panic|exception|refused|denied|unauthori[sz]ed|forbidden|timed? ?out"
    r"|not found|no such|missing|not set|invalid|cannot|can't|unable|killed|oom|exit code:? *[1-9]"
    r"|back-?off|unhealthy|insufficient|didn't match|untolerated|taint|unbound|notready"
    r"|evicted|errimage|crashloop|no endpoints|not ready|mismatch|nxdomain|i/o timeout"
    r"|does ?n[o']t exist|could ?n[o']t|traceback|segmentation fault|unexpected|unreachable"
    r"|expired|exceeded|no route to host|is required"
    r"|exit(?:ed)?(?: with)? (?:status|code):? *[1-9]",
    re.IGNORECASE,
)
_QUIET = re.compile(
    # Normal events, probe settings (their timeout= and failure=), the tool's own markers,
    # the tolerations every pod gets (``node.kubernetes.io/unreachable:NoExecute``).
    r"^\s*(Normal\b|\d+[smhd]\S*\s+Normal\b|(Liveness|Readiness|Startup):)"
    r"|^\$ kubectl |^\[exit code|^\(no output\)|^\(no logs"
    r"|node\.kubernetes\.io/(?:not-ready|unreachable):NoExecute op=Exists"
)
# Phrases with a signal word that report no failure: "0 Failed", DNS's NOERROR, no taints,
# the zone label "failure-domain...", a configured timeout.
_BENIGN = re.compile(
    r"\b0 Failed\b|NOERROR|Taints:\s+<none>|failure-domain\.\S+|\btimeout: \d+m?s\b",
    re.IGNORECASE,
)
_REASON_OK = re.compile(r"Reason:\s+(Completed|Started)\b")
_NUMBERS = re.compile(r"\d+")
# Signs every crash loop shows, whatever its cause: true, but they explain nothing. A line
# is generic when nothing that sounds like a failure is left once they are taken out (a
# pod's row in CrashLoopBackOff, "Reason: Error", a back-off event, "Exit Code: 1").
_GENERIC = re.compile(
    r"CrashLoopBackOff|Back-?off restarting failed container|\bBack-?off\b|Exit Code: 1\b"
    r"|Reason: Error\b|(?<=\s)Error(?=\s+\d)",
    re.IGNORECASE,
)
LINE_CHARS = 300
_SAME_ENDING = 60


def key_lines(observations: Iterable[tuple[str, str]], *, limit: int = 6) -> list[str]:
    """Up to ``limit`` distinct lines with a failure signal from (command, output) pairs.

    The application's own errors (from ``logs``) come first, then other specific signals
    (a reason, an exit code, a Warning event), and last the generic signs of a crash loop,
    each group in the order read: a model with room for four findings quotes the ones
    that explain. Lines that end alike, numbers aside (timestamps, counts, one event seen by
    two commands), count once; Normal events, probe settings and the tool's own markers are
    skipped.
    """
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for command, output in observations:
        for raw in output.splitlines():
            line = " ".join(raw.split())
            if not line or _QUIET.search(raw) or _REASON_OK.search(line):
                continue
            if not _SIGNAL.search(_BENIGN.sub(" ", line)):
                continue
            # The same event shows in `describe` and `get events` with other columns first:
            # the end of a line (numbers aside) says whether it was seen already.
            shape = _NUMBERS.sub("#", line)[-_SAME_ENDING:]
            if shape in seen:
                continue
            seen.add(shape)
            found.append((_rank(command, line), shorten(line, LINE_CHARS)))
    found.sort(key=lambda ranked: ranked[0])  # stable: reading order within a rank
    if any(rank < _GENERIC_RANK for rank, _ in found):
        # A line that says why makes the generic signs noise a small model quotes instead.
        found = [(rank, line) for rank, line in found if rank < _GENERIC_RANK]
    return [line for _, line in found[:limit]]


_GENERIC_RANK = 2


def _rank(command: str, line: str) -> int:
    if _generic(line):
        return _GENERIC_RANK
    return 0 if command.startswith("logs ") else 1


def _generic(line: str) -> bool:
    return _SIGNAL.search(_GENERIC.sub(" ", line)) is None


def say_why(lines: Sequence[str]) -> bool:
    """Whether any line says more than that something crash-loops: a reason, an error."""
    return any(not _generic(line) for line in lines)
