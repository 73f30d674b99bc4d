"""Cleaning and cutting kubectl output for a prompt: what the evidence block keeps.

Output is cleaned (no ANSI escapes or control characters, long lines cut), a failed
command is reduced to kubectl's first complaint, repeated log lines are collapsed, and an
output longer than its share keeps its head, its tail and, for ``describe``, the sections
that explain failures. Split from ``evidence`` so that module reads as targets, plans and
gathering.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n
_MAX_LINE = 300
_ENDING = re.compile(r"\[(?:exit code -?\d+|killed after [^\]]*)\]")  # the tool's last line
_ERROR_START = ("Error from server", "error:", "Error:")
_VOLATILE = re.compile(r"\b(?=[0-9a-f]*[0-9])[0-9a-f]{6,}\b|\d+")  # ids, times, counts
_LOG_SIGNAL = re.compile(
    r"error|exception|fatal|panic|fail|killed|oom|denied|refused|timed? ?out|unable|cannot",
    re.IGNORECASE,
)
_DESCRIBE_SECTIONS = (  # most telling first
    "Last State:",
    "State:",
    "Limits:",
    "Reason:",
    "Exit Code:",
    "Message:",
    "Events:",
    "Conditions:",
)


def plain(text: str) -> str:
    """No escape sequences or control characters."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n"))).rstrip("\n")


def clean(text: str) -> str:
    """``plain`` text with over-long lines shortened."""
    return "\n".join(shorten(line, _MAX_LINE) for line in plain(text).split("\n"))


def shorten(line: str, limit: int) -> str:
    """``line`` in at most ``limit`` characters, its middle dropped: a wrapped error
    (``pull failed: resolve failed: authorize failed: 401 Unauthorized``) ends with its
    cause, and a log line starts with when and where."""
    if len(line) <= limit:
        return line
    head = (limit - 1) * 2 // 5
    return line[:head] + "…" + line[len(line) - (limit - 1 - head) :]


# Fields of `describe` that never explain an incident: ids, the service-account token
# volume every pod mounts, address families. What can (probes, limits, node selectors,
# tolerations, conditions, events) stays.
_DESCRIBE_NOISE = re.compile(
    r"^\s*(Container ID|Image ID|Host Port|Priority|IP Family Policy|IP Families|QoS Class"
    r"|PodReadyToStartContainers|TokenExpirationSeconds|ConfigMapName|ConfigMapOptional"
    r"|DownwardAPI)\b"
    r"|/var/run/secrets/kubernetes\.io/serviceaccount from kube-api-access-"
    r"|^\s+node\.kubernetes\.io/(?:not-ready|unreachable):NoExecute op=Exists"
)
_DEFAULT_TOLERATION = re.compile(
    r"^(Tolerations:\s+)node\.kubernetes\.io/(?:not-ready|unreachable):NoExecute op=Exists.*"
)
_TOKEN_VOLUME = re.compile(r"^(\s*)kube-api-access-[a-z0-9]+:\s*$")


def quiet(command: str, lines: Sequence[str]) -> list[str]:
    """``describe`` output without the fields that never explain an incident."""
    if not command.startswith("describe "):
        return list(lines)
    kept: list[str] = []
    volume_indent: int | None = None
    for line in lines:
        depth = len(line) - len(line.lstrip())
        if volume_indent is not None:
            if line.strip() and depth > volume_indent:
                continue  # the token volume's own lines
            volume_indent = None
        if found := _TOKEN_VOLUME.match(line):
            volume_indent = len(found[1])
            continue
        if not _DESCRIBE_NOISE.search(line):
            # The tolerations every pod gets say nothing; a small model took "unreachable"
            # for a cause. The heading stays for the ones a workload adds.
            kept.append(_DEFAULT_TOLERATION.sub(r"\1(the defaults)", line))
    return kept


_EVENT_MESSAGE_CHARS = 60
_NORMAL_EVENTS_KEPT = 3
_TELLING_EVENT = re.compile(
    rf"\sWarning\s|{_LOG_SIGNAL.pattern}|unhealthy|probe|back-?off|evict|preempt",
    re.IGNORECASE,
)


