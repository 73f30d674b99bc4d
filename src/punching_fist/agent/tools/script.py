"""Custom script tools: a workflow ``tools`` entry with a ``command`` becomes a tool.

.. code-block:: yaml

    tools:
      - name: debug-pod
        description: "Collect logs, events and resource use of one pod: <pod> <namespace>"
        command: /usr/local/bin/debug-pod.sh

The model passes its arguments as one line (``web-0 shop``). A single string is what small
models fill in reliably (they often get a JSON list wrong); it is split the way a shell
would split words (quotes group), but no shell runs: the words go to the executable as argv
after the command's own words, so ``;``, ``$(...)`` or ``|`` are just text.

Scripts are opaque to us, so ``check`` allows them unless the step asks for approval of
``script`` or of the tool by name (``rigConfig.safety.requireApproval``). They run with the
workflow's ``runtime.environment`` (secret references such as ``env://PROM_TOKEN`` resolved
at call time, so their values are redacted from the output), ``PATH``, and, when the
operator configured Kubernetes credentials, the step's ``KUBECONFIG``, so a script's own
kubectl calls carry the step's service account. Nothing else is inherited.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Mapping

from pydantic import BaseModel, Field

from punching_fist.agent.tools.base import (
    SafetyCheck,
    ToolContext,
    ToolOutput,
    ensure_permitted,
    parse_arguments,
)
from punching_fist.agent.tools.process import DEFAULT_PATH
from punching_fist.agent.tools.redaction import run_tool_process
from punching_fist.errors import ConfigurationError
from punching_fist.kube.credentials import KubeCredentials, MissingCredentials
from punching_fist.secret_refs import SecretResolver, is_reference
from punching_fist.spawner.client import StepSpawner


class ScriptArguments(BaseModel):
    """What the model passes: the script's arguments as one line."""

    arguments: str = Field(
        default="",
        description="The script's arguments on one line, e.g. `web-0 shop`; quotes group words.",
    )


class ScriptTool:
    """Runs one executable configured by the workflow, with the model's words as argv."""

    arguments: type[BaseModel] = ScriptArguments
    read_only = False
    """Opaque: a step with ``approvalRequired: true`` gates every call (see ``toolset``)."""

    def __init__(
        self,
        *,
        name: str,
        command: str,
        secrets: SecretResolver,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
        path: str = DEFAULT_PATH,
        credentials: KubeCredentials | None = None,
        spawner: StepSpawner | None = None,
    ) -> None:
        """``command`` is the executable and any fixed words (``/bin/debug.sh --brief``).

        Raises ``ConfigurationError`` when ``command`` cannot be split into words.
        """
        try:
            self._prefix = shlex.split(command)
        except ValueError as exc:
            raise ConfigurationError(f"tool {name!r}: command {command!r}: {exc}") from exc
        if not self._prefix:
            raise ConfigurationError(f"tool {name!r}: command is empty")
        self.name = name
        self.description = description or f"Run the {name} script ({self._prefix[0]})."
        self._secrets = secrets
        self._environment = dict(environment or {})
        self._path = path
        self._credentials = credentials
        self._spawner = spawner

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        """Allowed unless the workflow gates scripts (or this one); bad quoting is refused."""
        try:
            _split(parse_arguments(ScriptArguments, arguments).arguments)
        except ValueError as exc:
            return SafetyCheck(verdict="refuse", reason=str(exc), risk="low")
        gated = {"script", self.name} & set(context.require_approval_for)
        if gated:
            return SafetyCheck(
                verdict="approval",
                reason=f"the workflow requires approval for {sorted(gated)[0]}; scripts may"
                " change anything their credentials allow",
                risk="medium",
            )
        return SafetyCheck(verdict="allow", reason="scripts configured by the workflow may run")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        """Run the script; ``CommandRejected`` when ``check`` would not let it run now,
        ``ToolUnavailable`` when the executable cannot be started."""
        ensure_permitted(self.check(arguments, context), context)
        words = _split(parse_arguments(ScriptArguments, arguments).arguments)
        argv = [*self._prefix, *words]
        return await run_tool_process(
            argv,
            env=await self._child_environment(context),
            context=context,
            secrets=self._secrets,
            details={"argv": argv},
            spawner=self._spawner,
        )

    async def _child_environment(self, context: ToolContext) -> dict[str, str]:
        env = {"PATH": self._path}
        for key, value in self._environment.items():
            env[key] = await self._secrets.resolve(value) if is_reference(value) else value
        if self._credentials is not None:
            # A script that needs no cluster must still run when the step has no credentials.
            with contextlib.suppress(MissingCredentials):
                env |= {
                    "KUBERC": "off",
                    **self._credentials.agent_environment(
                        step=context.step_name,
                        service_account=context.service_account,
                        kubeconfig=context.kubeconfig,
                    ),
                }
        return env


def _split(line: str) -> list[str]:
    """The model's argument line as words; ``ValueError`` says what to fix."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ValueError(
            f"cannot split the arguments into words ({exc}); balance the quotes"
        ) from exc
    if any("\0" in word for word in words):
        raise ValueError("the arguments contain a NUL character")
    return words
