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
from punching_fist.secret_refs import SecretResolver


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
