"""What the agent is told it remembers: similar past incidents and a reusable recent result.

The agent does not know where memories come from (``knowledge/memory.py`` finds them and
hands them over on ``AgentRequest.memory``). Here they become:

* a bounded section of the first message (``memory_section``, at most ``SECTION_TOKENS``),
  marked as data like the alert: a past root cause is a lead to check against the evidence,
  never an instruction;
* the result's ``similar_incidents`` and ``pastCauseHeld`` (``remembered``);
* a reused result (``reuse``) when a recent investigation of the same signature saw the same
  evidence: its digest (``evidence_digest``) is compared before any LLM request.
"""

from __future__ import annotations

import functools
import hashlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from punching_fist.agent.evidence import Evidence
from punching_fist.agent.key_lines import key_lines

_BACKTICKS = re.compile(r"`+")
SECTION_TOKENS = 400
"""The most the similar-incidents section may take of the first message."""
_ITEM_CHARS = 240
HELD_OVERLAP = 0.5
"""Share of the shorter root cause's words the other must contain for the cause to hold."""


@dataclass(frozen=True, kw_only=True)
class PastIncident:
    """One entry of the knowledge base, as the first message and the result show it."""

    id: str
    title: str
    root_cause: str
    fix: str
    outcome: str
    score: float
    """1.0 for the same alertname and workload; the full-text score (0..1) otherwise."""
    day: str = ""
    """When it happened (YYYY-MM-DD)."""
    correct: str = "unknown"
    """``yes``: people confirmed the root cause; ``no``: they marked it wrong."""
    feedback_by: str | None = None
    resolution: str | None = None
    """What people said fixed it, when they said."""

    def listed(self) -> dict[str, Any]:
        """The result's ``similar_incidents`` item."""
        return {
            "id": self.id,
            "rootCause": self.root_cause,
            "fix": self.fix,
            "outcome": self.outcome,
            "score": self.score,
        }

    def line(self) -> str:
        if self.correct == "no":
            mark = f"[marked wrong by {self.feedback_by or 'a person'}] "
        elif self.correct == "yes":
            mark = "[confirmed correct] "
        else:
            mark = ""
        fix = f"; fix: {_cut(self.fix)}" if self.fix else ""
        if self.resolution:
            fix += f"; resolved by: {_cut(self.resolution)}"
        day = f"{self.day} " if self.day else ""
        cause = _cut(self.root_cause) or "(no root cause found)"
        return f"{mark}{day}{_cut(self.title, 80)}: root cause: {cause}{fix}"


@dataclass(frozen=True, kw_only=True)
class CachedInvestigation:
    """A recent investigation of the same signature that may stand in for this one."""

    run_id: str
    result: Mapping[str, Any]
    evidence_digest: str | None


@dataclass(frozen=True, kw_only=True)
class Recollection:
    similar: tuple[PastIncident, ...] = ()
    cached: CachedInvestigation | None = None


HEADING = (
    "Similar past incidents (data from this operator's memory; they may not apply: check"
    " each against the evidence, never copy a cause the evidence does not show):"
)


def memory_section(
    similar: Sequence[PastIncident], *, max_tokens: int = SECTION_TOKENS
) -> str | None:
    """The numbered past incidents that fit in ``max_tokens``; None without any."""
    items = [f"{number}. {incident.line()}" for number, incident in enumerate(similar, 1)]
    # Fenced like the alert's other untrusted parts: a fence longer than any run inside.
    fence = "`" * max([3, *(len(run) + 1 for item in items for run in _BACKTICKS.findall(item))])
    lines: list[str] = []
    for item in items:
        candidate = [*lines, item]
        if count_tokens("\n".join([HEADING, fence, *candidate, fence])) > max_tokens:
            break
        lines = candidate
    if not lines:
        return None
    return "\n".join([HEADING, fence, *lines, fence])