def quiet_events(command: str, lines: Sequence[str]) -> list[str]:
    """``get events`` with its Warning rows and the Normal ones that sound like trouble
    (a kill for a failed probe), but only the last few routine ones (scheduled, pulled,
    started, scaled): a rollout's dozen of those costs a small model seconds and says
    nothing a failure needs."""
    if not command.startswith("get events") or len(lines) < 2:
        return list(lines)
    header, rows = lines[0], lines[1:]
    routine = [i for i, row in enumerate(rows) if not _TELLING_EVENT.search(row)]
    dropped = set(routine[:-_NORMAL_EVENTS_KEPT]) if len(routine) > _NORMAL_EVENTS_KEPT else set()
    kept = [row for i, row in enumerate(rows) if i not in dropped]
    if dropped:
        kept.insert(0, f"[… {len(dropped)} routine Normal events omitted …]")
    return [header, *kept]


def unrepeated(outputs: Sequence[tuple[str, list[str]]]) -> list[list[str]]:
    """Each output without what an earlier one already shows: ``logs --previous`` equal to
    the current logs, and ``get events`` rows that ``describe`` listed (same message)."""
    seen: dict[str, list[str]] = {}
    shown = ""
    result: list[list[str]] = []
    for command, lines in outputs:
        body = lines
        current = command.replace(" --previous", "")
        if command.startswith("logs ") and command != current and seen.get(current) == lines:
            body = ["(the same lines as the current logs above)"]
        elif command.startswith("get events") and len(lines) > 1 and "MESSAGE" in lines[0]:
            at = lines[0].index("MESSAGE")  # kubectl pads every cell to the header's columns
            rows = [
                line
                for line in lines[1:]
                if (message := " ".join(line[at:].split())[:_EVENT_MESSAGE_CHARS]) == ""
                or message not in shown
            ]
            body = [lines[0], *rows] if rows else ["(no events beyond those shown above)"]
        seen[command] = lines
        shown += "\n" + "\n".join(" ".join(line.split()) for line in lines)
        result.append(body)
    return result


def failed(command: str, text: str) -> bool:
    """The kubectl tool ends a failure with ``[exit code N]``; without it, kubectl's own
    error wording counts, except for logs, where an application may print the same words."""
    if _ENDING.fullmatch(text.rstrip().rpartition("\n")[2]):
        return True
    return not command.startswith("logs ") and text.lstrip().startswith(_ERROR_START)


