"""Fetching a sink's credential from its secret reference, and nothing else.

A literal token in a Sink resource loads (the design's examples carry placeholders such as
``xoxb-secret``) but is refused here: a secret pasted into YAML ends up in Git, in
``kubectl get -o yaml`` and in the ``sinks`` spec we store, and a refusal at the first
delivery is the earliest point that does not break loading the examples.
"""

from __future__ import annotations

from punching_fist.errors import SecretResolutionError
from punching_fist.secret_refs import SecretResolver, is_reference


async def credential(secrets: SecretResolver, reference: str, *, field: str) -> str:
    """The secret behind ``reference``; ``field`` names the setting in error messages."""
    if not is_reference(reference):
        raise SecretResolutionError(
            f"{field} must be a secret reference such as env://NAME (or k8s://, vault://);"
            " literal credentials in resources are refused"
        )
    return await secrets.resolve(reference)