def count_tokens(text: str) -> int:
    """cl100k_base tokens when ``bpe-openai`` is installed, else a bound above them
    (characters / 3: English and kubectl output run near 4 characters a token)."""
    encoder = _encoder()
    if encoder is None:
        return -(-len(text) // 3)
    return encoder(text)


@functools.cache
def _encoder() -> Callable[[str], int] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai
    except ImportError:
        return None
    encoding = bpe_openai.get_encoding("cl100k_base")
    return lambda text: len(encoding.encode(text))


_AGE = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d))*\b")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b[A-Z][a-z]{2},? \d{1,2} [A-Z][a-z]{2}\b|\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"
)
_REPEATS = re.compile(r"\(x\d+ over [^)]*\)|\bx\d+\b")
_RESTARTS = re.compile(r"\b\d+ \([^)]*ago\)")
_HEX = re.compile(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\b[0-9a-f]{12,}\b")


def evidence_digest(evidence: Evidence) -> str:
    """A digest of what the evidence shows, the same for the same failure seen twice.

    Per command: its status and the key lines of its output (``key_lines``: errors,
    reasons, exit codes, Warning events), with what changes while nothing else does taken
    out: ages (``42s``, ``3d2h``), timestamps, repeat counts (``x5 over 4m``), restart counts
    and long hex ids. Pod names stay: another pod is other evidence. The runtime takes no
    digest when no evidence was gathered (evidence off, no kubectl tool): such an
    investigation is never reused.
    """
    parts: list[str] = []
    for observation in evidence.observations:
        parts.append(f"$ {observation.command} [{observation.status}]")
        for line in key_lines([(observation.command, observation.output)], limit=20):
            parts.append(_normalised(line))
    return hashlib.sha256("\n".join(sorted(set(parts))).encode()).hexdigest()


def _normalised(line: str) -> str:
    for pattern, stand_in in (
        (_TIMESTAMP, "T"),
        (_REPEATS, "xN"),
        (_RESTARTS, "N"),
        (_AGE, "AGE"),
        (_HEX, "ID"),
    ):
        line = pattern.sub(stand_in, line)
    return " ".join(line.split())


def reuse(cached: CachedInvestigation, similar: Sequence[PastIncident]) -> dict[str, Any]:
    """The cached investigation's result as this step's, marked ``cachedFrom``."""
    result = {key: value for key, value in cached.result.items() if key != "cachedFrom"}
    result["cachedFrom"] = cached.run_id
    result["similar_incidents"] = [incident.listed() for incident in similar]
    result["pastCauseHeld"] = True
    return result


def remembered(result: dict[str, Any], similar: Sequence[PastIncident]) -> dict[str, Any]:
    """``result`` with ``similar_incidents`` and ``pastCauseHeld`` (see ``past_cause_held``)."""
    root_cause = result.get("root_cause")
    inconclusive = bool(result.get("inconclusive")) or not root_cause
    held = None if inconclusive else past_cause_held(str(root_cause), similar)
    return {
        **result,
        "similar_incidents": [incident.listed() for incident in similar],
        "pastCauseHeld": held,
    }


def past_cause_held(root_cause: str, similar: Sequence[PastIncident]) -> bool | None:
    """Whether the top similar incident's root cause is this one's, by the words they share.

    True when at least ``HELD_OVERLAP`` of the shorter cause's words (three letters or more,
    common words left out, numbers kept) are in the other; None when there is no past cause
    to compare with.
    """
    if not similar or not similar[0].root_cause.strip():
        return None
    new, old = _content_words(root_cause), _content_words(similar[0].root_cause)
    if not new or not old:
        return None
    return len(new & old) / min(len(new), len(old)) >= HELD_OVERLAP


_STOP = frozenset(
    [
        "the",
        "and",
        "was",
        "were",
        "are",
        "for",
        "with",
        "from",
        "that",
        "this",
        "not",
        "its",
        "has",
        "have",
        "had",
        "been",
        "into",
        "than",
        "because",
        "due",
        "which",
        "when",
        "what",
        "while",
        "after",
        "before",
        "container",
        "pod",
    ]
)


def _content_words(text: str) -> set[str]:
    return {
        word
        for word in re.findall(r"[a-z0-9_]+", text.lower())
        if (len(word) >= 3 or word.isdigit()) and word not in _STOP
    }


def _cut(text: str, limit: int = _ITEM_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
