"""The replay's timeline as text: alerts, steps with each tool call and its output, the
conclusion, and what every sink would have sent, as it would have sent it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from punching_fist.replay.run import ReplayResult

OUTPUT_LINES = 40
"""Lines of a tool's output shown; the JSON report has all that was stored."""


def timeline(result: ReplayResult) -> str:
    return "\n".join(_lines(result)) + "\n"


def _lines(result: ReplayResult) -> Iterator[str]:
    yield f"Replay of workflow {result.workflow!r} (source {result.source!r}): nothing was"
    yield "sent, nothing stored; agent tools were read-only."
    for index, alert in enumerate(result.alerts):
        outcome = alert.get("outcome")
        run = alert.get("runId") or "no run"
        yield f"alert {index}: {outcome} -> {run}"
        for error in alert.get("errors", []):
            yield f"  refused: {error}"
    for run in result.runs:
        yield ""
        error = f" ({run['error']})" if run["error"] else ""
        yield f"== run {run['id']}: {run['status']}{error}"
        events: dict[str | None, list[dict[str, Any]]] = {}
        for event in run["audit"]:
            events.setdefault(event.get("step_name"), []).append(event)
        for step in run["steps"]:
            yield f"-- step {step['name']} ({step['type']}): {step['status']}"
            if step.get("error"):
                yield f"   error: {step['error']}"
            for event in events.get(step["name"], []):
                yield from _event(event)
            yield from _result(step.get("result"))
        for delivery in run["deliveries"]:
            status = delivery["status"] + (f": {delivery['error']}" if delivery["error"] else "")
            yield f"-- sink {delivery['sink_name']} ({delivery['sink_type']}): {status}"
    yield ""
    yield "== what the sinks would have sent"
    if not result.requests and not result.stdout and not result.chained:
        yield "(nothing)"
    for request in result.requests:
        yield f"-- {request.sink}: {request.method} {request.path}"
        yield from _indented(_dump(request.body))
    if result.stdout:
        yield "-- stdout sinks:"
        yield from _indented(result.stdout.rstrip("\n"))
    for chained in result.chained:
        yield f"-- would start workflow {chained['workflow']!r} (chained; not started)"


def _event(event: dict[str, Any]) -> Iterator[str]:
    if event["kind"] == "llm":
        usage = event.get("usage") or {}
        tokens = usage.get("total_tokens") or usage.get("totalTokens") or ""
        yield f"   llm {event['name']}" + (f" ({tokens} tokens)" if tokens else "")
        return
    arguments = event.get("arguments") or {}
    call = arguments.get("command") or arguments.get("query") or arguments.get("url")
    shown = call if isinstance(call, str) else json.dumps(arguments, sort_keys=True)
    code = "" if event.get("exit_code") is None else f" exit {event['exit_code']}"
    yield f"   {event['kind']} {event['name']}: {shown}{code}"
    output = event.get("output") or ""
    lines = output.splitlines()
    for line in lines[:OUTPUT_LINES]:
        yield f"     | {line}"
    if len(lines) > OUTPUT_LINES:
        yield f"     | ... {len(lines) - OUTPUT_LINES} more lines (--json has them)"


def _result(result: Any) -> Iterator[str]:
    if not isinstance(result, dict):
        return
    if result.get("summary"):
        yield f"   conclusion: {result['summary']}"
        for key in ("root_cause", "confidence"):
            if result.get(key) is not None:
                yield f"   {key.replace('_', ' ')}: {result[key]}"
        for item in result.get("recommendations") or []:
            yield f"   recommends: {item}"
    elif "stdout" in result:
        yield from _indented(str(result.get("stdout") or "").rstrip("\n"))


def _dump(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)


def _indented(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield f"     {line}"