def failure_line(text: str) -> str:
    """One line: kubectl's first complaint and how it ended (``... [exit code 1]``)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    ending = lines.pop() if lines and _ENDING.fullmatch(lines[-1]) else ""
    first = lines[0] if lines else ""
    return one_line(" ".join(part for part in (first, ending) if part))


def logs_before_failure(command: str, text: str) -> list[str] | None:
    """The log lines a failed ``logs`` printed before kubectl's errors, each error said
    plainly after them; None when it printed no log line (or is no ``logs``)."""
    if not command.startswith("logs "):
        return None
    printed: list[str] = []
    errors: list[str] = []
    for line in text.splitlines():
        if _ENDING.fullmatch(line.strip()):
            continue
        (errors if line.startswith(_ERROR_START) else printed).append(line)
    if not any(line.strip() for line in printed):
        return None
    return printed + [no_logs(error) or one_line(error) for error in errors]


_NO_PREVIOUS = re.compile(r"previous terminated container .* not found")
_WAITING = re.compile(r"is waiting to start: (.*?)(?: \[exit code -?\d+\])?$")


def no_logs(line: str) -> str | None:
    """What kubectl's "no logs" errors mean, said plainly.

    A small model reads "previous terminated container ... not found" as the incident's cause;
    it only means the container has not run before (it never started, or never restarted).
    """
    if _NO_PREVIOUS.search(line):
        return "(no logs: this container has no earlier run; it never started or never restarted)"
    if waiting := _WAITING.search(line):
        return f"(no logs: the container has not started; it is waiting: {waiting.group(1)})"
    return None


def one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def collapse(lines: Sequence[str], *, near: bool) -> list[str]:
    """Consecutive repeats as one line plus ``[repeated N times]``; with ``near``, lines that
    differ only in digits (timestamps, counters, ids) count as repeats."""
    out: list[str] = []
    previous: str | None = None
    count = 0

    def flush() -> None:
        if count > 1 and out[-1].strip():
            out[-1] += f"  [repeated {count} times]"

    for line in lines:
        key = _VOLATILE.sub("#", line) if near else line
        if key == previous:
            count += 1
            continue
        flush()
        out.append(line)
        previous, count = key, 1
    flush()
    return out


def priority(command: str, lines: Sequence[str]) -> list[int]:
    """Lines to keep first when cutting: for ``logs`` the ones that sound like trouble (the
    latest first); for ``describe`` the sections that explain a failure with their nested
    lines, most telling first."""
    if command.startswith("logs "):
        return [i for i in reversed(range(len(lines))) if _LOG_SIGNAL.search(lines[i])]
    if not command.startswith("describe "):
        return []
    sections: dict[str, list[int]] = {}
    current: list[int] | None = None
    indent = 0
    for index, line in enumerate(lines):
        depth = len(line) - len(line.lstrip())
        if current is not None and line.strip() and depth > indent:
            current.append(index)
            continue
        key = next((k for k in _DESCRIBE_SECTIONS if line.lstrip().startswith(k)), None)
        current = None if key is None else sections.setdefault(key, [])
        if current is not None:
            current.append(index)
            indent = depth
    order: list[int] = []
    for key in _DESCRIBE_SECTIONS:
        found = sections.get(key, [])
        if key == "Events:":  # its title and column headings, then the newest rows first
            rows = [i for i in reversed(found[2:]) if not lines[i].lstrip().startswith("---")]
            found = [*found[:2], *rows]
        order += found
    return order


def size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines) - (1 if lines else 0)


def _marker(omitted: int) -> str:
    return f"[… {omitted} line{'' if omitted == 1 else 's'} omitted …]"


def shares(sizes: Sequence[int], weights: Sequence[int], room: int) -> list[int]:
    """Split ``room`` by weight; what a small output does not need goes to the others."""
    given = [0] * len(sizes)
    open_ = set(range(len(sizes)))
    while open_:
        total = sum(weights[i] for i in open_)
        fits = [i for i in open_ if sizes[i] * total <= room * weights[i]]
        if not fits:
            for i in open_:
                given[i] = room * weights[i] // total
            break
        for i in fits:
            given[i] = sizes[i]
            room -= sizes[i]
            open_.remove(i)
    return given


def cut(lines: Sequence[str], limit: int, first: Collection[int] = ()) -> list[str]:
    """``lines`` within ``limit`` characters: ``first`` lines first, then head and tail
    alternately; each run of dropped lines becomes one ``[… N lines omitted …]`` marker."""
    if size(lines) <= limit:
        return list(lines)
    n = len(lines)
    marker_cost = len(_marker(n)) + 1
    chosen: set[int] = set()
    used, gaps = 0, 1

    def take(i: int) -> bool:
        nonlocal used, gaps
        left = i > 0 and i - 1 not in chosen
        right = i < n - 1 and i + 1 not in chosen
        new_gaps = gaps + (1 if left and right else -1 if not (left or right) else 0)
        cost = len(lines[i]) + 1
        if used + cost + new_gaps * marker_cost > limit:
            return False
        chosen.add(i)
        used, gaps = used + cost, new_gaps
        return True

    for i in first:
        take(i)
    head, tail = 0, n - 1
    head_open = tail_open = True
    while (head_open or tail_open) and head <= tail:
        if head_open:
            if head not in chosen and not take(head):
                head_open = False
            else:
                head += 1
        if tail_open and head <= tail:
            if tail not in chosen and not take(tail):
                tail_open = False
            else:
                tail -= 1
    out: list[str] = []
    omitted = 0
    for i, line in enumerate(lines):
        if i in chosen:
            if omitted:
                out.append(_marker(omitted))
            out.append(line)
            omitted = 0
        else:
            omitted += 1
    if omitted:
        out.append(_marker(omitted))
    return out if size(out) <= limit else []
