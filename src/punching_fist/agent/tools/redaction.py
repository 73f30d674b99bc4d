"""The last thing every tool does: redact known secrets, then cap what goes to the LLM.

Redaction comes first so a secret can never survive because the cap happened to cut it in
two. The values come from the shared ``SecretResolver``: every secret the operator resolved
(LLM keys, bearer tokens, values handed to scripts) is remembered there, whichever tool or
provider asked for it, so a script that echoes its environment or an endpoint that reflects
an ``Authorization`` header still cannot show a secret to the model, the audit trail or
the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from punching_fist.agent.tools.base import ToolContext, ToolOutput, cap_output
from punching_fist.agent.tools.process import describe_ending, run_argv
from punching_fist.secret_refs import SecretResolver
from punching_fist.spawner.client import StepSpawner


def finish_output(
    text: str,
    *,
    context: ToolContext,
    secrets: SecretResolver,
    exit_code: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> ToolOutput:
    """Build the ``ToolOutput`` the LLM sees: ``text`` redacted, then capped head and tail."""
    redacted = secrets.redact(text)
    capped, truncated = cap_output(redacted or "(no output)", context.output_limit)
    return ToolOutput(
        text=capped, exit_code=exit_code, truncated=truncated, details=dict(details or {})
    )


async def run_tool_process(
    argv: list[str],
    *,
    env: Mapping[str, str],
    context: ToolContext,
    secrets: SecretResolver,
    details: Mapping[str, Any],
    spawner: StepSpawner | None = None,
) -> ToolOutput:
    """Run a tool's process and hand its output back the way every tool does.

    The process gets the step's timeout; what it printed, plus a line on how it ended when
    it failed or timed out, is redacted and capped; ``details`` go to the audit trail.
    """
    result = await run_argv(
        argv,
        env=env,
        timeout_seconds=context.timeout_seconds,
        keep_bytes=max(64 * 1024, 4 * context.output_limit),
        spawner=spawner,
    )
    ending = describe_ending(result, context.timeout_seconds)
    return finish_output(
        "\n".join(part for part in (result.output.rstrip("\n"), ending) if part),
        context=context,
        secrets=secrets,
        exit_code=result.exit_code,
        details={
            **details,
            "duration_ms": round(result.duration_ms, 1),
            "timed_out": result.timed_out,
            "bytes": result.bytes_total,
        },
    )
