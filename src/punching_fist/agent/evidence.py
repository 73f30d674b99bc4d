"""Evidence first: the standard read-only kubectl output for an alert's target, read before the
first LLM request, so the model starts from facts instead of spending requests to fetch them.

What to read is planned by ``evidence_plan`` (or listed by the workflow, checked at load by
``evidence_check``). ``gather`` runs each phase concurrently through ``run`` (the runtime's
guarded kubectl tool, which audits each call) within one time budget; ``Evidence.render``
makes the compact text block for the first message, cut by ``evidence_text``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from punching_fist.agent.evidence_plan import Plan
from punching_fist.agent.evidence_text import (
    clean,
    collapse,
    cut,
    failed,
    failure_line,
    logs_before_failure,
    no_logs,
    one_line,
    plain,
    priority,
    quiet,
    quiet_events,
    shares,
    size,
    unrepeated,
)
from punching_fist.errors import PunchingFistError

Status = Literal["ok", "failed", "error", "timed out", "skipped"]

DEFAULT_BUDGET_SECONDS = 15.0
DEFAULT_PER_COMMAND_CHARS = 4_000
DEFAULT_RENDER_CHARS = 2_700
"""~850 tokens: on two cores a small model reads ~65 prompt tokens a second, so each
thousand characters costs an investigation ~4 s; the key lines and facts are read from the
whole output, so what the cut drops is context, not the failure."""
MAX_FOLLOW_UP_PHASES = 2
"""Phases after the first (a service's pods, then one pod's ports)."""


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One command and what it printed (cleaned: no ANSI escapes, capped)."""

    command: str
    """As given to ``run``: a kubectl command line without the leading ``kubectl``."""
    output: str
    status: Status = "ok"
    """``failed``: kubectl exited non-zero; ``error``: ``run`` raised (refused, no binary);
    ``timed out``: cancelled at the deadline; ``skipped``: no time was left to start it."""
    tool: str = "kubectl"
    """The tool that ran it: ``kubectl``, or ``curl``/``promql`` for a runbook's reads."""
    full: str = ""
    """The whole output, escapes removed, lines uncut: what ``agent.facts`` reads."""


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What ``gather`` read, in plan order, phase one first."""

    observations: tuple[Observation, ...] = ()

    def render(self, max_chars: int = DEFAULT_RENDER_CHARS) -> str:
        """A compact block for the first message, at most ``max_chars`` characters.

        Each command is a ``$ kubectl ...`` header over its output; outputs share the room
        fairly (``describe`` counts double), and each is cut to its share keeping the head,
        the tail and, for ``describe``, the sections that explain failures.
        """
        if not self.observations:
            return ""
        headers = [f"$ {o.tool} {o.command}" for o in self.observations]
        bodies = unrepeated([(o.command, o.output.splitlines()) for o in self.observations])
        fixed = sum(len(h) + 1 for h in headers) + 2 * (len(headers) - 1)
        rooms = shares(
            [size(body) for body in bodies],
            [2 if o.command.startswith("describe ") else 1 for o in self.observations],
            max(max_chars - fixed, 0),
        )
        blocks = [
            "\n".join([header, *cut(body, share, priority(o.command, body))])
            for header, body, share, o in zip(
                headers, bodies, rooms, self.observations, strict=True
            )
        ]
        return "\n\n".join(blocks)[:max_chars]  # the slice only bites when headers alone overflow


Runner = Callable[[str], Awaitable[str]]
"""Runs one kubectl command line and returns what the agent's kubectl tool would show."""


async def gather(
    plan: Plan,
    run: Runner,
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    per_command_chars: int = DEFAULT_PER_COMMAND_CHARS,
) -> Evidence:
    """Run ``plan``: phase one concurrently, then its follow-ups phase by phase while time
    remains, all within ``budget_seconds``; commands still running at the deadline are
    cancelled.

    ``run`` raising a ``PunchingFistError`` (a refused command, a missing binary) is recorded
    as that command's ``error``; any other exception propagates.
    """
    deadline = asyncio.get_running_loop().time() + budget_seconds
    observed, outputs, in_time = await _run_phase(plan.commands, run, deadline, per_command_chars)
    done = set(plan.commands)
    for _ in range(MAX_FOLLOW_UP_PHASES):
        follow_up = tuple(command for command in plan.follow_up(outputs) if command not in done)
        if not follow_up:
            break
        if not in_time:  # the deadline cancelled part of a phase: nothing is left for more
            observed += _skipped(follow_up)
            break
        more, more_outputs, in_time = await _run_phase(follow_up, run, deadline, per_command_chars)
        observed += more
        outputs.update(more_outputs)
        done.update(follow_up)
    return Evidence(observations=observed)


async def _run_phase(
    commands: Sequence[str], run: Runner, deadline: float, per_command_chars: int
) -> tuple[tuple[Observation, ...], dict[str, str], bool]:
    """The observations, the full cleaned output of each command that succeeded, and
    whether every command finished before the deadline."""
    loop = asyncio.get_running_loop()
    if not commands or loop.time() >= deadline:
        return _skipped(commands), {}, not commands
    tasks = {command: asyncio.ensure_future(run(command)) for command in commands}
    try:
        await asyncio.wait(tasks.values(), timeout=deadline - loop.time())
    finally:  # at the deadline, or when the investigation itself is cancelled
        pending = [task for task in tasks.values() if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    observations, outputs = [], {}
    for command, task in tasks.items():
        if task.cancelled():
            text = "[timed out: still running when the evidence time budget ran out]"
            observations.append(Observation(command=command, output=text, status="timed out"))
        elif isinstance(error := task.exception(), PunchingFistError):
            text = f"[not run: {one_line(str(error))}]"
            observations.append(Observation(command=command, output=text, status="error"))
        elif error is not None:
            raise error
        else:
            whole = plain(task.result())
            text = clean(whole)
            if not failed(command, text):
                outputs[command] = text
            observations.append(replace(_observe(command, text, per_command_chars), full=whole))
    return tuple(observations), outputs, not pending


def _skipped(commands: Sequence[str]) -> tuple[Observation, ...]:
    text = "[not run: the evidence time budget was spent]"
    return tuple(Observation(command=c, output=text, status="skipped") for c in commands)


def _observe(command: str, text: str, limit: int) -> Observation:
    if failed(command, text):
        printed = logs_before_failure(command, text)
        if printed is None:
            line = failure_line(text)
            return Observation(command=command, output=no_logs(line) or line, status="failed")
        # `logs --all-containers` prints the containers that ran (a crash-looping init
        # container), then fails on one that has not started: their lines are the evidence.
        kept = cut(collapse(printed, near=True), limit, priority(command, printed))
        return Observation(command=command, output="\n".join(kept), status="failed")
    lines = quiet_events(command, quiet(command, text.splitlines()))
    lines = collapse(lines, near=command.startswith("logs "))
    kept = cut(lines, limit, priority(command, lines))
    return Observation(command=command, output="\n".join(kept) or "(no output)")
